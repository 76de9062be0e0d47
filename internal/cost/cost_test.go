package cost_test

import (
	"math"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/cost"
	"github.com/foobar/webstack/internal/mocks"
)

func res(typ, name, id string, inputs map[string]any) *mocks.Resource {
	return &mocks.Resource{Type: typ, Name: name, ID: id, Custom: true, Inputs: inputs}
}

// stack is a small stack: a web group of 2 t4g.small (max 4) with 16 GB
// disks, a group whose type has no price, a Multi-AZ db.t4g.micro with
// 20 GB, one NAT gateway, two interface endpoints in three zones, two
// Elastic IPs and one secret.
func stack() []*mocks.Resource {
	return []*mocks.Resource{
		{Type: "pulumi:providers:aws", Name: "aws", Inputs: map[string]any{"region": "eu-west-1"}},
		res("aws:ec2/launchTemplate:LaunchTemplate", "web", "lt-web", map[string]any{
			"instanceType":        "t4g.small",
			"blockDeviceMappings": []any{map[string]any{"ebs": map[string]any{"volumeSize": 16.0}}},
		}),
		res("aws:autoscaling/group:Group", "web", "web", map[string]any{
			"launchTemplate": map[string]any{"id": "lt-web"}, "desiredCapacity": 2.0, "minSize": 2.0, "maxSize": 4.0,
		}),
		res("aws:ec2/launchTemplate:LaunchTemplate", "odd", "lt-odd", map[string]any{"instanceType": "x9.huge"}),
		res("aws:autoscaling/group:Group", "odd", "odd", map[string]any{
			"launchTemplate": map[string]any{"id": "lt-odd"}, "minSize": 1.0, "maxSize": 1.0,
		}),
		res("aws:rds/instance:Instance", "db", "db", map[string]any{
			"engine": "postgres", "instanceClass": "db.t4g.micro", "multiAz": true, "allocatedStorage": 20.0,
		}),
		res("aws:ec2/natGateway:NatGateway", "nat", "nat", nil),
		res("aws:ec2/vpcEndpoint:VpcEndpoint", "ec2", "e1", map[string]any{
			"vpcEndpointType": "Interface", "serviceName": "com.amazonaws.eu-west-1.ec2", "subnetIds": []any{"a", "b", "c"},
		}),
		res("aws:ec2/vpcEndpoint:VpcEndpoint", "sm", "e2", map[string]any{
			"vpcEndpointType": "Interface", "serviceName": "com.amazonaws.eu-west-1.secretsmanager", "subnetIds": []any{"a", "b", "c"},
		}),
		res("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", "e3", map[string]any{"vpcEndpointType": "Gateway", "serviceName": "com.amazonaws.eu-west-1.s3"}),
		res("aws:ec2/eip:Eip", "site", "eip1", nil),
		res("aws:ec2/eip:Eip", "nat", "eip2", nil),
		res("aws:secretsmanager/secret:Secret", "db", "s1", nil),
	}
}

func TestEstimate(t *testing.T) {
	e := cost.Of(stack())
	want := map[string][2]float64{ // driver → monthly, at max
		"web hosts":             {2 * (0.0168*730 + 16*0.08), 4 * (0.0168*730 + 16*0.08)},
		"odd hosts":             {0, 0}, // unpriced
		"database":              {2 * (0.016*730 + 20*0.115), 2 * (0.016*730 + 20*0.115)},
		"NAT gateways":          {0.045 * 730, 0.045 * 730},
		"interface endpoints":   {6 * 0.01 * 730, 6 * 0.01 * 730}, // gateway endpoints are free
		"public IPv4 addresses": {2 * 0.005 * 730, 2 * 0.005 * 730},
		"secrets":               {0.40, 0.40},
	}
	got := map[string]cost.Line{}
	for _, l := range e.Lines {
		got[l.Driver] = l
	}
	var sum, sumMax float64
	for driver, w := range want {
		l, ok := got[driver]
		if !ok {
			t.Errorf("no line for %s in %+v", driver, e.Lines)
			continue
		}
		if math.Abs(l.Monthly-w[0]) > 1e-9 || math.Abs(l.Max-w[1]) > 1e-9 {
			t.Errorf("%s: %.4f (at max %.4f), want %.4f (%.4f)", driver, l.Monthly, l.Max, w[0], w[1])
		}
		sum, sumMax = sum+w[0], sumMax+w[1]
	}
	if got["odd hosts"].Unpriced == "" {
		t.Error("a type without a price must say so, not count as free")
	}
	if m, x := e.Total(); math.Abs(m-sum) > 1e-9 || math.Abs(x-sumMax) > 1e-9 {
		t.Errorf("total %.4f (at max %.4f), want %.4f (%.4f)", m, x, sum, sumMax)
	}
	text := e.Render()
	for _, s := range []string{
		"web hosts ", "2 × t4g.small (min 2, max 4), 16 GB gp3 each", "27.09", "54.18",
		"x9.huge", "?", "postgres db.t4g.micro Multi-AZ, 20 GB", "2 in 6 zone-placements (ec2, secretsmanager)",
		"this stack runs in eu-west-1", "data out to the internet", "usage",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("the table lacks %q:\n%s", s, text)
		}
	}
}
