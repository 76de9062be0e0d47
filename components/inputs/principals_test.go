package inputs_test

import (
	"slices"
	"testing"

	"github.com/foobar/webstack/components/inputs"
)

// aws:PrincipalArn names a role session's role (with any path, which the
// session ARN leaves out), and a user or root as itself.
func TestPrincipalArns(t *testing.T) {
	for caller, want := range map[string][]string{
		"arn:aws:sts::123456789012:assumed-role/Deploy/ci-42":                                   {"arn:aws:iam::123456789012:role/Deploy", "arn:aws:iam::123456789012:role/*/Deploy"},
		"arn:aws-cn:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com": {"arn:aws-cn:iam::123456789012:role/AWSReservedSSO_Admin_0123", "arn:aws-cn:iam::123456789012:role/*/AWSReservedSSO_Admin_0123"},
		"arn:aws:iam::123456789012:user/ops/alice":                                              {"arn:aws:iam::123456789012:user/ops/alice"},
		"arn:aws:iam::123456789012:root":                                                        {"arn:aws:iam::123456789012:root"},
	} {
		if got := inputs.PrincipalArns(caller); !slices.Equal(got, want) {
			t.Errorf("PrincipalArns(%s) = %v, want %v", caller, got, want)
		}
		if !inputs.PrincipalPattern.Match(caller) {
			t.Errorf("%s is not a valid principal", caller)
		}
	}
	for _, bad := range []string{"deploy", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/x y", "arn:aws:iam::1234:root", "arn:aws:sts::123456789012:something/else", "arn:aws-iso:iam::123456789012:root"} {
		if inputs.PrincipalPattern.Match(bad) {
			t.Errorf("%q accepted as a principal", bad)
		}
	}
	// Deduplicated, in order.
	got := inputs.PrincipalArnsOf([]string{"arn:aws:sts::123456789012:assumed-role/D/a", "arn:aws:sts::123456789012:assumed-role/D/b", "arn:aws:iam::123456789012:root"})
	if want := []string{"arn:aws:iam::123456789012:role/D", "arn:aws:iam::123456789012:role/*/D", "arn:aws:iam::123456789012:root"}; !slices.Equal(got, want) {
		t.Errorf("PrincipalArnsOf = %v, want %v", got, want)
	}
}

func TestExpandPrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"role/ci/deploy": "arn:aws-us-gov:iam::123456789012:role/ci/deploy",
		"user/alice":     "arn:aws-us-gov:iam::123456789012:user/alice",
		"root":           "arn:aws-us-gov:iam::123456789012:root",
		"arn:aws-us-gov:iam::210987654321:role/other": "arn:aws-us-gov:iam::210987654321:role/other",
		"deploy": "deploy", // not a relative form: left for validation to refuse
	} {
		if got := inputs.ExpandPrincipal(in, "aws-us-gov", "123456789012"); got != want {
			t.Errorf("ExpandPrincipal(%q) = %q, want %q", in, got, want)
		}
	}
}

// Covers is the bucket policy's ArnNotLike seen from the caller: who runs
// pulumi up must be covered, or its own objects are denied to it.
func TestCovers(t *testing.T) {
	session := "arn:aws:sts::123456789012:assumed-role/Deploy/ci-42"
	for _, c := range []struct {
		principals []string
		caller     string
		want       bool
	}{
		{[]string{"arn:aws:iam::123456789012:role/Deploy"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/ci/Deploy"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/De*"}, session, true},
		{[]string{"arn:aws:sts::123456789012:assumed-role/Deploy/other-session"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/OtherDeploy"}, session, false},
		{[]string{"arn:aws:iam::210987654321:role/Deploy"}, session, false},
		{[]string{"arn:aws:iam::123456789012:user/alice"}, "arn:aws:iam::123456789012:user/alice", true},
		{[]string{"arn:aws:iam::123456789012:user/alice"}, "arn:aws:iam::123456789012:user/bob", false},
	} {
		if got := inputs.Covers(c.principals, c.caller); got != c.want {
			t.Errorf("Covers(%v, %s) = %v; want %v", c.principals, c.caller, got, c.want)
		}
	}
}
