package main

// The database connection's TLS: where the CAs come from, that the shared
// tls.Config verifies chain and name, and, against a real PostgreSQL
// serving TLS (app/pgtest), that the application connects only to a server
// whose certificate chains to its CA and names the host it dialled.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/app/pgtest"
	"github.com/foobar/webstack/internal/devca"
	"github.com/foobar/webstack/internal/rdsca"
	"github.com/foobar/webstack/internal/testtools"
)

// TestLoadRootsEmbedded: without WEBSTACK_DB_CA_FILE the application
// trusts the pinned RDS bundle, and says so.
func TestLoadRootsEmbedded(t *testing.T) {
	pool, from, err := loadRoots("")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rdsca.Pool()
	if !pool.Equal(want) {
		t.Error("the default pool is not the embedded RDS bundle")
	}
	if !strings.Contains(from, "RDS") || !strings.Contains(from, rdsca.BundleSHA256[:16]) {
		t.Errorf("description %q does not name the bundle and its checksum", from)
	}
}

// TestLoadRootsBadFile: a CA file that is missing, empty or not CA
// certificates fails with an error naming the setting and the file; none
// falls back to the embedded bundle or to no verification.
func TestLoadRootsBadFile(t *testing.T) {
	dir := t.TempDir()
	ca, err := devca.New("test")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, serverKey, err := ca.Issue("db.example")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"empty.pem":  "",
		"junk.pem":   "not a certificate",
		"key.pem":    string(serverKey),
		"leaf.pem":   string(serverCert), // a server certificate is no CA
		"mixed.pem":  string(ca.CertPEM()) + string(serverKey),
		"binary.pem": "\x00\x01\x02",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range append([]string{"missing.pem"}, keys(files)...) {
		path := filepath.Join(dir, name)
		pool, _, err := loadRoots(path)
		if err == nil || pool != nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), envCAFile) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name %s and the file", name, err, envCAFile)
		}
	}
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, from, err := loadRoots(good); err != nil || from != good {
		t.Errorf("good file: %q, %v", from, err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRunRefusesBadCAFile: the whole program exits with an error naming
// the setting when the CA file is missing, before it listens.
func TestRunRefusesBadCAFile(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, filepath.Join(dir, "db.json"), validSecret)
	missing := filepath.Join(dir, "no-such-ca.pem")
	err := run(context.Background(), env(map[string]string{
		envListen:     "127.0.0.1:" + strconv.Itoa(closedPort(t)),
		envHostName:   "app-1",
		envSecretFile: filepath.Join(dir, "db.json"),
		envCAFile:     missing,
	}), newTestLogger(io.Discard))
	if err == nil || !strings.Contains(err.Error(), envCAFile) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("run = %v, want an error naming %s=%s", err, envCAFile, missing)
	}
}

