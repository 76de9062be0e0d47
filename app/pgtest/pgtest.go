// Package pgtest runs a throwaway PostgreSQL server for tests, one per
// Start call, that can be stopped and started again on the same data
// directory and port to test what clients do while the database is down.
//
//	pg := pgtest.Start(t)          // initdb, start, create the database
//	db, _ := sql.Open("pgx", pg.DSN())
//	pg.Stop()                      // fast shutdown (like pg_ctl stop -m fast)
//	pg.Start()                     // same data, same port
//	pg.Crash()                     // immediate shutdown: crash recovery on the next Start
//	pg.Pause(); pg.Resume()        // freeze it (SIGSTOP): connections hang, nothing answers
//
// The programs come from /usr/lib/postgresql/<version>/bin (Debian's
// layout, the newest version), or else from the PATH. When they are missing
// the test is skipped, or fails when WEBSTACK_REQUIRE_TOOLS=1 (see
// internal/testtools).
//
// # Running as root
//
// PostgreSQL refuses to run as root. When the test runs as root (CI
// containers), initdb and postgres run as the "postgres" system user
// through syscall.Credential in exec.Cmd.SysProcAttr: the server's directory
// is created with os.MkdirTemp under a world-traversable directory (the
// system temp directory, or /tmp), given mode 0700 and chowned to that user,
// so the user can reach it while nobody else can look inside. Without root,
// everything runs as the current user.
//
// # Server
//
// The server listens on 127.0.0.1 on a free port only (its Unix socket is in
// the private directory). It serves TLS (and, like a server without
// hostssl rules, plain TCP too) with a certificate for 127.0.0.1 and
// localhost signed by a CA made for that server alone (internal/devca):
// CAFile is the CA's certificate for clients to verify against. Options
// change the certificate's names (CertHosts) or switch TLS off (NoTLS).
//
// The bootstrap superuser is "webstack" with a random password (initdb
// --pwfile), and TCP connections must authenticate with scram-sha-256,
// like RDS; the database "webstack" is created on the first start. The server is killed if the test process dies
// (Pdeathsig), and t.Cleanup stops it and removes its directory.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/devca"
	"github.com/foobar/webstack/internal/testtools"
	"github.com/jackc/pgx/v5/pgconn"
)

// The fixed names of every server.
const (
	Host     = "127.0.0.1" // the only address the server listens on
	User     = "webstack"  // superuser with a password
	Database = "webstack"  // created on the first start
)

// How long the server may take to start and to stop.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is a running (or stopped) PostgreSQL server owned by one test.
// Its methods must be called from the test's goroutine: they fail the test
// with t.Fatal.
type Server struct {
	t        testing.TB
	bin      string // directory of initdb and postgres
	dir      string // private directory: data/, sock/, server.log
	port     int
	password string
	cred     *syscall.Credential // run as this user; nil: as ourselves
	tls      bool                // serves TLS (server.crt, server.key)
	caFile   string              // the CA's certificate (PEM); "" without TLS

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Option changes how Start sets the server up.
type Option func(*options)

type options struct {
	tls       bool
	certHosts []string
}

// NoTLS makes a server that speaks plain TCP only (ssl=off).
func NoTLS() Option { return func(o *options) { o.tls = false } }

// CertHosts gives the server's certificate these names (DNS names or IP
// addresses) instead of 127.0.0.1 and localhost: a certificate that does
// not name 127.0.0.1 tests a client's host name check.
func CertHosts(hosts ...string) Option {
	return func(o *options) { o.certHosts = hosts }
}

// Start initialises a new cluster in a temporary directory, starts it on a
// free port of 127.0.0.1, creates the database and returns when it accepts
// connections. t.Cleanup stops the server and removes its files.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{tls: true, certHosts: []string{Host, "localhost"}}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{t: t, bin: binDir(t), password: randomHex(t, 16), tls: o.tls}
	if os.Geteuid() == 0 {
		s.cred = postgresCredential(t)
	}
	s.dir = privateDir(t, s.cred)
	t.Cleanup(s.cleanup)

	s.initdb()
	if s.tls {
		s.makeCerts(o.certHosts)
	}
	s.port = freePort(t)
	s.Start()
	s.exec("postgres", "CREATE DATABASE "+Database)
	t.Logf("pgtest: PostgreSQL (%s) on %s:%d, data in %s", s.bin, Host, s.port, s.dir)
	return s
}

