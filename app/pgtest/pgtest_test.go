package pgtest_test

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/foobar/webstack/app/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestStopStartKeepsData runs the server through a fast stop and a crash and
// checks that it comes back on the same port with the committed row.
func TestStopStartKeepsData(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := sql.Open("pgx", pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every query on a fresh connection
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct {
		name string
		fn   func()
	}{{"Stop", pg.Stop}, {"Crash", pg.Crash}} {
		stop.fn()
		if pg.Running() {
			t.Fatalf("%s: still running", stop.name)
		}
		if err := db.PingContext(ctx); err == nil {
			t.Fatalf("%s: ping succeeded with the server down", stop.name)
		}
		pg.Start()
		var v string
		if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
			t.Fatalf("after %s and Start: %q, %v", stop.name, v, err)
		}
	}
}

// TestWrongPasswordRejected checks that TCP connections really authenticate.
func TestWrongPasswordRejected(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := sql.Open("pgx", "postgres://webstack:wrong@"+net.JoinHostPort(pg.Host(), strconv.Itoa(pg.Port()))+"/webstack?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil {
		t.Fatal("connected with a wrong password")
	}
}

// TestPauseResume: a paused server does not answer; a resumed one does.
func TestPauseResume(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := sql.Open("pgx", pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil { // a pooled connection: its backend must freeze too
		t.Fatal(err)
	}
	pg.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = db.PingContext(ctx)
	cancel()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	pg.Resume()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("after Resume: %v", err)
	}
}
