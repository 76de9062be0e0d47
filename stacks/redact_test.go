package stacks_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const privateKey = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu
-----END PRIVATE KEY-----`

// problemsOf loads settings that must be refused and returns the error's text.
func problemsOf(t *testing.T, values map[string]string) string {
	t.Helper()
	_, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(values))
	if err == nil {
		t.Fatalf("%v: accepted", values)
	}
	return err.Error()
}

// A private key pasted where the certificate's secret name belongs, or
// into an unknown setting, is named but never printed.
func TestPastedPrivateKeyIsNamedNotPrinted(t *testing.T) {
	quoted := strings.ReplaceAll(privateKey, "\n", `\n`)
	for key, values := range map[string]map[string]string{
		"webstack:loadBalancer.certificateSecret": {"loadBalancer": `{"certificateSecret": "` + quoted + `"}`},
		"webstack:loadBalancer.certificate":       {"loadBalancer": `{"certificate": "` + quoted + `"}`},
		"webstack:tags.pem":                       {"tags": `{"pem": "` + quoted + `"}`},
	} {
		msg := problemsOf(t, values)
		if !strings.Contains(msg, key+" = (hidden: ") {
			t.Errorf("error does not name %s as hidden:\n%s", key, msg)
		}
		for _, line := range strings.Split(privateKey, "\n")[1:3] {
			if strings.Contains(msg, line[:20]) {
				t.Errorf("%s: error prints the key:\n%s", key, msg)
			}
		}
	}
}

// A password pasted into a setting (there is none: the database's is
// generated) is named, not printed, however weak.
func TestPastedPasswordIsNamedNotPrinted(t *testing.T) {
	for _, pw := range []string{"hunter2", "Zq8#vL2!pX9@wK4$"} {
		msg := problemsOf(t, map[string]string{"database": `{"password": "` + pw + `"}`})
		if !strings.Contains(msg, "webstack:database.password = (hidden: ") || strings.Contains(msg, pw) {
			t.Errorf("password %q: %s", pw, msg)
		}
	}
}

// A 10 kB value is cut to its first bytes and its length.
func TestLongValuesAreCut(t *testing.T) {
	long := strings.Repeat("a", 10_000) + ".com"
	msg := problemsOf(t, map[string]string{"dns": `{"domain": "` + long + `"}`})
	if len(msg) > 1000 || !strings.Contains(msg, "…(10004 bytes)") || !strings.Contains(msg, "webstack:dns.domain") {
		t.Errorf("%d-byte error: %.300s", len(msg), msg)
	}
	// The same for a long unknown field's name.
	msg = problemsOf(t, map[string]string{"web": `{"` + strings.Repeat("x", 5000) + `": 1}`})
	if len(msg) > 1000 || !strings.Contains(msg, "…(5000 bytes)") {
		t.Errorf("%d-byte error: %.300s", len(msg), msg)
	}
}

// The value of a config key set with --secret is never printed, whatever
// it looks like; and no setting is a secret, so it is refused whole,
// never decoded (pulumi up would decrypt it, the offline plan could not).
func TestSecretConfigValuesAreNeverPrinted(t *testing.T) {
	_, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := stacks.Load(ctx)
		return err
	}, mocks.Options{
		Project: "webstack", Stack: "dev",
		Config:  map[string]string{"aws:region": "us-east-1", "webstack:dns": `{"domain": "internal-name-nobody-should-see"}`},
		Secrets: []string{"webstack:dns"},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, "webstack:dns = (hidden: the value of a secret config key") || !strings.Contains(msg, "is set with --secret") || strings.Contains(msg, "nobody-should-see") {
		t.Errorf("error: %s", msg)
	}
}

// Certificate secrets may be named by ARN in every partition AWS has,
// and by nothing else that looks like an ARN.
func TestCertificateSecretARNsInEveryPartition(t *testing.T) {
	for _, p := range []string{"aws", "aws-cn", "aws-us-gov"} {
		arn := "arn:" + p + ":secretsmanager:us-east-1:123456789012:secret:site/pem-AbCdEf"
		if _, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{"loadBalancer": `{"certificateSecret": "` + arn + `"}`})); err != nil {
			t.Errorf("%s refused: %v", arn, err)
		}
	}
	msg := problemsOf(t, map[string]string{"loadBalancer": `{"certificateSecret": "arn:aws-mars:secretsmanager:us-east-1:123456789012:secret:x"}`})
	if !strings.Contains(msg, "webstack:loadBalancer.certificateSecret") {
		t.Errorf("error: %s", msg)
	}
}

// operators takes IAM principals of the supported partitions, or the
// stack-relative forms, each problem named by its list and index.
func TestOperators(t *testing.T) {
	ok := `{"deploy": ["role/webstack-ci-dev-deploy", "arn:aws-us-gov:iam::123456789012:role/ops/break-glass"], "preview": ["arn:aws:iam::123456789012:role/ci/*", "root"]}`
	s, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{"operators": ok}))
	if err != nil || len(s.Operators.Deploy) != 2 || len(s.Operators.Preview) != 2 {
		t.Fatalf("%v, %+v", err, s)
	}
	msg := problemsOf(t, map[string]string{"operators": `{"deploy": ["role/ok", "deployer"], "preview": ["arn:aws-mars:iam::123456789012:root", "arn:aws:s3:::bucket"]}`})
	for _, want := range []string{
		`webstack:operators.deploy[1] = "deployer": must be the ARN of an IAM role`,
		"webstack:operators.preview[0]", "webstack:operators.preview[1]", "or role/<path/><name>, user/<name> or root in the stack's account",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "deploy[0]") {
		t.Errorf("a valid principal refused:\n%s", msg)
	}
}
