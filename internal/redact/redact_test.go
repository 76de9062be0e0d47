package redact_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/redact"
)

const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"

func TestSecretsAreNamedButNeverShown(t *testing.T) {
	for _, c := range []struct{ key, value string }{
		{"webstack:loadBalancer.certificateSecret", pem},                       // a PEM pasted where a secret's name belongs
		{"webstack:tags.note", "x " + pem},                                     // a PEM anywhere
		{"webstack:database.password", "hunter2"},                              // any password, weak or not
		{"webstack:database.masterPassword", "Tr0ub4dor&3"},                    // ...whatever its key's case
		{"webstack:app.apiToken", "abc"},                                       // tokens
		{"webstack:app.secretKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, // high-entropy value of a *key
	} {
		got := redact.Value(c.key, c.value, false, true)
		if strings.Contains(got, strings.TrimSpace(c.value)) || strings.Contains(got, "MIIE") || !strings.HasPrefix(got, "(hidden: ") {
			t.Errorf("%s: rendered %q", c.key, got)
		}
	}
	// The value of a secret config key, whatever it is.
	if got := redact.Value("webstack:dns", `{"domain":"foobar.com"}`, true, false); strings.Contains(got, "foobar") {
		t.Errorf("secret config value rendered %q", got)
	}
}

func TestOrdinaryValuesAreShown(t *testing.T) {
	for key, value := range map[string]string{
		"webstack:loadBalancer.certificateSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:site/pem-AbCdEf",
		"webstack:tags.keyOwner":                  "platform-team",
		"webstack:network.cidr":                   "10.0.0.0/33",
	} {
		if got := redact.Value(key, value, false, true); got != `"`+value+`"` {
			t.Errorf("%s = %q rendered %s", key, value, got)
		}
	}
}

func TestLongValuesAreCut(t *testing.T) {
	long := strings.Repeat("é", 5000) // 10 000 bytes, 2-byte runes
	got := redact.Value("webstack:dns.domain", long, false, true)
	if len(got) > redact.MaxLen+20 || !strings.HasSuffix(got, "…(10000 bytes)") {
		t.Errorf("rendered %d bytes: %.120s", len(got), got)
	}
	if !strings.HasPrefix(got, `"éé`) || strings.Contains(got, "\\x") {
		t.Errorf("cut inside a rune: %.60s", got)
	}
	if got := redact.Value("k", strings.Repeat("a", redact.MaxLen), false, false); len(got) != redact.MaxLen {
		t.Errorf("a value of MaxLen bytes was cut: %s", got)
	}
}
