package rdsca

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBundlePinned: the committed file matches the pin, and Pool loads it.
// Editing global-bundle.pem without updating BundleSHA256 fails here.
func TestBundlePinned(t *testing.T) {
	file, err := os.ReadFile(BundleFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	if got := hex.EncodeToString(sum[:]); got != BundleSHA256 {
		t.Fatalf("%s has SHA-256 %s, BundleSHA256 pins %s", BundleFile, got, BundleSHA256)
	}
	if _, err := Pool(); err != nil {
		t.Fatal(err)
	}
	certs, err := parseCerts(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 115 {
		t.Errorf("%d certificates, want the 115 of the pinned edition", len(certs))
	}
	for _, c := range certs {
		if !strings.HasPrefix(c.Subject.CommonName, "Amazon RDS ") || c.Subject.Organization[0] != "Amazon Web Services, Inc." {
			t.Errorf("unexpected certificate in the bundle: %s", c.Subject)
		}
	}
}

// TestPinMismatchRefused: one changed byte makes the pin check fail and
// the message names the file and both checksums.
func TestPinMismatchRefused(t *testing.T) {
	changed := Bundle()
	changed[len(changed)-2] ^= 1
	err := checkPin(changed, BundleSHA256)
	if err == nil || !strings.Contains(err.Error(), BundleFile) || !strings.Contains(err.Error(), BundleSHA256) {
		t.Fatalf("err = %v", err)
	}
	if checkPin(bundle, BundleSHA256) != nil {
		t.Fatal("the embedded bundle fails its own pin")
	}
}

func TestParsePEMRejects(t *testing.T) {
	one := strings.SplitAfter(string(bundle), "-----END CERTIFICATE-----\n")[0]
	for name, tc := range map[string]struct{ data, want string }{
		"empty":       {"", "no PEM certificate found"},
		"not PEM":     {"hello", "not a PEM certificate"},
		"private key": {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", `"PRIVATE KEY"`},
		"garbage DER": {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM block 1"},
		"trailing":    {one + "junk", "not a PEM certificate"},
	} {
		_, err := ParsePEM([]byte(tc.data), "/etc/x.pem")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/etc/x.pem") {
			t.Errorf("%s: err = %v, want it to name the file and say %q", name, err, tc.want)
		}
	}
	if _, err := ParsePEM([]byte(one), "x"); err != nil {
		t.Errorf("one certificate: %v", err)
	}
}

// TestStackRegionsHaveRoot: the root of CertIdentifier is in the bundle for
// the region of every committed stack (a stack in a region the pinned
// edition predates would fail verification on every connection).
func TestStackRegionsHaveRoot(t *testing.T) {
	if !HasRoot(CertIdentifier, "us-east-1") || HasRoot(CertIdentifier, "xx-nowhere-1") || HasRoot("rds-ca-bogus", "us-east-1") {
		t.Fatal("HasRoot does not tell present from absent")
	}
	files, _ := filepath.Glob("../../Pulumi.*.yaml")
	if len(files) == 0 {
		t.Fatal("no stack files found")
	}
	re := regexp.MustCompile(`(?m)^\s*aws:region:\s*(\S+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no aws:region", f)
			continue
		}
		if !HasRoot(CertIdentifier, string(m[1])) {
			t.Errorf("%s: region %s has no %s root in %s", f, m[1], CertIdentifier, BundleFile)
		}
	}
}
