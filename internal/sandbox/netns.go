package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// run runs a command and returns its error with the command's output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// network creates the bridge and the fixed hosts (the database and the
// client); the groups' hosts come and go with addHost and removeHost.
func network(t Topology) error {
	bridge := t.Bridge
	if err := run("ip", "link", "add", bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := markLink(t.Owner, "", bridge); err != nil {
		return err
	}
	// Bridged frames must not go through the host's iptables (a host with
	// Docker drops forwarded traffic by default); older kernels lack the
	// per-bridge switch, which is fine when nothing filters.
	_ = run("ip", "link", "set", bridge, "type", "bridge", "nf_call_iptables", "0")
	if err := run("ip", "addr", "add", fmt.Sprintf("%s/%d", t.Gateway, t.PrefixLen), "dev", bridge); err != nil {
		return err
	}
	if err := run("ip", "link", "set", bridge, "up"); err != nil {
		return err
	}
	for _, h := range t.Fixed {
		if err := addHost(t, h); err != nil {
			return err
		}
	}
	return nil
}

// addHost creates a host's namespace with its address, linked to the
// bridge.
func addHost(t Topology, h Host) error {
	steps := [][]string{
		{"ip", "netns", "add", h.NS()},
		{"ip", "-n", h.NS(), "link", "set", "dev", "lo", "alias", t.Owner},
		{"ip", "link", "add", h.Link, "type", "veth", "peer", "name", "eth0", "netns", h.NS()},
		{"ip", "link", "set", "dev", h.Link, "alias", t.Owner},
		{"ip", "link", "set", h.Link, "master", t.Bridge, "up"},
		{"ip", "-n", h.NS(), "link", "set", "lo", "up"},
		{"ip", "-n", h.NS(), "addr", "add", fmt.Sprintf("%s/%d", h.IP, t.PrefixLen), "dev", "eth0"},
		{"ip", "-n", h.NS(), "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// removeHost deletes a host's namespace (which takes its veth pair with
// it); nothing may run in it any more.
func removeHost(h Host) error {
	if err := run("ip", "netns", "del", h.NS()); err != nil {
		return err
	}
	// The link goes with its peer; delete it in case it lingers.
	if err := run("ip", "link", "del", h.Link); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		return err
	}
	return nil
}

// Leftovers lists what a sandbox of this name (running or crashed) left on
// the machine: its namespaces, links and state directory — only those
// that carry its mark (see owner.go), never another's that merely match
// its names.
func Leftovers(cfg Config) []string {
	mine, _ := survey(cfg.withDefaults())
	return mine
}

// teardown removes everything a sandbox created, whether or not it is
// still running: it stops every process in the sandbox's namespaces
// (TERM, then KILL), deletes the namespaces and links, and the state
// directory — what carries its mark, nothing else.
func teardown(cfg Config) error {
	stateDir, logf := cfg.StateDir, cfg.Logf
	mine, _ := survey(cfg)
	var namespaces, links []string
	ownDir := false
	for _, m := range mine {
		kind, name, _ := strings.Cut(m, " ")
		switch kind {
		case "namespace":
			namespaces = append(namespaces, name)
		case "link":
			links = append(links, name)
		case "directory":
			ownDir = true
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			pids := nsPIDs(namespaces)
			if len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				break
			}
			for _, pid := range pids {
				syscall.Kill(pid, sig)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if left := nsPIDs(namespaces); len(left) > 0 {
		return fmt.Errorf("sandbox: processes %v survived SIGKILL", left)
	}
	var errs []string
	for _, ns := range namespaces {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	// The hosts' links went with their namespaces; the bridge and any
	// lingering link go now.
	for _, name := range links {
		if err := run("ip", "link", "del", name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err.Error())
		}
	}
	if ownDir {
		if err := os.RemoveAll(stateDir); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sandbox: teardown: %s", strings.Join(errs, "; "))
	}
	if len(namespaces) > 0 {
		logf("removed %d namespaces, the bridge and %s", len(namespaces), stateDir)
	}
	return nil
}

// nsPIDs lists the processes running in the namespaces.
func nsPIDs(namespaces []string) []int {
	var pids []int
	for _, ns := range namespaces {
		b, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(b)) {
			// Never this process: a thread of it may be visiting a
			// namespace to dial (DialContext).
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// DialContext dials from inside a namespace: the socket is created on an
// OS thread that has entered the namespace, and keeps belonging to it.
func DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			// Come back to this thread's own namespace before unlocking;
			// if that fails, the thread stays locked and dies with this
			// goroutine, so no other goroutine ever runs in the namespace.
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer self.Close()
			target, err := os.Open("/run/netns/" + ns)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
