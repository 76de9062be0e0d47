package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What a sandbox owns. A sandbox lists, removes and refuses to collide
// with only what carries its own mark, never what merely matches its
// names: a sandbox named "docker" must not delete docker0.
//
//   - Every link it creates (the bridge, each host's end of its veth pair,
//     and the loopback of each host's namespace) has the alias owner().
//   - Its state directory holds ownerFile with owner() in it.
//   - While it runs, it holds an exclusive lock on lockPath(), which holds
//     its pid: a second sandbox of the same name refuses to start, and Down
//     asks the running one to tear itself down.

// ownerFile marks a state directory as the sandbox's.
const ownerFile = ".webstack-sandbox"

// owner is the mark of a sandbox named c.Name.
func (c Config) owner() string { return "webstack-sandbox " + c.Name }

// lockPath is the lock of the sandboxes named c.Name. It is outside the
// state directory, which teardown removes, and is never deleted.
func (c Config) lockPath() string { return "/run/lock/webstack-sandbox-" + c.Name + ".lock" }

// markLink gives a link (in namespace ns, or the host's when "") the
// sandbox's mark.
func markLink(owner, ns, link string) error {
	args := []string{"link", "set", "dev", link, "alias", owner}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return run("ip", args...)
}

// markStateDir creates the state directory with the sandbox's mark.
func markStateDir(c Config) error {
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.StateDir, ownerFile), []byte(c.owner()+"\n"), 0o644)
}

// survey lists what carries the sandbox's names (its namespaces' prefix,
// its links' prefix and bridge, its state directory): mine are the ones
// with its mark, foreign the others.
func survey(c Config) (mine, foreign []string) {
	sort := func(marked bool, what string) {
		if marked {
			mine = append(mine, what)
		} else {
			foreign = append(foreign, what)
		}
	}
	if b, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], c.nsPrefix()) {
				sort(aliasOf(f[0], "lo") == c.owner(), "namespace "+f[0])
			}
		}
	}
	for name, alias := range links("") {
		if name == c.bridge() || strings.HasPrefix(name, c.linkPrefix()) {
			sort(alias == c.owner(), "link "+name)
		}
	}
	if _, err := os.Stat(c.StateDir); err == nil {
		b, _ := os.ReadFile(filepath.Join(c.StateDir, ownerFile))
		sort(strings.TrimSpace(string(b)) == c.owner(), "directory "+c.StateDir)
	}
	return mine, foreign
}

// links maps the links of namespace ns (the host's when "") to their
// aliases.
func links(ns string) map[string]string {
	args := []string{"-j", "link", "show"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out := map[string]string{}
	b, err := exec.Command("ip", args...).Output()
	if err != nil {
		return out
	}
	var list []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	if json.Unmarshal(b, &list) == nil {
		for _, l := range list {
			out[l.Name] = l.Alias
		}
	}
	return out
}

// aliasOf is the alias of link in namespace ns.
func aliasOf(ns, link string) string { return links(ns)[link] }

// refuseForeign fails, naming them, if anything with the sandbox's names
// is not the sandbox's: creating it would collide, removing it would
// destroy someone else's.
func refuseForeign(c Config) error {
	if _, foreign := survey(c); len(foreign) > 0 {
		return fmt.Errorf("sandbox: refusing to start: %s carry the names of a sandbox named %q but not its mark (%q), so they are someone else's; choose another -name (and -state)",
			strings.Join(foreign, ", "), c.Name, c.owner())
	}
	return nil
}

// lock takes the lock of the sandboxes named c.Name and writes this
// process's pid into it; it fails, naming the running one's pid, if a
// sandbox of that name runs. Closing the file releases it.
func lock(c Config) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(c.lockPath()), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(c.lockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		pid, _ := runningPID(c)
		return nil, fmt.Errorf("sandbox: a sandbox named %q is already running (pid %d, lock %s): stop it first (Ctrl-C where it runs, or sandbox down -name %s), or choose another -name and -subnet",
			c.Name, pid, c.lockPath(), c.Name)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// runningPID is the pid of the running sandbox named c.Name, and whether
// one runs (holds the lock).
func runningPID(c Config) (int, bool) {
	f, err := os.Open(c.lockPath())
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		return 0, false // nobody holds it
	}
	b, _ := os.ReadFile(c.lockPath())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, pid > 0
}

// stopRunning asks the running sandbox named c.Name, if any, to tear
// itself down (SIGTERM, as Ctrl-C) and waits up to wait for it to let go
// of its lock.
func stopRunning(c Config, wait time.Duration) error {
	pid, ok := runningPID(c)
	if !ok {
		return nil
	}
	if pid == os.Getpid() {
		return errors.New("sandbox: Down(cfg) of the sandbox this process runs: call its own Down method")
	}
	c.Logf("asking the running sandbox (pid %d) to tear itself down", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("sandbox: stopping the running sandbox (pid %d): %w", pid, err)
	}
	for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, ok := runningPID(c); !ok {
			return nil
		}
	}
	return fmt.Errorf("sandbox: the running sandbox (pid %d) still holds %s after %v", pid, c.lockPath(), wait)
}
