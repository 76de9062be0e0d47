package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/devca"
	"github.com/foobar/webstack/internal/testtools"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

func secretFor(engine, tls string) Secret {
	return Secret{Engine: engine, Host: "db.internal", Port: 5432, DBName: "webstack", Username: "app", Password: testPassword, TLS: tls}
}

// testRoots is a pool of one throwaway CA, for configuration tests.
func testRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	ca, err := devca.New("webstack test CA")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	return pool
}

// wantVerifiedTLS fails unless cfg verifies the server's chain against
// roots and its name against host, at TLS 1.2 or later.
func wantVerifiedTLS(t *testing.T, cfg *tls.Config, host string, roots *x509.CertPool) {
	t.Helper()
	switch {
	case cfg == nil:
		t.Fatal("no TLS")
	case cfg.InsecureSkipVerify:
		t.Error("InsecureSkipVerify is set: the certificate is not verified")
	case cfg.VerifyPeerCertificate != nil || cfg.VerifyConnection != nil:
		t.Error("a custom verification callback replaces or extends the standard one")
	}
	if cfg.RootCAs != roots {
		t.Error("RootCAs is not the pool the application loaded")
	}
	if cfg.ServerName != host {
		t.Errorf("ServerName = %q, want the host %q", cfg.ServerName, host)
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		t.Errorf("MinVersion = %#x, want TLS 1.2 or later", cfg.MinVersion)
	}
}

// TestPostgresConfig: every secret the application accepts gives a
// verify-full connection, with no fallback to plaintext.
func TestPostgresConfig(t *testing.T) {
	roots := testRoots(t)
	for _, mode := range []string{"", "require", "verify-full"} {
		t.Run("tls="+mode, func(t *testing.T) {
			s, err := parseSecret([]byte(`{"engine":"postgres","host":"db.internal","dbname":"webstack","username":"app","password":"p","tls":"` + mode + `"}`))
			if err != nil {
				t.Fatal(err)
			}
			connString := postgresConnString(s)
			assertNoPassword(t, "connection string", connString)
			if !strings.Contains(connString, "sslmode=verify-full") {
				t.Errorf("connection string %q lacks sslmode=verify-full", connString)
			}
			cfg, err := postgresConfig(s, roots)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != "db.internal" || cfg.Port != 5432 || cfg.Database != "webstack" || cfg.User != "app" {
				t.Errorf("parsed %s:%d db=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
			}
			wantVerifiedTLS(t, cfg.TLSConfig, "db.internal", roots)
			if len(cfg.Fallbacks) != 0 {
				t.Errorf("%d fallbacks: verify-full must not fall back to another mode", len(cfg.Fallbacks))
			}
			if cfg.ConnectTimeout != connectTimeout {
				t.Errorf("ConnectTimeout = %v", cfg.ConnectTimeout)
			}
		})
	}
}

// TestPostgresConnStringQuoting: values cannot inject connection options
// (such as a weaker sslmode).
func TestPostgresConnStringQuoting(t *testing.T) {
	roots := testRoots(t)
	s := secretFor(enginePostgres, tlsVerifyFull)
	s.Host = `db' sslmode='disable`
	s.DBName = `we b\stack`
	s.Username = `o'brien`
	cfg, err := postgresConfig(s, roots)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != s.Host || cfg.Database != s.DBName || cfg.User != s.Username {
		t.Errorf("parsed host=%q db=%q user=%q", cfg.Host, cfg.Database, cfg.User)
	}
	wantVerifiedTLS(t, cfg.TLSConfig, s.Host, roots)
}

// TestMySQLConfig: the MySQL driver gets a tls.Config with the loaded
// roots, ServerName = the secret's host, no skip-verify and no plaintext
// fallback, for every tls value the secret may hold.
func TestMySQLConfig(t *testing.T) {
	roots := testRoots(t)
	for _, host := range []string{"webstack.abc123.us-east-1.rds.amazonaws.com", "fd00::5"} {
		for _, mode := range []string{"", tlsRequire, tlsVerifyFull} {
			t.Run(host+"/tls="+mode, func(t *testing.T) {
				s, err := parseSecret([]byte(`{"engine":"mysql","host":"` + host + `","dbname":"webstack","username":"app","password":"p","tls":"` + mode + `"}`))
				if err != nil {
					t.Fatal(err)
				}
				cfg := mysqlConfig(s, roots, slog.New(slog.DiscardHandler))
				wantVerifiedTLS(t, cfg.TLS, host, roots)
				if cfg.AllowFallbackToPlaintext {
					t.Error("AllowFallbackToPlaintext is set")
				}
				if cfg.Addr != net.JoinHostPort(host, "3306") || cfg.Net != "tcp" || cfg.DBName != "webstack" || cfg.User != "app" || cfg.Passwd != "p" {
					t.Errorf("got %s %s db=%s user=%s", cfg.Net, cfg.Addr, cfg.DBName, cfg.User)
				}
				if !cfg.ParseTime || cfg.Loc != time.UTC {
					t.Error("times must be parsed, in UTC")
				}
				if _, err := mysql.NewConnector(cfg); err != nil {
					t.Errorf("NewConnector: %v", err)
				}
				// The driver's own normalisation keeps our verification.
				wantVerifiedTLS(t, cfg.Clone().TLS, host, roots)
			})
		}
	}
}

// garbageServer accepts connections, answers nonsense and hangs up, to provoke
// protocol errors from the drivers.
func garbageServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("this is not a database\n"))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestDriverErrorsNeverContainPassword runs every store operation against
// no server and a nonsense server, for both engines, and checks the errors
// and the log output.
func TestDriverErrorsNeverContainPassword(t *testing.T) {
	ports := map[string]int{"closed port": closedPort(t), "garbage server": garbageServer(t)}
	for _, engine := range []string{enginePostgres, engineMySQL} {
		for target, port := range ports {
			t.Run(engine+"/"+target, func(t *testing.T) {
				var logs testtools.Buffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				s := secretFor(engine, tlsVerifyFull)
				s.Host, s.Port = "127.0.0.1", port
				st, err := openStore(s, testRoots(t), logger)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var errs []error
				errs = append(errs, st.Ping(ctx), st.EnsureSchema(ctx))
				_, err = st.RecordVisit(ctx, "h")
				errs = append(errs, err)
				_, err = st.Visit(ctx, 1)
				errs = append(errs, err)
				for _, err := range errs {
					if err == nil {
						t.Fatal("an operation succeeded without a database")
					}
					assertNoPassword(t, "error", err.Error())
					logger.Warn("database unavailable", "err", err)
				}
				// What the server logs for a failed schema set-up.
				srv := newServer(st, "h", logger)
				srv.queryTimeout = time.Second
				sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
				srv.ensureSchema(sctx)
				scancel()
				assertNoPassword(t, "log output", logs.String())
				t.Logf("example error: %v", errs[0])
			})
		}
	}
}

