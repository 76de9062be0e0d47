package devca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TestIssue: the server certificate chains to the CA, names exactly the
// given hosts (IPs as IP addresses), is for server authentication only,
// and its key matches.
func TestIssue(t *testing.T) {
	ca, err := New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("127.0.0.1", "db.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key does not match: %v", err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.IsCA || len(cert.IPAddresses) != 1 || len(cert.DNSNames) != 1 || cert.DNSNames[0] != "db.example" {
		t.Errorf("IsCA=%v IPs=%v names=%v", cert.IsCA, cert.IPAddresses, cert.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	for _, name := range []string{"127.0.0.1", "db.example"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("verified for a name it does not hold")
	}
	other, _ := New("other CA")
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CertPEM())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: "db.example"}); err == nil {
		t.Error("verified against another CA")
	}
	if _, _, err := ca.Issue(); err == nil {
		t.Error("Issue with no host succeeded")
	}
}
