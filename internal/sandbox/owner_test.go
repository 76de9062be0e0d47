package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/testtools"
)

// ownerConfig is a sandbox that the ownership tests never bring up: its
// name is not the e2e tests' or the default, so they can run beside them.
func ownerConfig(t *testing.T) Config {
	t.Helper()
	testtools.NeedRoot(t)
	testtools.Need(t, "ip", "iproute2")
	testtools.Need(t, "flock", "util-linux")
	return Config{Name: "wsown", Subnet: "10.79.0.0/24", StateDir: filepath.Join(t.TempDir(), "state")}.withDefaults()
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := run(name, args...); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether each of "link X", "namespace X", "directory X"
// is on the machine.
func exists(what string) bool {
	kind, name, _ := strings.Cut(what, " ")
	switch kind {
	case "link":
		return exec.Command("ip", "link", "show", "dev", name).Run() == nil
	case "namespace":
		_, err := os.Stat("/run/netns/" + name)
		return err == nil
	default:
		_, err := os.Stat(name)
		return err == nil
	}
}

// someoneElses creates, with a sandbox's names but without its mark, a
// bridge, a namespace and a state directory holding a file, as another
// program might have (a sandbox named "docker" would find docker0).
func someoneElses(t *testing.T, c Config) []string {
	t.Helper()
	mustRun(t, "ip", "link", "add", c.bridge(), "type", "bridge")
	t.Cleanup(func() { run("ip", "link", "del", c.bridge()) })
	mustRun(t, "ip", "netns", "add", c.nsPrefix()+"db")
	t.Cleanup(func() { run("ip", "netns", "del", c.nsPrefix()+"db") })
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.StateDir, "precious"), []byte("not a sandbox's"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"link " + c.bridge(), "namespace " + c.nsPrefix() + "db", "directory " + c.StateDir}
}

// TestForeignObjectsAreLeftAlone: what merely has a sandbox's names is not
// listed as its leftovers, survives Down, and makes Up refuse to start,
// naming each.
func TestForeignObjectsAreLeftAlone(t *testing.T) {
	c := ownerConfig(t)
	foreign := someoneElses(t, c)
	if left := Leftovers(c); len(left) > 0 {
		t.Errorf("Leftovers lists someone else's objects as the sandbox's: %v", left)
	}
	if err := Down(c); err != nil {
		t.Errorf("Down: %v", err)
	}
	_, err := Up(context.Background(), c)
	if err == nil {
		t.Fatal("Up started beside objects with its names that are not its own")
	}
	for _, f := range foreign {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("Up's error does not name %s: %v", f, err)
		}
		if !exists(f) {
			t.Errorf("%s is gone: Down or Up removed what was not the sandbox's", f)
		}
	}
	if _, err := os.Stat(filepath.Join(c.StateDir, "precious")); err != nil {
		t.Errorf("the foreign state directory's file: %v", err)
	}
}

// TestDownRemovesOnlyWhatIsMarked: the sandbox's own bridge, namespace and
// state directory (marked as Up marks them) are its leftovers and go with
// Down; a link that only shares its link prefix stays.
func TestDownRemovesOnlyWhatIsMarked(t *testing.T) {
	c := ownerConfig(t)
	mustRun(t, "ip", "link", "add", c.bridge(), "type", "bridge")
	t.Cleanup(func() { run("ip", "link", "del", c.bridge()) })
	mustRun(t, "ip", "link", "set", "dev", c.bridge(), "alias", c.owner())
	ns := c.nsPrefix() + "web1"
	mustRun(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { run("ip", "netns", "del", ns) })
	mustRun(t, "ip", "-n", ns, "link", "set", "dev", "lo", "alias", c.owner())
	if err := markStateDir(c); err != nil {
		t.Fatal(err)
	}
	other := c.linkPrefix() + "x"
	mustRun(t, "ip", "link", "add", other, "type", "bridge")
	t.Cleanup(func() { run("ip", "link", "del", other) })

	mine := []string{"link " + c.bridge(), "namespace " + ns, "directory " + c.StateDir}
	left := Leftovers(c)
	slices.Sort(left)
	slices.Sort(mine)
	if !slices.Equal(left, mine) {
		t.Errorf("Leftovers = %v, want %v", left, mine)
	}
	if err := Down(c); err != nil {
		t.Fatal(err)
	}
	for _, m := range mine {
		if exists(m) {
			t.Errorf("Down left the sandbox's %s", m)
		}
	}
	if !exists("link " + other) {
		t.Errorf("Down removed %s, which only shares the sandbox's link prefix", other)
	}
}

// TestSecondSandboxOfTheSameNameIsRefused: while one runs (holds the
// lock), Up of another with its name fails, naming it, and removes none
// of the running one's objects.
func TestSecondSandboxOfTheSameNameIsRefused(t *testing.T) {
	c := ownerConfig(t)
	held, err := lock(c)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	mustRun(t, "ip", "link", "add", c.bridge(), "type", "bridge")
	t.Cleanup(func() { run("ip", "link", "del", c.bridge()) })
	mustRun(t, "ip", "link", "set", "dev", c.bridge(), "alias", c.owner())

	_, err = Up(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), `a sandbox named "wsown" is already running (pid `) {
		t.Fatalf("Up beside a running sandbox of its name: %v", err)
	}
	if !exists("link " + c.bridge()) {
		t.Error("the second Up tore down the running sandbox's bridge")
	}
}

// TestDownStopsTheRunningSandbox: Down from another process asks the
// running sandbox to tear itself down (SIGTERM to the pid in its lock)
// and waits until it let go of the lock.
func TestDownStopsTheRunningSandbox(t *testing.T) {
	c := ownerConfig(t)
	// The running sandbox's stand-in: holds the lock, its pid in it, until
	// a signal ends it.
	if err := os.WriteFile(c.lockPath(), nil, 0o644); err != nil { // no stale pid
		t.Fatal(err)
	}
	running := exec.Command("flock", "-x", c.lockPath(), "sh", "-c", `echo $$ >"$0"; exec sleep 60`, c.lockPath())
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- running.Wait() }()
	defer running.Process.Kill()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// flock runs the shell as its child: the pid is the shell's.
		if pid, ok := runningPID(c); ok && pid != os.Getpid() {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the stand-in never took the lock")
		}
	}
	c.Logf = t.Logf
	if err := Down(c); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("Down returned but the running sandbox did not stop")
	}
	if _, ok := runningPID(c); ok {
		t.Error("the lock is still held after Down")
	}
}
