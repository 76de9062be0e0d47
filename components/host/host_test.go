package host_test

import (
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestRoleHasSessionManagerAndNoMore(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "web servers"})
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	att := rec.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
	if len(att) != 1 || att[0].Str("policyArn") != host.SSMManagedInstanceCore {
		t.Errorf("attachments = %v", att)
	}
	if n := len(rec.OfType("aws:iam/rolePolicy:RolePolicy")); n != 0 {
		t.Errorf("%d inline policies without being asked", n)
	}
	if n := len(rec.OfType("aws:iam/instanceProfile:InstanceProfile")); n != 1 {
		t.Errorf("%d instance profiles", n)
	}
}
