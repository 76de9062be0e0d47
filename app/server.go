package main

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// Timeouts of the database work done for one request.
const (
	queryTimeout = 2 * time.Second // every DB-backed request, retry included
	pingTimeout  = 1 * time.Second // /readyz
	recentCount  = 5               // visits listed on the page
)

// Schema set-up retries: quick at first, then every maxSchemaBackoff.
const (
	minSchemaBackoff = 250 * time.Millisecond
	maxSchemaBackoff = 2 * time.Second
)

// server holds the HTTP handlers.
type server struct {
	store    Store
	host     string
	log      *slog.Logger
	schemaOK atomic.Bool // the table exists: DB-backed pages may run

	// Timeouts and schema retry backoff (the constants; tests shorten them).
	queryTimeout, pingTimeout time.Duration
	minBackoff, maxBackoff    time.Duration
}

func newServer(store Store, host string, logger *slog.Logger) *server {
	return &server{
		store:        store,
		host:         host,
		log:          logger,
		queryTimeout: queryTimeout,
		pingTimeout:  pingTimeout,
		minBackoff:   minSchemaBackoff,
		maxBackoff:   maxSchemaBackoff,
	}
}

// ensureSchema creates the table, retrying with backoff until it succeeds
// or ctx ends. Until then DB-backed pages answer 503. It runs in the
// background so that the process serves (and reports itself unready) while
// the database is down.
func (s *server) ensureSchema(ctx context.Context) {
	backoff := s.minBackoff
	for attempt := 1; ; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
		err := s.store.EnsureSchema(qctx)
		cancel()
		if err == nil {
			s.schemaOK.Store(true)
			s.log.Info("database schema ready", "attempts", attempt)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("database schema not ready, retrying", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

// routes is the whole HTTP interface.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("GET /api/visits/{id}", s.handleGetVisit)
	mux.HandleFunc("GET /api/visit", s.handleNewVisit)
	mux.HandleFunc("POST /api/visit", s.handleNewVisit)
	mux.HandleFunc("GET /api/server", s.handleServer)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	return s.middleware(mux)
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware sets X-Webstack-App on every response, turns a panic into a
// 500, and logs one line per request (probes at debug level only).
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("X-Webstack-App", s.host)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(r.Context(), level, signals.AppRequestMsg,
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path), // without the query string
				slog.Int(signals.FieldStatus, rec.status),
				slog.Float64(signals.FieldDurationMs, float64(time.Since(start).Microseconds())/1000),
				slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(rec, r)
	})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>www.foobar.com</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<main>
<h1>www.foobar.com</h1>
{{if .Unavailable -}}
<p class="unavailable">The database is not available right now. Please try again in a moment.</p>
<p>Served by application server <strong>{{.Host}}</strong>.</p>
{{- else -}}
<p>Served by application server <strong>{{.Host}}</strong>.</p>
<p>You are visit number <strong id="visit">{{.Visit.ID}}</strong>.</p>
<h2>Last visits</h2>
<table>
<thead><tr><th>#</th><th>application server</th><th>time (UTC)</th></tr></thead>
<tbody>
{{- range .Recent}}
<tr><td>{{.ID}}</td><td>{{.AppHost}}</td><td>{{.VisitedAt.Format "2006-01-02 15:04:05.000"}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
</main>
</body>
</html>
`))

type pageData struct {
	Host        string
	Unavailable bool
	Visit       Visit
	Recent      []Visit
}

// handleIndex records a visit and shows it with the last few.
func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	visit, recent, err := s.indexData(r.Context())
	if err != nil {
		s.log.Warn("database unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "2")
		s.renderPage(w, http.StatusServiceUnavailable, pageData{Host: s.host, Unavailable: true})
		return
	}
	s.renderPage(w, http.StatusOK, pageData{Host: s.host, Visit: visit, Recent: recent})
}

func (s *server) indexData(ctx context.Context) (Visit, []Visit, error) {
	if !s.schemaOK.Load() {
		return Visit{}, nil, errSchemaNotReady
	}
	ctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	defer cancel()
	visit, err := s.store.RecordVisit(ctx, s.host)
	if err != nil {
		return Visit{}, nil, err
	}
	recent, err := s.store.RecentVisits(ctx, recentCount)
	return visit, recent, err
}

var errSchemaNotReady = errors.New("database schema not set up yet")

func (s *server) renderPage(w http.ResponseWriter, status int, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, data); err != nil {
		s.log.Warn("writing page", "err", err)
	}
}

// handleNewVisit records a visit and returns it as JSON: 201 with a
// Location header for POST, 200 for GET.
func (s *server) handleNewVisit(w http.ResponseWriter, r *http.Request) {
	if !s.schemaOK.Load() {
		s.unavailableJSON(w, r, errSchemaNotReady)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout)
	defer cancel()
	v, err := s.store.RecordVisit(ctx, s.host)
	if err != nil {
		s.unavailableJSON(w, r, err)
		return
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		w.Header().Set("Location", "/api/visits/"+strconv.FormatInt(v.ID, 10))
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}

// handleGetVisit returns one visit as JSON, or 404.
func (s *server) handleGetVisit(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid visit id"})
		return
	}
	if !s.schemaOK.Load() {
		s.unavailableJSON(w, r, errSchemaNotReady)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout)
	defer cancel()
	v, err := s.store.Visit(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{"visit not found"})
	case err != nil:
		s.unavailableJSON(w, r, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// serverInfo is the body of GET /api/server.
type serverInfo struct {
	AppHost string `json:"app_host"`
}

// handleServer names the application server that answered, without
// touching the database: the dynamic path whose cost is the web stack's
// alone (the benchmark compares it through the proxies and straight at the
// application servers, docs/BENCHMARKS.md). Unlike /healthz it passes
// through nginx, which answers /healthz itself.
func (s *server) handleServer(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, serverInfo{AppHost: s.host})
}

// handleHealthz: the process is up. It never touches the database, so a
// database outage does not make the load balancers drop every app server.
func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz: the schema is set up and the database answers a ping
// within pingTimeout.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := errSchemaNotReady
	if s.schemaOK.Load() {
		ctx, cancel := context.WithTimeout(r.Context(), s.pingTimeout)
		err = s.store.Ping(ctx)
		cancel()
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *server) unavailableJSON(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("database unavailable", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "2")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{"database unavailable, please retry"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
