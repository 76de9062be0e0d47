package store_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type statement struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    []string
	Resource  []string
	Condition map[string]map[string]any
}

func policy(t *testing.T, doc string) map[string]statement {
	t.Helper()
	var p struct{ Statement []statement }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	out := map[string]statement{}
	for _, s := range p.Statement {
		out[s.Sid] = s
	}
	if len(out) != len(p.Statement) {
		t.Fatalf("statements without distinct Sids: %s", doc)
	}
	return out
}

// TestPolicyStatementByStatement reads the bucket policy as AWS would:
// TLS only for everyone; object writes and deletes denied to every
// principal but the writers; nothing else denied (so that a new deploying
// principal can still replace the policy, and the hosts can read).
func TestPolicyStatementByStatement(t *testing.T) {
	const arn = "arn:aws:s3:::b"
	writers := []string{"arn:aws:iam::123456789012:role/deploy", "arn:aws:iam::123456789012:role/*/deploy"}
	got := policy(t, store.Policy(arn, writers))
	if len(got) != 2 {
		t.Fatalf("%d statements; want 2: %v", len(got), got)
	}
	everyone := map[string]any{"AWS": "*"}

	tls := got["DenyInsecureTransport"]
	if tls.Effect != "Deny" || !reflect.DeepEqual(tls.Principal, everyone) || !reflect.DeepEqual(tls.Action, []string{"s3:*"}) ||
		!reflect.DeepEqual(tls.Resource, []string{arn, arn + "/*"}) ||
		!reflect.DeepEqual(tls.Condition, map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}}) {
		t.Errorf("DenyInsecureTransport = %+v", tls)
	}

	w := got["DenyObjectWritesButByWriters"]
	if w.Effect != "Deny" || !reflect.DeepEqual(w.Principal, everyone) || !reflect.DeepEqual(w.Resource, []string{arn + "/*"}) {
		t.Errorf("DenyObjectWritesButByWriters = %+v", w)
	}
	for _, a := range []string{"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:PutObjectRetention", "s3:PutObjectLegalHold"} {
		if !slices.Contains(w.Action, a) {
			t.Errorf("object writes: %s is not denied to non-writers", a)
		}
	}
	for _, a := range w.Action {
		if strings.Contains(a, "*") || strings.HasPrefix(a, "s3:Get") || strings.HasPrefix(a, "s3:List") || strings.Contains(a, "Bucket") && a != "s3:BypassGovernanceRetention" {
			t.Errorf("object writes: %s denies more than writing objects (a read, a wildcard, or the bucket's settings)", a)
		}
	}
	cond, _ := json.Marshal(w.Condition)
	if want := `{"ArnNotLike":{"aws:PrincipalArn":["arn:aws:iam::123456789012:role/deploy","arn:aws:iam::123456789012:role/*/deploy"]}}`; string(cond) != want {
		t.Errorf("object writes' condition = %s; want %s", cond, want)
	}
}

func TestWritersOf(t *testing.T) {
	for _, c := range []struct {
		caller string
		want   []string
	}{
		{"arn:aws:sts::123456789012:assumed-role/Deploy/ci-42", []string{"arn:aws:iam::123456789012:role/Deploy", "arn:aws:iam::123456789012:role/*/Deploy"}},
		{"arn:aws-cn:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com", []string{"arn:aws-cn:iam::123456789012:role/AWSReservedSSO_Admin_0123", "arn:aws-cn:iam::123456789012:role/*/AWSReservedSSO_Admin_0123"}},
		{"arn:aws:iam::123456789012:user/ops/alice", []string{"arn:aws:iam::123456789012:user/ops/alice"}},
		{"arn:aws:iam::123456789012:root", []string{"arn:aws:iam::123456789012:root"}},
	} {
		got, err := store.WritersOf(c.caller)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("WritersOf(%s) = %v, %v; want %v", c.caller, got, err, c.want)
		}
	}
	if _, err := store.WritersOf("arn:aws:sts::123456789012:something/else"); err == nil {
		t.Error("WritersOf accepted an ARN that is no principal")
	}
}

func TestCovers(t *testing.T) {
	session := "arn:aws:sts::123456789012:assumed-role/Deploy/ci-42"
	for _, c := range []struct {
		writers []string
		caller  string
		want    bool
	}{
		{[]string{"arn:aws:iam::123456789012:role/Deploy"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/ci/Deploy"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/De*"}, session, true},
		{[]string{"arn:aws:iam::123456789012:role/OtherDeploy"}, session, false},
		{[]string{"arn:aws:iam::210987654321:role/Deploy"}, session, false},
		{[]string{"arn:aws:iam::123456789012:user/alice"}, "arn:aws:iam::123456789012:user/alice", true},
		{[]string{"arn:aws:iam::123456789012:user/alice"}, "arn:aws:iam::123456789012:user/bob", false},
	} {
		if got := store.Covers(c.writers, c.caller); got != c.want {
			t.Errorf("Covers(%v, %s) = %v; want %v", c.writers, c.caller, got, c.want)
		}
	}
}

// TestNewReportsEveryBadArgumentAtOnce: a bucket without writers, or with
// a session ARN (which aws:PrincipalArn never holds) is refused before
// anything is registered, naming each bad value.
func TestNewReportsEveryBadArgumentAtOnce(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := store.New(ctx, "store", store.Args{Writers: []string{
			"arn:aws:sts::123456789012:assumed-role/Deploy/ci", "deploy",
		}})
		return err
	}, mocks.Options{Project: "p", Stack: "s", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err == nil {
		t.Fatal("store.New accepted no name and two bad writers")
	}
	for _, want := range []string{"Args.Name is required", `"arn:aws:sts::123456789012:assumed-role/Deploy/ci" is a role session`, `"deploy" must be the ARN`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(rec.Resources()); n != 0 {
		t.Errorf("%d resources registered before the error", n)
	}
}