// TestDBTLSConfigHandshake runs dbTLSConfig against a Go TLS server: the
// configuration both drivers use accepts only a certificate from its CA
// that names the host, and refuses TLS below 1.2.
func TestDBTLSConfigHandshake(t *testing.T) {
	ca, err := devca.New("handshake CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := devca.New("another CA")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CertPEM())

	serve := func(hosts []string, maxVersion uint16) string {
		certPEM, keyPEM, err := ca.Issue(hosts...)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	dial := func(addr, host string, roots *x509.CertPool) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, dbTLSConfig(host, roots))
		if err == nil {
			c.Close()
		}
		return err
	}
	byIP := serve([]string{"127.0.0.1", "db.example"}, 0)
	if err := dial(byIP, "127.0.0.1", roots); err != nil {
		t.Errorf("right CA, IP in the certificate: %v", err)
	}
	if err := dial(byIP, "db.example", roots); err != nil {
		t.Errorf("right CA, name in the certificate: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(byIP, "127.0.0.1", otherRoots); !errors.As(err, &unknown) {
		t.Errorf("another CA: err = %v, want an unknown authority error", err)
	}
	var wrongName x509.HostnameError
	if err := dial(byIP, "db.other.example", roots); !errors.As(err, &wrongName) {
		t.Errorf("another host name: err = %v, want a host name error", err)
	}
	old := serve([]string{"127.0.0.1"}, tls.VersionTLS11)
	if err := dial(old, "127.0.0.1", roots); err == nil {
		t.Error("connected with TLS 1.1")
	}
}

// pingWith opens a store for s trusting roots and pings it once.
func pingWith(t *testing.T, s Secret, roots *x509.CertPool) error {
	t.Helper()
	st, err := openStore(s, roots, newTestLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = st.Ping(ctx)
	if err != nil {
		assertNoPassword(t, "error", err.Error())
	}
	return err
}

// TestPostgresVerifiesServer: against a real PostgreSQL serving TLS, the
// application connects (over TLS) with the server's CA; refuses the server
// with another CA or with the embedded RDS bundle. (The host name and a
// server without TLS: the two tests below.)
func TestPostgresVerifiesServer(t *testing.T) {
	pg := pgtest.Start(t)
	roots := pgRoots(t, pg)

	t.Run("right CA", func(t *testing.T) {
		st, err := openStore(pgSecret(pg), roots, newTestLogger(io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ssl bool
		var version string
		if err := st.db.QueryRowContext(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil {
			t.Fatal(err)
		}
		if !ssl || (version != "TLSv1.2" && version != "TLSv1.3") {
			t.Errorf("connection ssl=%v version=%q, want TLS 1.2 or 1.3", ssl, version)
		}
	})
	t.Run("other CA", func(t *testing.T) {
		other, err := devca.New("not the server's CA")
		if err != nil {
			t.Fatal(err)
		}
		otherRoots := x509.NewCertPool()
		otherRoots.AppendCertsFromPEM(other.CertPEM())
		err = pingWith(t, pgSecret(pg), otherRoots)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("err = %v, want an unknown authority error", err)
		}
	})
	t.Run("RDS bundle", func(t *testing.T) {
		rds, _, err := loadRoots("")
		if err != nil {
			t.Fatal(err)
		}
		var unknown x509.UnknownAuthorityError
		if err := pingWith(t, pgSecret(pg), rds); !errors.As(err, &unknown) {
			t.Errorf("err = %v, want an unknown authority error", err)
		}
	})
}

// TestPostgresRefusesWrongName: a server whose certificate, from the
// trusted CA, names another host is refused with a host name error.
func TestPostgresRefusesWrongName(t *testing.T) {
	pg := pgtest.Start(t, pgtest.CertHosts("db.other.example"))
	var wrongName x509.HostnameError
	if err := pingWith(t, pgSecret(pg), pgRoots(t, pg)); !errors.As(err, &wrongName) {
		t.Errorf("err = %v, want a host name error", err)
	}
}

// TestPostgresRefusesPlaintextServer: a server without TLS is refused,
// not used unencrypted.
func TestPostgresRefusesPlaintextServer(t *testing.T) {
	pg := pgtest.Start(t, pgtest.NoTLS())
	if pg.CAFile() != "" {
		t.Fatal("a NoTLS server has a CA file")
	}
	ca, err := devca.New("any CA")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	err = pingWith(t, pgSecret(pg), roots)
	if err == nil || !strings.Contains(err.Error(), "refused TLS") {
		t.Errorf("err = %v, want the server's refusal of TLS", err)
	}
}

// TestAppProcessRefusesUntrustedDatabase: the real program, given a CA
// that did not sign the database's certificate, never becomes ready and
// logs the verification failure; given the right one, it does.
func TestAppProcessRefusesUntrustedDatabase(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "db.json")
	writeSecret(t, secretFile, pgSecretJSON(t, pg))
	other, err := devca.New("not the server's CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(otherFile, other.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}

	bad := startApp(t, envHostName+"=app-it", envSecretFile+"="+secretFile, envCAFile+"="+otherFile)
	bad.want("GET", "/readyz", 503, 3*time.Second)
	bad.want("GET", "/api/visit", 503, 3*time.Second)
	waitLog(t, bad.out, "certificate signed by unknown authority", 10*time.Second)
	assertNoPassword(t, "application output", bad.out.String())

	good := startApp(t, envHostName+"=app-it", envSecretFile+"="+secretFile, envCAFile+"="+pg.CAFile())
	good.waitStatus("/readyz", 200, 15*time.Second)
	good.newVisit()
}

// waitLog waits until out contains text.
func waitLog(t *testing.T, out *testtools.Buffer, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within %v:\n%s", text, within, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
