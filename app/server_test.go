package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/foobar/webstack/internal/testtools"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStore is an in-memory Store. err makes every operation fail; block
// makes every operation wait for its context (a database that hangs).
type fakeStore struct {
	mu         sync.Mutex
	visits     []Visit
	err        error
	schemaErrs int // EnsureSchema fails this many times first
	block      bool
	gate       chan struct{} // if set, RecordVisit waits for it to close
	entered    chan struct{} // if set, RecordVisit sends on it before waiting for gate
	calls      int
}

var errFakeDown = errors.New("connect: connection refused")

func (f *fakeStore) op(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	err, block := f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeStore) EnsureSchema(ctx context.Context) error {
	if err := f.op(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.schemaErrs > 0 {
		f.schemaErrs--
		return errFakeDown
	}
	return nil
}

func (f *fakeStore) RecordVisit(ctx context.Context, host string) (Visit, error) {
	if err := f.op(ctx); err != nil {
		return Visit{}, err
	}
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v := Visit{ID: int64(len(f.visits) + 1), AppHost: host,
		VisitedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC).Add(time.Duration(len(f.visits)) * time.Second)}
	f.visits = append(f.visits, v)
	return v, nil
}

func (f *fakeStore) RecentVisits(ctx context.Context, n int) ([]Visit, error) {
	if err := f.op(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Visit
	for i := len(f.visits) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, f.visits[i])
	}
	return out, nil
}

