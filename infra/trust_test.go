package infra_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

// The program wires the trust boundaries to the resources they guard: the
// S3 endpoint lets through the stack's own bucket, and each secret's
// policy names the role of the hosts that read it and the operators (dev:
// the caller; prod: its CI roles, from Pulumi.prod.yaml).
func TestTrustBoundariesNameTheStacksOwnResources(t *testing.T) {
	for stack, operators := range map[string][]string{
		"dev":  {"arn:aws:iam::123456789012:user/mock"}, // the mocks' caller
		"prod": {"arn:aws:iam::123456789012:role/webstack-ci-prod-deploy", "arn:aws:iam::123456789012:role/webstack-ci-prod-preview"},
	} {
		trustBoundaries(t, stack, operators)
	}
}

func trustBoundaries(t *testing.T, stack string, operators []string) {
	rec := mustRunStack(t, stack)
	bucket := rec.Named("aws:s3/bucketV2:BucketV2", "store").Outputs["arn"].(string)
	var ep struct{ Statement []struct{ Resource []string } }
	if err := json.Unmarshal([]byte(rec.Named("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").Str("policy")), &ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.Statement) != 1 || !slices.Contains(ep.Statement[0].Resource, bucket+"/*") {
		t.Errorf("%s: S3 endpoint policy %+v does not name the stack's bucket %s", stack, ep, bucket)
	}
	for secret, role := range map[string]string{"database-credentials": "app-role", "lb-secrets": "lb-role"} {
		p := rec.Named("aws:secretsmanager/secretPolicy:SecretPolicy", secret)
		if p == nil {
			t.Errorf("%s has no resource policy", secret)
			continue
		}
		if p.Str("secretArn") != rec.Named(secretT, secret).Outputs["arn"] {
			t.Errorf("%s's policy is on %s", secret, p.Str("secretArn"))
		}
		var doc struct {
			Statement []struct {
				Condition map[string]map[string][]string
			}
		}
		if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
			t.Fatal(err)
		}
		readers := doc.Statement[0].Condition["ArnNotLike"]["aws:PrincipalArn"]
		want := append([]string{rec.Named(roleT, role).Outputs["arn"].(string)}, operators...)
		if !slices.Equal(readers, want) {
			t.Errorf("%s: %s readers = %v, want %v", stack, secret, readers, want)
		}
	}
}

// The operators a stack names replace the caller in the secrets' policies
// (deploy and preview may read) and the bucket's (deploy may write):
// every principal that runs the program sees the same policies, so CI's
// preview shows no change of them, and its preview --refresh may read the
// secrets.
func TestOperatorsReplaceTheCaller(t *testing.T) {
	const (
		deploy  = "arn:aws:iam::123456789012:role/webstack-ci-dev-deploy"
		preview = "arn:aws:iam::123456789012:role/webstack-ci-dev-preview"
	)
	opts := stackOptions(t, "dev", map[string]string{"webstack:operators": `{"deploy": ["role/webstack-ci-dev-deploy"], "preview": ["arn:aws:sts::123456789012:assumed-role/webstack-ci-dev-preview/gh-1"]}`})
	opts.DryRun = true // the mocks' caller is neither: only a preview may run
	rec, err := mocks.Run(infra.Program, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"database-credentials", "lb-secrets"} {
		var doc struct {
			Statement []struct {
				Condition map[string]map[string][]string
			}
		}
		if err := json.Unmarshal([]byte(rec.Named("aws:secretsmanager/secretPolicy:SecretPolicy", secret).Str("policy")), &doc); err != nil {
			t.Fatal(err)
		}
		readers := doc.Statement[0].Condition["ArnNotLike"]["aws:PrincipalArn"]
		if len(readers) != 4 || readers[1] != deploy || readers[2] != preview ||
			readers[3] != "arn:aws:iam::123456789012:role/*/webstack-ci-dev-preview" || slices.Contains(readers, "arn:aws:iam::123456789012:user/mock") {
			t.Errorf("%s readers = %v", secret, readers)
		}
	}
	if got := writeDeny(t, rec); len(got) != 1 || got[0] != deploy {
		t.Errorf("bucket writers = %v, want only %s", got, deploy)
	}
}