// Host is the address the server listens on.
func (s *Server) Host() string { return Host }

// Port is the server's TCP port; it stays the same across Stop and Start.
func (s *Server) Port() int { return s.port }

// User is the role to connect as.
func (s *Server) User() string { return User }

// Password is the role's password (random per server).
func (s *Server) Password() string { return s.password }

// Database is the database created for the test.
func (s *Server) Database() string { return Database }

// CAFile is the PEM file of the CA that signed the server's certificate
// ("" for a NoTLS server).
func (s *Server) CAFile() string { return s.caFile }

// DSN is a postgres:// URL for Database, without TLS.
func (s *Server) DSN() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, s.password),
		Host:     net.JoinHostPort(Host, strconv.Itoa(s.port)),
		Path:     "/" + Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Start starts the server on its data directory and port and waits until
// it accepts authenticated connections. The server must not be running.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	if s.runningLocked() {
		s.mu.Unlock()
		s.t.Fatal("pgtest: Start: the server is already running")
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatalf("pgtest: %v", err)
	}
	args := []string{
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-k", s.sockDir(),
		"-c", "listen_addresses=" + Host,
		"-c", "logging_collector=off",
		"-c", "max_connections=50",
	}
	if s.tls {
		args = append(args, "-c", "ssl=on",
			"-c", "ssl_cert_file="+s.certPath(), "-c", "ssl_key_file="+s.keyPath(),
			"-c", "ssl_min_protocol_version=TLSv1.2")
	}
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies, take the server down with it (immediate
	// shutdown); in its own process group, a terminal's ^C reaches only us.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr.Setpgid = true
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		s.mu.Unlock()
		s.t.Fatalf("pgtest: starting postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := s.waitReady(exited); err != nil {
		s.t.Fatalf("pgtest: %v\n%s", err, s.Log())
	}
}

// Stop shuts the server down with a fast shutdown (SIGINT: like
// pg_ctl stop -m fast: sessions are disconnected, a checkpoint is written)
// and waits for it to exit.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.signalAndWait(syscall.SIGINT); err != nil {
		s.t.Fatalf("pgtest: Stop: %v", err)
	}
}

// Crash shuts the server down with an immediate shutdown (SIGQUIT: no
// checkpoint, like a crash), so that the next Start runs crash recovery
// from the write-ahead log.
func (s *Server) Crash() {
	s.t.Helper()
	if err := s.signalAndWait(syscall.SIGQUIT); err != nil {
		s.t.Fatalf("pgtest: Crash: %v", err)
	}
}

// Pause freezes the server and all its backends (SIGSTOP): connections
// are accepted by the kernel but nothing answers, like a database host that
// hangs or a network that drops packets. Resume undoes it. Linux only (the
// backends are found through /proc).
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.signalAll(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("pgtest: Pause: %v", err)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.signalAll(syscall.SIGCONT); err != nil {
		s.t.Fatalf("pgtest: Resume: %v", err)
	}
}

// signalAll signals the postmaster, then each of its children (backends
// and auxiliary processes: each is its own process group leader, so a
// process-group signal would miss them).
func (s *Server) signalAll(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return errors.New("the server is not running")
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	children, err := childPIDs(pid)
	if err != nil {
		return err
	}
	for _, child := range children {
		if err := syscall.Kill(child, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may contain spaces and parentheses.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children, nil
}

// Log returns the server's log so far, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	return string(b)
}

func (s *Server) dataDir() string  { return filepath.Join(s.dir, "data") }
func (s *Server) sockDir() string  { return filepath.Join(s.dir, "sock") }
func (s *Server) logPath() string  { return filepath.Join(s.dir, "server.log") }
func (s *Server) certPath() string { return filepath.Join(s.dir, "server.crt") }
func (s *Server) keyPath() string  { return filepath.Join(s.dir, "server.key") }

// makeCerts makes the server's CA and its certificate for hosts: the
// certificate and key in the private directory (PostgreSQL wants the key
// owned by its user, mode 0600), the CA's certificate in a directory of
// the test's own, where clients of any user may read it.
func (s *Server) makeCerts(hosts []string) {
	s.t.Helper()
	ca, err := devca.New("pgtest CA")
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	cert, key, err := ca.Issue(hosts...)
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	for path, data := range map[string][]byte{s.certPath(): cert, s.keyPath(): key} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			s.t.Fatalf("pgtest: %v", err)
		}
		s.chown(path)
	}
	s.caFile = filepath.Join(s.t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, ca.CertPEM(), 0o644); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
}

