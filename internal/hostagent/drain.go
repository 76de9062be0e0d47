package hostagent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// drainState is where the drain stands.
type drainState struct {
	started  bool      // Drain.Before ran
	start    time.Time // when it started
	lastBusy time.Time // when a connection to Drain.Port was last seen
	lastBeat time.Time // when the last heartbeat was sent
	count    int       // connections seen in the last round (-1: unknown)
	after    bool      // Drain.After ran
	done     bool      // the terminate hook is completed
}

// drainStep, once the instance is terminating: run Drain.Before, wait
// until no connection to Drain.Port has been seen for Drain.Quiet (at
// most Drain.Timeout), run Drain.After, complete the terminate hook.
func (a *Agent) drainStep(ctx context.Context) {
	d := &a.drain
	now := a.now()
	if !d.started {
		d.started = true
		d.start, d.lastBusy, d.lastBeat, d.count = now, now, now, 0
		a.logf("terminating: draining port %d (quiet %s, at most %s)", a.cfg.Drain.Port, a.cfg.Drain.Quiet.D(), a.cfg.Drain.Timeout.D())
		a.commands(ctx, "drain.before", a.cfg.Drain.Before)
		now = a.now()
	}
	if !d.after {
		n, err := a.connections(a.cfg.Drain.Port)
		if err != nil {
			a.report("drain", err.Error(), "draining: cannot count connections (waiting until the timeout): %v", err)
			n = -1
		}
		if n != 0 {
			d.lastBusy = now
		}
		if n > 0 && n != d.count {
			a.logf("draining: %d connections to port %d", n, a.cfg.Drain.Port)
		}
		d.count = n
		quiet := now.Sub(d.lastBusy) >= a.cfg.Drain.Quiet.D()
		if !quiet && now.Sub(d.start) < a.cfg.Drain.Timeout.D() {
			if now.Sub(d.lastBeat) >= HeartbeatInterval {
				d.lastBeat = now
				if err := a.as.RecordLifecycleActionHeartbeat(ctx, a.cfg.Group, a.cfg.TerminateHook, a.id); err != nil {
					a.logf("draining: heartbeat to the terminate hook %s failed: %v", a.cfg.TerminateHook, err)
				} else {
					a.logf("draining: heartbeat sent to the terminate hook %s", a.cfg.TerminateHook)
				}
			}
			return
		}
		if quiet {
			a.logf("drained: no connection to port %d for %s (after %s)", a.cfg.Drain.Port, a.cfg.Drain.Quiet.D(), now.Sub(d.start).Round(time.Second))
		} else {
			count := strconv.Itoa(n)
			if n < 0 {
				count = "an unknown number of"
			}
			a.logf("drain timed out after %s: %s connections to port %d still open", a.cfg.Drain.Timeout.D(), count, a.cfg.Drain.Port)
		}
		d.after = true
		a.commands(ctx, "drain.after", a.cfg.Drain.After)
	}
	err := a.as.CompleteLifecycleAction(ctx, a.cfg.Group, a.cfg.TerminateHook, a.id, awsapi.Continue)
	switch {
	case err == nil:
		a.logf("completed the terminate hook %s with %s", a.cfg.TerminateHook, awsapi.Continue)
	case noActiveAction(err):
		a.logf("the terminate hook %s has no active action (already completed, or none): done", a.cfg.TerminateHook)
	default:
		a.report("terminate", errState(err), "completing the terminate hook %s failed (retrying): %v", a.cfg.TerminateHook, err)
		return
	}
	d.done = true
}

// procNetFiles list the TCP sockets of the network namespace of the
// process that reads them.
var procNetFiles = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// connections counts the ESTABLISHED TCP connections whose local port is
// port (connections to this host's service on port), IPv4 and IPv6. A
// missing tcp6 (IPv6 disabled) counts none.
func (a *Agent) connections(port int) (int, error) {
	total := 0
	for i, path := range procNetFiles {
		b, err := a.readProc(path)
		if err != nil {
			if i > 0 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return 0, err
		}
		n, err := countEstablished(b, port)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		total += n
	}
	return total, nil
}

// tcpEstablished is the state column of an ESTABLISHED socket.
const tcpEstablished = "01"

// countEstablished counts the lines of a /proc/net/tcp or tcp6 table
// whose state is ESTABLISHED and local port is port. Its columns:
//
//	sl  local_address rem_address   st tx_queue rx_queue ...
//	0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 ...
//
// with addresses as hex IP:port (port in big-endian hex).
func countEstablished(table []byte, port int) (int, error) {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(table))
	for line := 0; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if line == 0 || len(f) == 0 {
			if line == 0 && (len(f) < 4 || f[0] != "sl") {
				return 0, errors.New("not a /proc/net/tcp table")
			}
			continue
		}
		if len(f) < 4 {
			return 0, fmt.Errorf("line %d: too few columns", line+1)
		}
		i := strings.LastIndexByte(f[1], ':')
		p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if i < 0 || err != nil {
			return 0, fmt.Errorf("line %d: bad local address %q", line+1, f[1])
		}
		if f[3] == tcpEstablished && int(p) == port {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(table) == 0 {
		return 0, errors.New("empty table (not even a header)")
	}
	return n, nil
}