func (f *fakeStore) Visit(ctx context.Context, id int64) (Visit, error) {
	if err := f.op(ctx); err != nil {
		return Visit{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id < 1 || id > int64(len(f.visits)) {
		return Visit{}, ErrNotFound
	}
	return f.visits[id-1], nil
}

func (f *fakeStore) Ping(ctx context.Context) error { return f.op(ctx) }
func (f *fakeStore) Close() error                   { return nil }

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// newTestServer is a server over a fake store whose schema is ready.
func newTestServer(t *testing.T, st Store, host string) (*server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := newServer(st, host, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.queryTimeout, s.pingTimeout = 200*time.Millisecond, 100*time.Millisecond
	s.minBackoff, s.maxBackoff = time.Millisecond, 5*time.Millisecond
	s.schemaOK.Store(true)
	return s, &logs
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, h http.Handler, method, target string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func (r response) wantStatus(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.status, status, r.body)
	}
	return r
}

func TestIndexRecordsAndShowsVisits(t *testing.T) {
	st := &fakeStore{}
	s, _ := newTestServer(t, st, "app-1")
	h := s.routes()
	for range 6 {
		do(t, h, "GET", "/").wantStatus(t, 200)
	}
	r := do(t, h, "GET", "/").wantStatus(t, 200)
	for _, want := range []string{
		"<title>www.foobar.com</title>",
		`<link rel="stylesheet" href="/static/style.css">`,
		"<strong>app-1</strong>",
		`<strong id="visit">7</strong>`,
		"<td>7</td>", "<td>3</td>", "2025-01-02 03:04:11.000",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "<td>2</td>") {
		t.Error("page lists more than the last 5 visits")
	}
	if got := r.header.Get("X-Webstack-App"); got != "app-1" {
		t.Errorf("X-Webstack-App = %q", got)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

func TestIndexEscapes(t *testing.T) {
	st := &fakeStore{}
	evil := `<script>alert("x")</script>&`
	s, _ := newTestServer(t, st, evil)
	r := do(t, s.routes(), "GET", "/").wantStatus(t, 200)
	if strings.Contains(r.body, "<script>") {
		t.Fatalf("unescaped host name:\n%s", r.body)
	}
	if want := "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;"; strings.Count(r.body, want) != 2 {
		t.Errorf("want the escaped host name twice (server and visit list):\n%s", r.body)
	}
}

func TestDatabaseDownAnswers503(t *testing.T) {
	st := &fakeStore{err: errFakeDown}
	s, logs := newTestServer(t, st, "app-1")
	h := s.routes()

	r := do(t, h, "GET", "/").wantStatus(t, 503)
	if !strings.Contains(r.body, "<title>www.foobar.com</title>") || !strings.Contains(r.body, "not available") {
		t.Errorf("503 page:\n%s", r.body)
	}
	if r.header.Get("Retry-After") == "" || r.header.Get("X-Webstack-App") != "app-1" {
		t.Errorf("headers %v", r.header)
	}
	for _, path := range []string{"/api/visit", "/api/visits/1"} {
		r := do(t, h, "GET", path).wantStatus(t, 503)
		var body errorBody
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error == "" {
			t.Errorf("%s: body %q (%v)", path, r.body, err)
		}
	}
	do(t, h, "POST", "/api/visit").wantStatus(t, 503)
	do(t, h, "GET", "/readyz").wantStatus(t, 503)
	do(t, h, "GET", "/healthz").wantStatus(t, 200)
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the cause is not logged:\n%s", logs)
	}

	// The database comes back: the same server recovers.
	st.setErr(nil)
	do(t, h, "GET", "/").wantStatus(t, 200)
	do(t, h, "GET", "/readyz").wantStatus(t, 200)
}

// TestHangingDatabaseAnswers503Quickly: a database that does not answer
// costs a request at most the query timeout.
func TestHangingDatabaseAnswers503Quickly(t *testing.T) {
	st := &fakeStore{block: true}
	s, _ := newTestServer(t, st, "app-1")
	h := s.routes()
	for _, path := range []string{"/", "/api/visit", "/api/visits/1", "/readyz"} {
		start := time.Now()
		do(t, h, "GET", path).wantStatus(t, 503)
		limit := s.queryTimeout
		if path == "/readyz" {
			limit = s.pingTimeout
		}
		if took := time.Since(start); took > limit+100*time.Millisecond {
			t.Errorf("%s took %v, want about %v", path, took, limit)
		}
	}
}

func TestSchemaNotReadyAnswers503(t *testing.T) {
	st := &fakeStore{}
	s, _ := newTestServer(t, st, "app-1")
	s.schemaOK.Store(false)
	h := s.routes()
	for _, path := range []string{"/", "/api/visit", "/api/visits/1", "/readyz"} {
		do(t, h, "GET", path).wantStatus(t, 503)
	}
	do(t, h, "GET", "/healthz").wantStatus(t, 200)
	if st.calls != 0 {
		t.Errorf("the store was used %d times before its schema was ready", st.calls)
	}
}

func TestEnsureSchemaRetriesUntilItSucceeds(t *testing.T) {
	st := &fakeStore{schemaErrs: 3}
	s, logs := newTestServer(t, st, "app-1")
	s.schemaOK.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.ensureSchema(ctx)
	if !s.schemaOK.Load() {
		t.Fatal("schema not ready after ensureSchema returned")
	}
	if !strings.Contains(logs.String(), "attempts=4") {
		t.Errorf("want success on the 4th attempt logged:\n%s", logs)
	}
	do(t, s.routes(), "GET", "/").wantStatus(t, 200)
}

func TestEnsureSchemaStopsWithContext(t *testing.T) {
	st := &fakeStore{err: errFakeDown}
	s, _ := newTestServer(t, st, "app-1")
	s.schemaOK.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { s.ensureSchema(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("ensureSchema kept running after its context ended")
	}
	if s.schemaOK.Load() {
		t.Error("schema marked ready although it failed")
	}
}

func TestAPINewVisit(t *testing.T) {
	st := &fakeStore{}
	s, _ := newTestServer(t, st, "app-2")
	h := s.routes()

	r := do(t, h, "GET", "/api/visit").wantStatus(t, 200)
	var v Visit
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatal(err)
	}
	if v.ID != 1 || v.AppHost != "app-2" || v.VisitedAt.IsZero() {
		t.Errorf("got %+v", v)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	r = do(t, h, "POST", "/api/visit").wantStatus(t, 201)
	if loc := r.header.Get("Location"); loc != "/api/visits/2" {
		t.Errorf("Location = %q", loc)
	}
}

func TestAPIGetVisit(t *testing.T) {
	st := &fakeStore{}
	s, _ := newTestServer(t, st, "app-1")
	h := s.routes()
	do(t, h, "POST", "/api/visit").wantStatus(t, 201)

	r := do(t, h, "GET", "/api/visits/1").wantStatus(t, 200)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": float64(1), "app_host": "app-1", "visited_at": "2025-01-02T03:04:05.000006Z"}
	if len(got) != len(want) {
		t.Errorf("got fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	r = do(t, h, "GET", "/api/visits/2").wantStatus(t, 404)
	if !strings.Contains(r.body, `"error":"visit not found"`) {
		t.Errorf("404 body %q", r.body)
	}
	for _, bad := range []string{"abc", "0", "-1", "99999999999999999999"} {
		do(t, h, "GET", "/api/visits/"+bad).wantStatus(t, 400)
	}
}

func TestHealthz(t *testing.T) {
	st := &fakeStore{err: errFakeDown}
	s, logs := newTestServer(t, st, "app-1")
	r := do(t, s.routes(), "GET", "/healthz").wantStatus(t, 200)
	if r.body != "ok\n" {
		t.Errorf("body %q", r.body)
	}
	if st.calls != 0 {
		t.Error("healthz touched the database")
	}
	if !strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("probes should be logged at debug level:\n%s", logs)
	}
}

// TestAPIServer: GET /api/server names the application server and never
// touches the database, so it answers while the database is down (the
// benchmark's dynamic path without a database rests on that).
func TestAPIServer(t *testing.T) {
	st := &fakeStore{err: errFakeDown}
	s, _ := newTestServer(t, st, "app-1")
	r := do(t, s.routes(), "GET", "/api/server").wantStatus(t, 200)
	if r.body != `{"app_host":"app-1"}`+"\n" {
		t.Errorf("body %q", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if st.calls != 0 {
		t.Error("/api/server touched the database")
	}
	do(t, s.routes(), "POST", "/api/server").wantStatus(t, 405)
}

func TestReadyz(t *testing.T) {
	st := &fakeStore{}
	s, _ := newTestServer(t, st, "app-1")
	h := s.routes()
	if r := do(t, h, "GET", "/readyz").wantStatus(t, 200); r.body != "ready\n" {
		t.Errorf("body %q", r.body)
	}
	st.setErr(errFakeDown)
	do(t, h, "GET", "/readyz").wantStatus(t, 503)
}

func TestUnknownPaths(t *testing.T) {
	s, _ := newTestServer(t, &fakeStore{}, "app-1")
	h := s.routes()
	r := do(t, h, "GET", "/nope").wantStatus(t, 404)
	if r.header.Get("X-Webstack-App") != "app-1" {
		t.Error("404 lacks X-Webstack-App")
	}
	do(t, h, "DELETE", "/api/visits/1").wantStatus(t, 405)
}

func TestPanicIsA500(t *testing.T) {
	s, logs := newTestServer(t, &fakeStore{}, "app-1")
	h := s.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	do(t, h, "GET", "/").wantStatus(t, 500)
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

// startServe runs serve on a free port and returns its base URL and a
// function that stops it (SIGTERM's path) and returns serve's error.
func startServe(t *testing.T, st Store, logger *slog.Logger) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, "app-1", st, logger) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(shutdownTimeout + 5*time.Second):
			t.Fatal("serve did not return after shutdown")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return "http://" + ln.Addr().String(), stop
}

func waitStatus(t *testing.T, url string, status int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: 3 * time.Second}
	var last string
	for time.Since(start) < within {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == status {
				return time.Since(start)
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s: no %d within %v (last: %s)", url, status, within, last)
	return 0
}

// TestGracefulShutdownFinishesInFlightRequests: a request in progress when
// the shutdown starts still gets its answer; new connections are refused.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	st := &fakeStore{gate: gate, entered: entered}
	url, stop := startServe(t, st, slog.New(slog.DiscardHandler))
	waitStatus(t, url+"/readyz", 200, 5*time.Second)

	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/api/visit", "", nil)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode}
	}()
	select { // wait until the request is inside the store
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the store")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(100 * time.Millisecond)
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("a new request was accepted during shutdown")
	}
	close(gate)
	if r := <-inflight; r.err != nil || r.status != 201 {
		t.Errorf("in-flight request: status %d, err %v", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestRunWithDatabaseDown runs the whole program in-process against a
// database that is not there: it serves 503, stays healthy, never logs the
// password and stops cleanly.
func TestRunWithDatabaseDown(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, filepath.Join(dir, "db"), `{"engine":"postgres","host":"127.0.0.1","port":`+strconv.Itoa(closedPort(t))+
		`,"dbname":"webstack","username":"app","password":`+mustJSON(t, testPassword)+`,"tls":"verify-full"}`)
	port := closedPort(t)
	var logs testtools.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{
			envListen:      "127.0.0.1:" + strconv.Itoa(port),
			envHostName:    "app-9",
			envCredentials: dir,
		}), logger)
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	waitStatus(t, url+"/healthz", 200, 5*time.Second)
	start := time.Now()
	waitStatus(t, url+"/", 503, 3*time.Second)
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("503 took %v", took)
	}
	waitStatus(t, url+"/readyz", 503, 3*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := logs.String()
	assertNoPassword(t, "log output", out)
	for _, want := range []string{"webstack-app listening", "database schema not ready", "shutting down", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestRunFailsWithoutSecret(t *testing.T) {
	err := run(context.Background(), env(map[string]string{envSecretFile: filepath.Join(t.TempDir(), "none")}),
		slog.New(slog.DiscardHandler))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