func TestRedact(t *testing.T) {
	st := &sqlStore{password: testPassword}
	base := fmt.Errorf("dial: password %s rejected: %w", testPassword, driver.ErrBadConn)
	err := st.redact(base)
	assertNoPassword(t, "redacted error", err.Error())
	if !errors.Is(err, driver.ErrBadConn) {
		t.Error("redaction broke errors.Is")
	}
	plain := errors.New("no secret here")
	if st.redact(plain) != plain {
		t.Error("an error without the password should pass through unchanged")
	}
	if st.redact(nil) != nil {
		t.Error("redact(nil) != nil")
	}
}

func TestTransient(t *testing.T) {
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name     string
		d        dialect
		err      error
		expected bool
	}{
		{"pg bad conn", postgresDialect, fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"pg unexpected EOF", postgresDialect, io.ErrUnexpectedEOF, true},
		{"pg net error", postgresDialect, opErr, true},
		{"pg admin shutdown", postgresDialect, &pgconn.PgError{Code: "57P01"}, true},
		{"pg connection exception", postgresDialect, &pgconn.PgError{Code: "08006"}, true},
		{"pg syntax error", postgresDialect, &pgconn.PgError{Code: "42601"}, false},
		{"pg unique violation", postgresDialect, &pgconn.PgError{Code: "23505"}, false},
		{"pg deadline", postgresDialect, context.DeadlineExceeded, false},
		{"mysql invalid conn", mysqlDialect, mysql.ErrInvalidConn, true},
		{"mysql server shutdown", mysqlDialect, &mysql.MySQLError{Number: 1053}, true},
		{"mysql access denied", mysqlDialect, &mysql.MySQLError{Number: 1045}, false},
		{"mysql net error", mysqlDialect, opErr, true},
	} {
		if got := tc.d.transient(tc.err); got != tc.expected {
			t.Errorf("%s: transient = %v, want %v", tc.name, got, tc.expected)
		}
	}
}

// TestRetryOnce: a broken connection is retried once; other errors and a
// dead context are not.
func TestRetryOnce(t *testing.T) {
	st := &sqlStore{d: postgresDialect}
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   bool
	}{
		{"ok", []error{nil}, 1, false},
		{"broken then ok", []error{driver.ErrBadConn, nil}, 2, false},
		{"broken twice", []error{driver.ErrBadConn, driver.ErrBadConn}, 2, true},
		{"sql error", []error{&pgconn.PgError{Code: "42P01"}}, 1, true},
	} {
		calls := 0
		err := st.retry(context.Background(), func() error {
			calls++
			return tc.errs[calls-1]
		})
		if calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_ = st.retry(ctx, func() error { calls++; return driver.ErrBadConn })
	if calls != 1 {
		t.Errorf("retried with a cancelled context (%d calls)", calls)
	}
}

func TestDialectsUseTheirPlaceholders(t *testing.T) {
	for _, q := range []string{postgresDialect.insert, postgresDialect.recent, postgresDialect.byID} {
		if !strings.Contains(q, "$1") {
			t.Errorf("postgres query without $1: %s", q)
		}
	}
	for _, q := range []string{mysqlDialect.insert, mysqlDialect.recent, mysqlDialect.byID} {
		if !strings.Contains(q, "?") {
			t.Errorf("mysql query without ?: %s", q)
		}
	}
	if !postgresDialect.insertReturnsID || mysqlDialect.insertReturnsID {
		t.Error("only PostgreSQL returns the id from the INSERT")
	}
}
