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

// TestNewReportsEveryBadArgumentAtOnce: a bucket without a name or a
// partition, or with writers that are no principal, is refused before
// anything is registered, naming each bad value.
func TestNewReportsEveryBadArgumentAtOnce(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := store.New(ctx, "store", store.Args{Writers: []string{
			"arn:aws:s3:::someone-elses-bucket", "deploy",
		}})
		return err
	}, mocks.Options{Project: "p", Stack: "s", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err == nil {
		t.Fatal("store.New accepted no name and two bad writers")
	}
	for _, want := range []string{"Args.Name is required", "Args.Partition is required", `Args.Writers[0] = "arn:aws:s3:::someone-elses-bucket": must be the ARN of an IAM role`, `Args.Writers[1] = "deploy": must be the ARN`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(rec.Resources()); n != 0 {
		t.Errorf("%d resources registered before the error", n)
	}
}
