// Command webstack-app is the default application of the web stack. It runs
// on every application server behind nginx and proves that the whole path
// works: load balancer -> web server -> this process -> database. Each page
// view records a visit in the database and shows the last few visits with
// the application server that served them.
//
// # Configuration
//
// Environment variables:
//
//	WEBSTACK_LISTEN          address to listen on (default ":8080")
//	WEBSTACK_HOST_NAME       name shown on the page and stored with each
//	                         visit (default: the host name)
//	WEBSTACK_DB_SECRET_FILE  path of the database secret JSON (see below);
//	                         if unset, $CREDENTIALS_DIRECTORY/db is used, which
//	                         is where systemd puts LoadCredential=db:<file>
//	CREDENTIALS_DIRECTORY    set by systemd; see WEBSTACK_DB_SECRET_FILE
//	WEBSTACK_DB_CA_FILE      PEM file of the CA certificates the database's
//	                         certificate must chain to (default: the RDS CA
//	                         bundle embedded in the binary, internal/rdsca,
//	                         pinned by SHA-256); for tests and the sandbox,
//	                         which run their own CA
//
// The secret file is the JSON document the stack keeps in AWS Secrets
// Manager:
//
//	{"engine": "postgres", "host": "db.example", "port": 5432,
//	 "dbname": "webstack", "username": "webstack", "password": "...",
//	 "tls": "verify-full"}
//
// engine is "postgres" or "mysql"; port defaults to the engine's; tls is
// "verify-full" (the default; "require", which older secrets say, means the
// same; anything else is an error). Every connection is TLS 1.2 or later,
// and the server's certificate must chain to the CAs above and name the
// secret's host: PostgreSQL with sslmode=verify-full, MySQL with a
// tls.Config (RootCAs, ServerName = host) and no plaintext fallback. There
// is no setting that turns verification off. The password is never logged:
// it is passed to the drivers as a configuration field rather than inside a
// connection string, and errors are redacted as well.
//
// A missing or invalid configuration, secret file or CA file (including an
// embedded bundle that does not match its pinned checksum) makes the
// process exit with status 1. A database that is down does not, nor one
// whose certificate does not verify: the process serves anyway (503 for
// what needs the database, the reason in its log) and keeps trying to set
// up its table in the background.
//
// # HTTP interface
//
// Every response carries the header "X-Webstack-App: <host name>".
//
//	GET /                  HTML page (title www.foobar.com, stylesheet
//	                       /static/style.css served by nginx) that records a
//	                       visit and shows its number and the last 5 visits
//	GET  /api/visit        record a visit; 200 {"id":N,"app_host":"...","visited_at":"..."}
//	POST /api/visit        the same with 201 and "Location: /api/visits/N"
//	GET /api/visits/{id}   200 {"id":N,"app_host":"...","visited_at":"..."},
//	                       404 {"error":"visit not found"}, 400 for a bad id
//	GET /api/server        200 {"app_host":"..."}: which application server
//	                       answered, without the database
//	GET /healthz           200 "ok" while the process runs (no database)
//	GET /readyz            200 "ready" when the table is set up and the
//	                       database answers a ping within 1 s, else 503
//
// visited_at is RFC 3339 in UTC with microseconds. Whenever the database is
// unavailable the database-backed endpoints answer 503 within about 2 s
// (an HTML page for /, {"error":"database unavailable, please retry"} for
// the API) with "Retry-After: 2", and recover by themselves once it is
// back.
//
// The table is webstack_visits (id auto-increment primary key, app_host,
// visited_at), created if missing, on PostgreSQL or MySQL.
//
// SIGTERM or SIGINT shuts down gracefully: the listener closes, requests
// in flight get up to 10 s to finish, then the database pool closes and the
// process exits with status 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// HTTP server limits. nginx in front keeps upstream connections alive, so
// the idle timeout is generous; the rest bound slow or stuck clients.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 10 * time.Second // keep below the unit's TimeoutStopSec
)

func main() {
	// One JSON object per line: CloudWatch's metric filters count the
	// "request" lines' status and duration (components/monitoring/signals).
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv, logger); err != nil {
		logger.Error("webstack-app stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled (a signal), then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := loadConfig(getenv, os.Hostname)
	if err != nil {
		return err
	}
	secret, err := loadSecret(cfg.SecretFile)
	if err != nil {
		return err
	}
	roots, rootsFrom, err := loadRoots(cfg.CAFile)
	if err != nil {
		return err
	}
	store, err := openStore(secret, roots, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("webstack-app listening", "addr", ln.Addr().String(), "host", cfg.HostName,
		"engine", secret.Engine, "db_host", secret.Host, "db_port", secret.Port,
		"dbname", secret.DBName, "db_user", secret.Username, "tls", secret.TLS, "db_ca", rootsFrom)
	return serve(ctx, ln, cfg.HostName, store, logger)
}

// serve answers HTTP on ln with store until ctx is cancelled, then shuts
// down gracefully: ln closes, requests in flight get shutdownTimeout. It
// does not close store.
func serve(ctx context.Context, ln net.Listener, host string, store Store, logger *slog.Logger) error {
	s := newServer(store, host, logger)
	schemaCtx, stopSchema := context.WithCancel(ctx)
	defer stopSchema()
	schemaDone := make(chan struct{})
	go func() {
		defer close(schemaDone)
		s.ensureSchema(schemaCtx)
	}()

	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	stopSchema()
	<-schemaDone
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err != nil {
		logger.Warn("requests still in flight at the shutdown deadline", "timeout", shutdownTimeout)
	}
	logger.Info("stopped")
	return nil
}
