// Package lbconf renders the files of webstack's load balancer pair: the
// HAProxy configuration, the keepalived configuration, keepalived's track
// script and the notify_master script that moves the Elastic IP.
//
// The pair is active-passive. Both nodes run HAProxy; keepalived elects one
// MASTER over unicast VRRP, and the MASTER's notify_master script associates
// the Elastic IP with its own instance through the EC2 API. A node whose
// HAProxy stops answering its monitor URI goes to FAULT, and the peer takes
// over (see [Keepalived] for the timing).
//
// The same renderers serve the real AWS hosts and the local sandbox, where
// each host is a Linux network namespace on one machine. So nothing is
// hard-wired: every path, address and port is an input, and two instances
// with different RuntimeDir, LocalInclude and script paths can run side by
// side on one filesystem.
//
// Secrets never appear in the rendered files. The HAProxy stats password is
// referenced as "${NAME}" and expanded by HAProxy from its environment; the
// VRRP password and the interface name come from a root-only file that
// keepalived includes.
//
// Every renderer validates its input first and returns an error naming each
// bad field and its value. Output is deterministic: the same input gives the
// same bytes.
package lbconf

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	// safePath is an absolute path without whitespace, quotes, comment,
	// variable or glob characters, so it needs no quoting in any of the
	// rendered files (keepalived expands globs in include paths).
	safePath = regexp.MustCompile(`^/[A-Za-z0-9._+@=,~/-]*$`)
	// name is a server name, router id, user or group name.
	name = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	// envName is an environment variable name.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// uriPath is an HTTP path (with an optional query) that needs no
	// quoting in haproxy.cfg or in a shell word.
	uriPath = regexp.MustCompile(`^/[A-Za-z0-9._~/%=&?+-]*$`)
	// hostName is a DNS name (or an IP address) for a Host header.
	hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

// errs collects validation errors, each naming a field and its value.
type errs []error

// add records that field has a bad value.
func (e *errs) add(field string, value any, reason string) {
	if s, ok := value.(string); ok {
		value = strconv.Quote(s)
	}
	*e = append(*e, fmt.Errorf("lbconf: %s %v: %s", field, value, reason))
}

// err returns all recorded errors joined, or nil.
func (e errs) err() error { return errors.Join(e...) }

// port checks a TCP port number.
func (e *errs) port(field string, p int) {
	if p < 1 || p > 65535 {
		e.add(field, p, "must be a port number in 1..65535")
	}
}

// path checks a required absolute path.
func (e *errs) path(field, p string) {
	if !safePath.MatchString(p) {
		e.add(field, p, "must be an absolute path of letters, digits and ._+@=,~/-")
	}
}

// name checks a required name.
func (e *errs) name(field, s string) {
	if !name.MatchString(s) {
		e.add(field, s, "must be a name of letters, digits and ._- (not starting with . or -)")
	}
}

// intRange checks that v is in lo..hi.
func (e *errs) intRange(field string, v, lo, hi int) {
	if v < lo || v > hi {
		e.add(field, v, fmt.Sprintf("must be in %d..%d", lo, hi))
	}
}

// loopback parses a required "IP:port" listen address on a loopback IP.
func (e *errs) loopback(field, s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil || ap.Port() == 0:
		e.add(field, s, `must be "IP:port", e.g. "127.0.0.1:8404"`)
		return ap, false
	case !ap.Addr().IsLoopback():
		e.add(field, s, "must be a loopback address (127.0.0.0/8 or ::1)")
		return ap, false
	}
	return ap, true
}

// ipv4 parses a required unicast IPv4 address.
func (e *errs) ipv4(field, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
		e.add(field, s, "must be a unicast IPv4 address, e.g. 10.0.128.10")
		return a, false
	}
	return a, true
}

// shQuote quotes s as one POSIX shell word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
