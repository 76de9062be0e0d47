package host_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestRoleCarriesThePermissionsBoundary(t *testing.T) {
	for _, tc := range []struct {
		boundary string
		want     any
		err      string
	}{
		{"", nil, ""},
		{"arn:aws:iam::123456789012:policy/webstack-ci-prod-boundary", "arn:aws:iam::123456789012:policy/webstack-ci-prod-boundary", ""},
		{"arn:aws-cn:iam::123456789012:policy/path/b", "arn:aws-cn:iam::123456789012:policy/path/b", ""},
		{"webstack-ci-prod-boundary", nil, `host role web-role: PermissionsBoundary "webstack-ci-prod-boundary" is not an IAM managed policy ARN`},
		{"arn:aws:iam::123456789012:role/admin", nil, "is not an IAM managed policy ARN"},
	} {
		rec, err := mocks.Run(func(ctx *pulumi.Context) error {
			_, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "web servers", PermissionsBoundary: tc.boundary})
			return err
		}, mocks.Options{Project: "webstack", Stack: "dev"})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.boundary, err, tc.err)
			}
			if rec.Count() != 0 {
				t.Errorf("%q: %d resources registered before the error", tc.boundary, rec.Count())
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.boundary, err)
		}
		roles := rec.OfType("aws:iam/role:Role")
		if len(roles) != 1 || roles[0].Inputs["permissionsBoundary"] != tc.want {
			t.Errorf("%q: roles %+v", tc.boundary, roles)
		}
	}
}
