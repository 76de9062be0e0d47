package host_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The role lets Session Manager in and nothing more: no managed policy
// (AmazonSSMManagedInstanceCore lets a host read every SSM parameter of
// the account), one inline statement with exactly the documented
// Session Manager actions.
func TestRoleHasSessionManagerAndNoMore(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "web servers"})
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if att := rec.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"); len(att) != 0 {
		t.Errorf("managed policy attachments = %v, want none", att)
	}
	inline := rec.OfType("aws:iam/rolePolicy:RolePolicy")
	if len(inline) != 1 {
		t.Fatalf("%d inline policies, want only Session Manager's", len(inline))
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Action    []string
			Resource  []string
			Condition map[string]any
		}
	}
	if err := json.Unmarshal([]byte(inline[0].Str("policy")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("statements = %+v, want one", doc.Statement)
	}
	st := doc.Statement[0]
	want := []string{
		"ssm:UpdateInstanceInformation",
		"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
		"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
	}
	got := slices.Clone(st.Action)
	slices.Sort(got)
	if st.Effect != "Allow" || !slices.Equal(got, want) {
		t.Errorf("statement = %s %v, want Allow %v", st.Effect, st.Action, want)
	}
	for _, a := range st.Action {
		for _, banned := range []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:*", "*", "ec2messages:*", "ssm:SendCommand"} {
			if a == banned {
				t.Errorf("host role grants %s", a)
			}
		}
	}
	if n := len(rec.OfType("aws:iam/instanceProfile:InstanceProfile")); n != 1 {
		t.Errorf("%d instance profiles", n)
	}
}
