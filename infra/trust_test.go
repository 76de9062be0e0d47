package infra_test

import (
	"encoding/json"
	"slices"
	"testing"
)

// The program wires the trust boundaries to the resources they guard: the
// S3 endpoint lets through the stack's own bucket, and each secret's
// policy names the role of the hosts that read it and the deployer.
func TestTrustBoundariesNameTheStacksOwnResources(t *testing.T) {
	rec := mustRunStack(t, "prod")
	bucket := rec.Named("aws:s3/bucketV2:BucketV2", "store").Outputs["arn"].(string)
	var ep struct{ Statement []struct{ Resource []string } }
	if err := json.Unmarshal([]byte(rec.Named("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").Str("policy")), &ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.Statement) != 1 || !slices.Contains(ep.Statement[0].Resource, bucket+"/*") {
		t.Errorf("S3 endpoint policy %+v does not name the stack's bucket %s", ep, bucket)
	}
	const deployer = "arn:aws:iam::123456789012:user/mock" // the mocks' caller
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
		want := []string{rec.Named(roleT, role).Outputs["arn"].(string), deployer}
		if !slices.Equal(readers, want) {
			t.Errorf("%s readers = %v, want %v", secret, readers, want)
		}
	}
}

// Principals named in secrets.administrators replace the caller in the
// secrets' policies: every principal that runs the program sees the same
// policy (no diff between CI's preview and deploy roles).
func TestSecretAdministratorsReplaceTheCaller(t *testing.T) {
	const ci = "arn:aws:iam::123456789012:role/webstack-ci-deploy"
	rec, err := runStack(t, "dev", map[string]string{"webstack:secrets": `{"administrators": ["` + ci + `", "arn:aws:sts::123456789012:assumed-role/webstack-ci-preview/gh-1"]}`})
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
		if len(readers) != 4 || readers[1] != ci || readers[2] != "arn:aws:iam::123456789012:role/webstack-ci-preview" ||
			readers[3] != "arn:aws:iam::123456789012:role/*/webstack-ci-preview" || slices.Contains(readers, "arn:aws:iam::123456789012:user/mock") {
			t.Errorf("%s readers = %v", secret, readers)
		}
	}
}
