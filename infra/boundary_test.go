package infra_test

import (
	"testing"

	"github.com/foobar/webstack/internal/mocks"
)

// webstack:permissionsBoundary reaches every IAM role the program creates
// (each tier's hosts', the flow logs'): the deploy role of
// scripts/bootstrap-ci-roles.sh may create roles only with it, so a role
// without it would fail the deploy, and one with another would be a hole.
func TestPermissionsBoundaryOnEveryRole(t *testing.T) {
	boundary := "arn:aws:iam::" + mocks.AccountID + ":policy/webstack-ci-prod-boundary"
	for _, tc := range []struct {
		name, stack string
		override    map[string]string
		want        any
	}{
		{"set", "prod", map[string]string{"webstack:permissionsBoundary": boundary}, boundary},
		{"unset", "prod", nil, nil},
		{"empty", "dev", map[string]string{"webstack:permissionsBoundary": ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := runStack(t, tc.stack, tc.override)
			if err != nil {
				t.Fatal(err)
			}
			roles := rec.OfType("aws:iam/role:Role")
			// One per tier (load balancers, web, app), the flow logs' and
			// the database's enhanced monitoring's.
			if len(roles) != 5 {
				t.Errorf("%d roles, want 5: update this test with the new role", len(roles))
			}
			for _, r := range roles {
				if got := r.Inputs["permissionsBoundary"]; got != tc.want {
					t.Errorf("role %s: permissionsBoundary %v, want %v", r.Name, got, tc.want)
				}
			}
		})
	}
}
