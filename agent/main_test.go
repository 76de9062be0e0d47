package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/hostagent"
)

// TestMain runs main instead of the tests when the test binary is started
// as the agent (runAgent).
func TestMain(m *testing.M) {
	if os.Getenv("WEBSTACK_AGENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runAgent starts this test binary as webstack-agent with args, its AWS
// endpoints pointing at a closed port.
func runAgent(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		"WEBSTACK_AGENT_TEST_MAIN=1",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func TestStopsCleanlyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cfg := hostagent.Config{
		Region: "eu-west-1", Tier: "app", Group: "g", LaunchHook: "l", TerminateHook: "t",
		Interval: hostagent.Duration(100 * time.Millisecond), StateDir: dir,
		Ready:  hostagent.Ready{URL: "http://127.0.0.1:1/", Timeout: hostagent.Duration(time.Minute)},
		Health: hostagent.Health{URL: "http://127.0.0.1:1/", Failures: 3, Timeout: hostagent.Duration(time.Second)},
		Drain:  hostagent.Drain{Port: 8080, Quiet: hostagent.Duration(time.Second), Timeout: hostagent.Duration(time.Minute)},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, out := runAgent(t, "-config", path)
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
		if strings.Contains(out.Text(), "cannot read the instance id") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop within 10 s of SIGTERM")
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "agent: ") {
			t.Errorf("line %d lacks the prefix: %q", i+1, l)
		}
	}
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "agent: started: app host of group g") || lines[len(lines)-1] != "agent: stopped" {
		t.Errorf("output:\n%s", strings.Join(lines, "\n"))
	}
	if n := strings.Count(strings.Join(lines, "\n"), "cannot read the instance id"); n != 1 {
		t.Errorf("the metadata failure was logged %d times, want once", n)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.json")
	os.WriteFile(path, []byte(`{"group": "g", "interval": 2}`), 0o644)
	for _, args := range [][]string{{"-config", path}, {"-config", filepath.Join(dir, "missing.json")}, {"extra"}} {
		cmd, out := runAgent(t, args...)
		var lines []string
		for out.Scan() {
			lines = append(lines, out.Text())
		}
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || len(lines) == 0 || !strings.HasPrefix(lines[0], "agent: ") {
			t.Errorf("%v: %v, output %q; want exit 2 with a reason", args, err, lines)
		}
	}
}

func TestRegionOf(t *testing.T) {
	for az, want := range map[string]string{
		"eu-west-1a":       "eu-west-1",
		"us-east-1f":       "us-east-1",
		"ap-southeast-2c":  "ap-southeast-2",
		"us-gov-west-1a":   "us-gov-west-1",
		"us-west-2-lax-1a": "us-west-2",
		"cn-north-1b":      "cn-north-1",
		"":                 "",
		"nonsense":         "",
	} {
		if got := regionOf(az); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", az, got, want)
		}
	}
}
