// Package mytest runs a throwaway MariaDB server for tests, one per Start
// call, serving TLS only (require_secure_transport, like RDS for MySQL
// with the stack's parameter group) with a certificate from a CA made for
// that server alone (internal/devca).
//
//	my := mytest.Start(t)                        // certificate for 127.0.0.1 and localhost
//	my := mytest.Start(t, mytest.CertHosts("x")) // a certificate for another name
//	my := mytest.Start(t, mytest.NoTLS())        // plain TCP only
//	my.CAFile()                                  // the CA to verify against
//
// The programs are mariadb-install-db and mariadbd from the PATH or
// /usr/sbin (Debian package mariadb-server). When they are missing the
// test is skipped, or fails when WEBSTACK_REQUIRE_TOOLS=1 (see
// internal/testtools).
//
// The server listens on 127.0.0.1 on a free port only (its Unix socket is
// in its temporary directory). The user "webstack" with a random password
// may connect from 127.0.0.1 to the database "webstack". The server is
// killed if the test process dies (Pdeathsig), and t.Cleanup stops it and
// removes its directory. As root it runs as root (mariadbd --user=root): it
// is a throwaway test server that reaches nothing but its own directory.
package mytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/devca"
	"github.com/foobar/webstack/internal/testtools"
)

// The fixed names of every server.
const (
	Host     = "127.0.0.1"
	User     = "webstack"
	Database = "webstack"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is a running MariaDB server owned by one test.
type Server struct {
	dir      string
	port     int
	password string
	caFile   string
}

// Option changes how Start sets the server up.
type Option func(*options)

type options struct {
	tls       bool
	certHosts []string
}

// CertHosts gives the server's certificate these names (DNS names or IP
// addresses) instead of 127.0.0.1 and localhost.
func CertHosts(hosts ...string) Option { return func(o *options) { o.certHosts = hosts } }

// NoTLS makes a server without TLS (no certificate, plain TCP allowed).
func NoTLS() Option { return func(o *options) { o.tls = false } }

// Start initialises a data directory, starts the server and returns when
// it accepts connections on its socket.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{tls: true, certHosts: []string{Host, "localhost"}}
	for _, opt := range opts {
		opt(&o)
	}
	installDB := find(t, "mariadb-install-db")
	mariadbd := find(t, "mariadbd")
	s := &Server{dir: t.TempDir(), password: randomHex(t, 16)}
	s.port = freePort(t)

	ca, err := devca.New("mytest CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue(o.certHosts...)
	if err != nil {
		t.Fatal(err)
	}
	s.caFile = s.path("ca.pem")
	init := fmt.Sprintf("CREATE DATABASE %[1]s;\nCREATE USER '%[2]s'@'127.0.0.1' IDENTIFIED BY '%[3]s';\nGRANT ALL ON %[1]s.* TO '%[2]s'@'127.0.0.1';\n",
		Database, User, s.password)
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM(), "server.crt": cert, "server.key": key, "init.sql": []byte(init)} {
		if err := os.WriteFile(s.path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	userArgs := []string{}
	if os.Geteuid() == 0 {
		userArgs = []string{"--user=root"}
	}
	install := exec.Command(installDB, append([]string{"--no-defaults", "--datadir=" + s.path("data"),
		"--auth-root-authentication-method=socket", "--skip-test-db"}, userArgs...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mytest: mariadb-install-db: %v\n%s", err, out)
	}

	args := append([]string{"--no-defaults",
		"--datadir=" + s.path("data"),
		"--socket=" + s.path("mysqld.sock"),
		"--pid-file=" + s.path("mysqld.pid"),
		"--log-error=" + s.path("error.log"),
		"--bind-address=" + Host,
		"--port=" + strconv.Itoa(s.port),
		"--init-file=" + s.path("init.sql"),
		"--skip-log-bin",
		"--innodb-buffer-pool-size=16M",
	}, userArgs...)
	if o.tls {
		args = append(args, "--ssl-cert="+s.path("server.crt"), "--ssl-key="+s.path("server.key"),
			"--require-secure-transport=ON")
	} else {
		args = append(args, "--skip-ssl")
	}
	cmd := exec.Command(mariadbd, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("mytest: starting mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitReady(s.port, s.path("mysqld.sock"), exited); err != nil {
		t.Fatalf("mytest: %v\n%s", err, s.Log())
	}
	t.Logf("mytest: MariaDB on %s:%d, data in %s", Host, s.port, s.dir)
	return s
}

// Host is the address the server listens on; Port its TCP port.
func (s *Server) Host() string { return Host }
func (s *Server) Port() int    { return s.port }

// User, Password and Database are what a client connects with.
func (s *Server) User() string     { return User }
func (s *Server) Password() string { return s.password }
func (s *Server) Database() string { return Database }

// CAFile is the PEM file of the CA that signed the server's certificate
// (with NoTLS, a CA that signed nothing the server uses).
func (s *Server) CAFile() string { return s.caFile }

// Log returns the server's error log, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.path("error.log"))
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	return string(b)
}

func (s *Server) path(name string) string { return filepath.Join(s.dir, name) }

// waitReady polls until the server's socket exists and its TCP port
// accepts connections (the init file has run by then), or it exits.
func waitReady(port int, socket string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("mariadbd exited while starting")
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(Host, strconv.Itoa(port)))
			cancel()
			if err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("mariadbd did not accept connections within %v", startTimeout)
}

// find locates a MariaDB program in the PATH or /usr/sbin.
func find(t testing.TB, program string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	return testtools.NeedGlob(t, "/usr/sbin/"+program, "mariadb-server")
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatalf("mytest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("mytest: %v", err)
	}
	return hex.EncodeToString(b)
}
