package iampolicy_test

import (
	"slices"
	"testing"

	"github.com/foobar/webstack/components/internal/iampolicy"
)

// aws:PrincipalArn names a role session's role (with its path, which the
// session ARN leaves out), and a user or root as itself.
func TestPrincipalArns(t *testing.T) {
	for caller, want := range map[string][]string{
		"arn:aws-cn:sts::123456789012:assumed-role/deploy/ci-1": {"arn:aws-cn:iam::123456789012:role/deploy", "arn:aws-cn:iam::123456789012:role/*/deploy"},
		"arn:aws:iam::123456789012:user/ops/alice":              {"arn:aws:iam::123456789012:user/ops/alice"},
		"arn:aws:iam::123456789012:root":                        {"arn:aws:iam::123456789012:root"},
	} {
		if got := iampolicy.PrincipalArns(caller); !slices.Equal(got, want) {
			t.Errorf("PrincipalArns(%s) = %v, want %v", caller, got, want)
		}
		if !iampolicy.ValidPrincipal(caller) {
			t.Errorf("%s is not a valid principal", caller)
		}
	}
	for _, bad := range []string{"deploy", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/x y", "arn:aws:iam::1234:root"} {
		if iampolicy.ValidPrincipal(bad) {
			t.Errorf("%q accepted as a principal", bad)
		}
	}
}
