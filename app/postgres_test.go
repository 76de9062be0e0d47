package main

// Integration tests against a real PostgreSQL (app/pgtest): the store
// itself, and the whole program as a separate process while the database
// goes down, crashes, hangs and comes back.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/foobar/webstack/internal/testtools"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/app/pgtest"
)

func pgSecret(pg *pgtest.Server) Secret {
	return Secret{Engine: enginePostgres, Host: pg.Host(), Port: pg.Port(), DBName: pg.Database(),
		Username: pg.User(), Password: Redacted(pg.Password()), TLS: tlsVerifyFull}
}

func pgSecretJSON(t *testing.T, pg *pgtest.Server) string {
	t.Helper()
	return fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%d,"dbname":%q,"username":%q,"password":%s,"tls":"verify-full"}`,
		pg.Host(), pg.Port(), pg.Database(), pg.User(), mustJSON(t, pg.Password()))
}

// pgRoots loads the server's CA the way the application does
// (WEBSTACK_DB_CA_FILE).
func pgRoots(t *testing.T, pg *pgtest.Server) *x509.CertPool {
	t.Helper()
	roots, _, err := loadRoots(pg.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

// TestPostgresPoolKeepsItsConnections: under more concurrent requests
// than the pool holds, connections are reused, not closed when a query
// ends and opened again (a TLS handshake and a login each time).
func TestPostgresPoolKeepsItsConnections(t *testing.T) {
	pg := pgtest.Start(t)
	var logs testtools.Buffer
	st, err := openStore(pgSecret(pg), pgRoots(t, pg), newTestLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*maxOpenConns)
	for range 4 * maxOpenConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := st.RecordVisit(ctx, "app-a"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := st.db.Stats()
	if s.MaxIdleClosed != 0 || s.OpenConnections > maxOpenConns {
		t.Errorf("%d connections closed as surplus idle ones, %d open (at most %d): the pool churns under load",
			s.MaxIdleClosed, s.OpenConnections, maxOpenConns)
	}
	if s.Idle != s.OpenConnections {
		t.Errorf("%d of %d connections idle after the load: all should stay for the next burst", s.Idle, s.OpenConnections)
	}
}

func TestPostgresStore(t *testing.T) {
	pg := pgtest.Start(t)
	var logs testtools.Buffer
	st, err := openStore(pgSecret(pg), pgRoots(t, pg), newTestLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for range 2 { // idempotent
		if err := st.EnsureSchema(ctx); err != nil {
			t.Fatalf("EnsureSchema: %v", err)
		}
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var recorded []Visit
	for _, host := range []string{"app-a", "app-b", "app-<c>"} {
		v, err := st.RecordVisit(ctx, host)
		if err != nil {
			t.Fatalf("RecordVisit: %v", err)
		}
		recorded = append(recorded, v)
	}
	if recorded[0].ID < 1 || recorded[1].ID <= recorded[0].ID || recorded[2].ID <= recorded[1].ID {
		t.Errorf("ids not increasing: %+v", recorded)
	}

	recent, err := st.RecentVisits(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 {
		t.Fatalf("RecentVisits: %d visits, want 3", len(recent))
	}
	for i, v := range recent {
		want := recorded[len(recorded)-1-i]
		if v.ID != want.ID || v.AppHost != want.AppHost || !v.VisitedAt.Equal(want.VisitedAt) || v.VisitedAt.Location() != time.UTC {
			t.Errorf("recent[%d] = %+v, want %+v", i, v, want)
		}
	}
	if two, _ := st.RecentVisits(ctx, 2); len(two) != 2 {
		t.Errorf("RecentVisits(2) returned %d", len(two))
	}

	got, err := st.Visit(ctx, recorded[1].ID)
	if err != nil || got.AppHost != "app-b" || !got.VisitedAt.Equal(recorded[1].VisitedAt) {
		t.Errorf("Visit = %+v, %v", got, err)
	}
	if _, err := st.Visit(ctx, 1<<40); !errors.Is(err, ErrNotFound) {
		t.Errorf("Visit(missing) err = %v, want ErrNotFound", err)
	}

	// Concurrent inserts get distinct ids.
	var wg sync.WaitGroup
	ids := make(chan int64, 20)
	for range 20 {
		wg.Go(func() {
			v, err := st.RecordVisit(ctx, "app-concurrent")
			if err != nil {
				t.Error(err)
				return
			}
			ids <- v.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d returned twice", id)
		}
		seen[id] = true
	}
	assertNoPassword(t, "log output", logs.String())
}

// TestPostgresWrongPassword: the server's own authentication error does
// not contain the password either.
func TestPostgresWrongPassword(t *testing.T) {
	pg := pgtest.Start(t)
	s := pgSecret(pg)
	s.Password = testPassword
	st, err := openStore(s, pgRoots(t, pg), newTestLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Ping(context.Background())
	if err == nil {
		t.Fatal("connected with a wrong password")
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("err = %v", err)
	}
	assertNoPassword(t, "error", err.Error())
}

// appProcess is the real program, started from the test binary.
type appProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	out    *testtools.Buffer
	exited chan struct{}
	client *http.Client
}

func startApp(t *testing.T, env ...string) *appProcess {
	t.Helper()
	port := closedPort(t)
	a := &appProcess{
		t:      t,
		url:    "http://127.0.0.1:" + strconv.Itoa(port),
		out:    &testtools.Buffer{},
		exited: make(chan struct{}),
		// Far above the app's own 2 s budget: a hang shows as a timing
		// failure, not as a client timeout.
		client: &http.Client{Timeout: 10 * time.Second},
	}
	a.cmd = exec.Command(os.Args[0])
	a.cmd.Env = append([]string{
		runMainEnv + "=1",
		"PATH=" + os.Getenv("PATH"),
		envListen + "=127.0.0.1:" + strconv.Itoa(port),
	}, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		if a.alive() {
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			t.Logf("application output:\n%s", a.out)
		}
	})
	a.waitStatus("/healthz", 200, 10*time.Second)
	return a
}

func (a *appProcess) alive() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// get returns status, body and how long the request took; it fails the
// test if the process died or the response lacks X-Webstack-App.
func (a *appProcess) get(method, path string) (int, string, time.Duration) {
	a.t.Helper()
	start := time.Now()
	req, _ := http.NewRequest(method, a.url+path, nil)
	resp, err := a.client.Do(req)
	took := time.Since(start)
	if err != nil {
		if !a.alive() {
			a.t.Fatalf("%s %s: the application exited: %v\n%s", method, path, a.cmd.ProcessState, a.out)
		}
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Webstack-App") != "app-it" {
		a.t.Errorf("%s %s: X-Webstack-App = %q", method, path, resp.Header.Get("X-Webstack-App"))
	}
	return resp.StatusCode, string(body), took
}

// want asserts the status of one request and that it took at most limit.
func (a *appProcess) want(method, path string, status int, limit time.Duration) string {
	a.t.Helper()
	got, body, took := a.get(method, path)
	if got != status {
		a.t.Fatalf("%s %s: status %d, want %d; body:\n%s", method, path, got, status, body)
	}
	if took > limit {
		a.t.Errorf("%s %s: took %v, want at most %v", method, path, took, limit)
	}
	return body
}

// waitStatus polls until path answers status and returns how long it took.
func (a *appProcess) waitStatus(path string, status int, within time.Duration) time.Duration {
	a.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		resp, err := a.client.Get(a.url + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == status {
				return time.Since(start)
			}
			last = resp.Status
		} else {
			last = err.Error()
			if !a.alive() {
				a.t.Fatalf("the application exited: %v\n%s", a.cmd.ProcessState, a.out)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("GET %s: no %d within %v (last: %s)", path, status, within, last)
	return 0
}

// newVisit records a visit through the API and returns its id.
func (a *appProcess) newVisit() int64 {
	a.t.Helper()
	body := a.want("POST", "/api/visit", 201, 2*time.Second)
	var v Visit
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID < 1 || v.AppHost != "app-it" {
		a.t.Fatalf("POST /api/visit: %q (%v)", body, err)
	}
	return v.ID
}

// checkVisits asserts that every acknowledged visit is still readable.
func (a *appProcess) checkVisits(ids []int64) {
	a.t.Helper()
	for _, id := range ids {
		body := a.want("GET", "/api/visits/"+strconv.FormatInt(id, 10), 200, 2*time.Second)
		var v Visit
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID != id || v.AppHost != "app-it" || v.VisitedAt.IsZero() {
			a.t.Errorf("visit %d: %q (%v)", id, body, err)
		}
	}
}

// wantDown asserts the behaviour while the database is unavailable: quick
// 503s from every database-backed endpoint, healthz still 200.
func (a *appProcess) wantDown(budget time.Duration) {
	a.t.Helper()
	a.want("GET", "/", 503, budget)
	a.want("GET", "/api/visit", 503, budget)
	a.want("GET", "/api/visits/1", 503, budget)
	a.want("GET", "/readyz", 503, budget)
	a.want("GET", "/healthz", 200, 100*time.Millisecond)
	if !a.alive() {
		a.t.Fatal("the application exited")
	}
}

// TestSurvivesDatabaseRestarts runs the real program against PostgreSQL
// that is down at start, then stopped, crashed and frozen, and brought
// back each time: the program never exits, answers 503 quickly while the
// database is away, recovers by itself, and loses no acknowledged visit.
func TestSurvivesDatabaseRestarts(t *testing.T) {
	pg := pgtest.Start(t)
	secretFile := filepath.Join(t.TempDir(), "db.json")
	writeSecret(t, secretFile, pgSecretJSON(t, pg))

	// Down at start: the program serves anyway.
	pg.Stop()
	app := startApp(t, envHostName+"=app-it", envSecretFile+"="+secretFile, envCAFile+"="+pg.CAFile())
	app.wantDown(2 * time.Second)

	restart := time.Now()
	pg.Start()
	took := app.waitStatus("/", 200, 5*time.Second)
	t.Logf("started without its database: GET / answered 200 %v after PostgreSQL accepted connections (%v after it was started; schema created by the background retry)",
		took.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
	app.want("GET", "/readyz", 200, time.Second)

	var acked []int64
	for range 5 {
		acked = append(acked, app.newVisit())
	}
	app.checkVisits(acked)

	for _, outage := range []struct {
		name          string
		down, up      func()
		budget        time.Duration // per request while down
		checkRecovery bool
	}{
		// Fast shutdown: the server closes every connection; requests fail
		// at once (connection refused).
		{"fast stop", pg.Stop, pg.Start, 2 * time.Second, true},
		// Immediate shutdown: no checkpoint; the restart replays the WAL.
		{"crash", pg.Crash, pg.Start, 2 * time.Second, true},
		// Frozen server: nothing answers, so requests wait out the 2 s query
		// timeout (the 1 s ping timeout for /readyz) and must not hang.
		{"freeze", pg.Pause, pg.Resume, queryTimeout + 500*time.Millisecond, false},
	} {
		outage.down()
		start := time.Now()
		app.wantDown(outage.budget)
		t.Logf("%s: database-backed endpoints answered 503 (4 requests in %v)", outage.name, time.Since(start).Round(time.Millisecond))

		restart := time.Now()
		outage.up()
		ready := time.Since(restart)
		took := app.waitStatus("/", 200, 5*time.Second)
		t.Logf("%s: PostgreSQL accepting connections %v after the restart began; GET / answered 200 %v later (%v in all)",
			outage.name, ready.Round(time.Millisecond), took.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
		app.want("GET", "/readyz", 200, time.Second)
		app.checkVisits(acked)
		acked = append(acked, app.newVisit())
	}
	t.Logf("%d acknowledged visits all readable after every outage", len(acked))

	// A restart between two requests is invisible: the pooled connections
	// are dead, the request drops them and retries on a fresh one.
	acked = append(acked, app.newVisit())
	pg.Stop()
	pg.Start()
	app.want("GET", "/", 200, 2*time.Second)
	app.checkVisits(acked)

	// SIGTERM: graceful shutdown, exit status 0.
	if err := app.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.exited:
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("the application did not exit after SIGTERM")
	}
	if code := app.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	out := app.out.String()
	if strings.Contains(out, pg.Password()) {
		t.Errorf("the application's output contains the database password:\n%s", out)
	}
	for _, want := range []string{"webstack-app listening", "database schema ready", "shutting down", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(app.url, "http://"), time.Second); err == nil {
		t.Error("still listening after exit")
	}
}
