package mocks_test

import (
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The offline answers the settings' lookups get (the unit tests' and the
// engine test's): instance types' architectures as EC2 reports them, and
// no answer for an instance type or endpoint service that does not exist.
func TestOfflineLookupsOfInstanceTypesAndEndpointServices(t *testing.T) {
	c := mocks.NewCloud(mocks.CloudOptions{Region: "us-east-1"})
	for typ, want := range map[string]string{"t4g.small": "arm64", "m7g.large": "arm64", "a1.medium": "arm64", "t3.micro": "x86_64", "g4dn.xlarge": "x86_64", "mac2.metal": "arm64_mac", "mac1.metal": "x86_64_mac"} {
		out, err := c.Invoke("aws:ec2/getInstanceType:getInstanceType", resource.NewPropertyMapFromMap(map[string]any{"instanceType": typ}))
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if got := out["supportedArchitectures"].ArrayValue(); len(got) != 1 || got[0].StringValue() != want {
			t.Errorf("%s: architectures %v, want [%s]", typ, got, want)
		}
	}
	for _, bad := range []string{"t4g.huge", "tg4.small", "t4g"} {
		if _, err := c.Invoke("aws:ec2/getInstanceType:getInstanceType", resource.NewPropertyMapFromMap(map[string]any{"instanceType": bad})); err == nil {
			t.Errorf("instance type %s answered", bad)
		}
	}
	if _, err := c.Invoke("aws:ec2/getVpcEndpointService:getVpcEndpointService", resource.NewPropertyMapFromMap(map[string]any{"serviceName": "com.amazonaws.us-east-1.ssm"})); err != nil {
		t.Errorf("ssm: %v", err)
	}
	if _, err := c.Invoke("aws:ec2/getVpcEndpointService:getVpcEndpointService", resource.NewPropertyMapFromMap(map[string]any{"serviceName": "com.amazonaws.us-east-1.sms"})); err == nil {
		t.Error("endpoint service sms answered")
	}
}