// command runs one of PostgreSQL's programs as the server's user, in its
// directory, with a minimal environment (no PG* variables of the caller).
func (s *Server) command(program string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, program), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// initdb creates the cluster: superuser User with the password, scram for
// TCP, trust on the private Unix socket.
func (s *Server) initdb() {
	s.t.Helper()
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	s.chown(pwfile)
	if err := os.Mkdir(s.sockDir(), 0o700); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	s.chown(s.sockDir())
	cmd := s.command("initdb",
		"-D", s.dataDir(),
		"-U", User,
		"--pwfile="+pwfile,
		"--auth-host=scram-sha-256",
		"--auth-local=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	out, err := cmd.CombinedOutput()
	_ = os.Remove(pwfile)
	if err != nil {
		s.t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
}

func (s *Server) chown(path string) {
	s.t.Helper()
	if s.cred == nil {
		return
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
}

// connect opens one authenticated connection to dbname.
func (s *Server) connect(ctx context.Context, dbname string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=2",
		Host, s.port, User, dbname))
	if err != nil {
		return nil, err
	}
	cfg.Password = s.password
	return pgconn.ConnectConfig(ctx, cfg)
}

// waitReady polls until the server accepts a connection, or it exits, or
// startTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("postgres exited while starting")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := s.connect(ctx, "postgres")
		if err == nil {
			err = conn.Close(ctx)
			cancel()
			return err
		}
		cancel()
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres did not accept connections within %v: %v", startTimeout, lastErr)
}

// exec runs one SQL statement in dbname.
func (s *Server) exec(dbname, sql string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.connect(ctx, dbname)
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		s.t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// signalAndWait sends sig to the postmaster and waits for it to exit,
// killing it after stopTimeout. Nothing happens if it is not running.
func (s *Server) signalAndWait(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	running := s.runningLocked()
	s.mu.Unlock()
	if !running {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("postgres did not stop within %v after %v; killed", stopTimeout, sig)
	}
}

// cleanup stops the server (fast) and removes its directory.
func (s *Server) cleanup() {
	_ = s.signalAll(syscall.SIGCONT) // in case a failed test left it paused
	if err := s.signalAndWait(syscall.SIGINT); err != nil {
		s.t.Errorf("pgtest: cleanup: %v", err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Errorf("pgtest: cleanup: %v", err)
	}
}

// binDir finds the directory holding initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian), else the PATH. If neither has
// them, testtools.NeedGlob skips or fails the test.
func binDir(t testing.TB) string {
	t.Helper()
	const pattern = "/usr/lib/postgresql/*/bin/initdb"
	matches, _ := filepath.Glob(pattern)
	best, bestVersion := "", -1.0
	for _, m := range matches {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(m))), 64)
		if err == nil && v > bestVersion {
			best, bestVersion = m, v
		}
	}
	if best == "" {
		if initdb, err := exec.LookPath("initdb"); err == nil {
			if _, err := exec.LookPath("postgres"); err == nil {
				return filepath.Dir(initdb)
			}
		}
		best = testtools.NeedGlob(t, pattern, "postgresql")
	}
	dir := filepath.Dir(best)
	if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
		t.Fatalf("pgtest: %s has initdb but no postgres: %v", dir, err)
	}
	return dir
}

// postgresCredential is the "postgres" system user, for running as root.
func postgresCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		msg := fmt.Sprintf("pgtest: running as root needs the postgres system user: %v", err)
		if testtools.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("pgtest: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// privateDir makes the server's directory: mode 0700, owned by cred's user,
// under a directory every user can traverse.
func privateDir(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	base := os.TempDir()
	if cred != nil && !worldTraversable(base) {
		base = "/tmp"
	}
	if cred != nil && !worldTraversable(base) {
		t.Fatalf("pgtest: no world-traversable temporary directory (%s, /tmp) for the postgres user", os.TempDir())
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	return dir
}

// worldTraversable reports whether dir and all its parents have o+x.
func worldTraversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// freePort asks the kernel for a free TCP port on Host.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b)
}

// String describes the server for logs (without the password).
func (s *Server) String() string {
	return fmt.Sprintf("pgtest.Server{%s:%d user=%s db=%s dir=%s}", Host, s.port, User, Database, s.dir)
}
