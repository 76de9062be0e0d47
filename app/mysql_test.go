package main

// The application against a real MariaDB serving TLS (app/mytest): it
// connects only to a server whose certificate chains to its CA and names
// the host it dialled, as for PostgreSQL.

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/app/mytest"
	"github.com/foobar/webstack/internal/devca"
)

func mySecret(my *mytest.Server) Secret {
	return Secret{Engine: engineMySQL, Host: my.Host(), Port: my.Port(), DBName: my.Database(),
		Username: my.User(), Password: Redacted(my.Password()), TLS: tlsVerifyFull}
}

func myRoots(t *testing.T, my *mytest.Server) *x509.CertPool {
	t.Helper()
	roots, _, err := loadRoots(my.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

// TestMySQLStoreVerified: with the server's CA the store works, over TLS
// 1.2 or later; with another CA or the RDS bundle it is refused.
func TestMySQLStoreVerified(t *testing.T) {
	my := mytest.Start(t)
	st, err := openStore(mySecret(my), myRoots(t, my), newTestLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := st.RecordVisit(ctx, "app-my")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.Visit(ctx, v.ID); err != nil || got.AppHost != "app-my" {
		t.Errorf("Visit = %+v, %v", got, err)
	}
	var name, version string
	if err := st.db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &version); err != nil {
		t.Fatal(err)
	}
	if version != "TLSv1.2" && version != "TLSv1.3" {
		t.Errorf("Ssl_version = %q, want TLS 1.2 or 1.3", version)
	}

	other, err := devca.New("not the server's CA")
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CertPEM())
	rds, _, err := loadRoots("")
	if err != nil {
		t.Fatal(err)
	}
	for name, roots := range map[string]*x509.CertPool{"other CA": otherRoots, "RDS bundle": rds} {
		var unknown x509.UnknownAuthorityError
		if err := pingWith(t, mySecret(my), roots); !errors.As(err, &unknown) {
			t.Errorf("%s: err = %v, want an unknown authority error", name, err)
		}
	}
}

// TestMySQLRefusesWrongName: a certificate from the trusted CA for another
// host is refused.
func TestMySQLRefusesWrongName(t *testing.T) {
	my := mytest.Start(t, mytest.CertHosts("db.other.example"))
	var wrongName x509.HostnameError
	if err := pingWith(t, mySecret(my), myRoots(t, my)); !errors.As(err, &wrongName) {
		t.Errorf("err = %v, want a host name error", err)
	}
}

// TestMySQLRefusesPlaintextServer: a server without TLS is refused, not
// used unencrypted.
func TestMySQLRefusesPlaintextServer(t *testing.T) {
	my := mytest.Start(t, mytest.NoTLS())
	err := pingWith(t, mySecret(my), myRoots(t, my))
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("err = %v, want a refusal for lack of TLS", err)
	}
}
