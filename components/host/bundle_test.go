package host_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
)

// runBundle renders and runs a bundle script with bash, its state directory
// inside dir.
func runBundle(t *testing.T, dir string, b host.Bundle) (string, error) {
	t.Helper()
	script, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "bundle.sh")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	cmd := exec.Command("bash", f)
	cmd.Env = append(os.Environ(), "WEBSTACK_STATE="+state)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBundleInstallsChecksAndActivates(t *testing.T) {
	dir := t.TempDir()
	conf, secret, marker := filepath.Join(dir, "etc/app/app.conf"), filepath.Join(dir, "etc/app/secret"), filepath.Join(dir, "activated")
	tricky := "quotes ' \" $HOME `date` \\ and\nWEBSTACK_EOF\n"
	b := host.Bundle{
		Name: "test",
		Files: []host.File{
			{Path: conf, Content: tricky},
			{Path: secret, Content: "x", Mode: "0600"},
		},
		Check:    []string{"grep -q quotes " + conf},
		Activate: []string{"touch " + marker},
	}
	if out, err := runBundle(t, dir, b); err != nil {
		t.Fatalf("bundle failed: %v\n%s", err, out)
	}
	if got := read(t, conf); got != tricky {
		t.Errorf("content = %q, want %q (verbatim, no expansion)", got, tricky)
	}
	if got := read(t, secret); got != "x\n" {
		t.Errorf("a final newline is added: %q", got)
	}
	if st, _ := os.Stat(secret); st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("activation did not run")
	}
}

func TestFailedCheckRestoresThePreviousFiles(t *testing.T) {
	dir := t.TempDir()
	conf, added, marker := filepath.Join(dir, "app.conf"), filepath.Join(dir, "new.conf"), filepath.Join(dir, "activated")
	os.WriteFile(conf, []byte("good\n"), 0o644)
	b := host.Bundle{
		Name:     "test",
		Files:    []host.File{{Path: conf, Content: "bad"}, {Path: added, Content: "new"}},
		Check:    []string{"true", "grep -q good " + conf},
		Activate: []string{"touch " + marker},
	}
	out, err := runBundle(t, dir, b)
	if err == nil {
		t.Fatal("a bundle whose check fails succeeded")
	}
	if !strings.Contains(out, "check failed: grep -q good") {
		t.Errorf("output = %q", out)
	}
	if got := read(t, conf); got != "good\n" {
		t.Errorf("old file not restored: %q", got)
	}
	if _, err := os.Stat(added); !os.IsNotExist(err) {
		t.Error("a file new in the failed bundle was left behind")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("activation ran after a failed check")
	}
}

func TestBundleRejectsBadFiles(t *testing.T) {
	for name, f := range map[string]host.File{
		"relative": {Path: "etc/x"},
		"unclean":  {Path: "/etc/../x"},
		"space":    {Path: "/etc/my file"},
		"mode":     {Path: "/etc/x", Mode: "644"},
	} {
		if _, err := (host.Bundle{Name: "t", Files: []host.File{f}}).Script(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (host.Bundle{Name: "t", Files: []host.File{{Path: "/x"}, {Path: "/x"}}}).Script(); err == nil {
		t.Error("duplicate path accepted")
	}
}

func TestParseBundleRoundTrips(t *testing.T) {
	want := host.Bundle{Name: "x", Files: []host.File{
		{Path: "/etc/a.conf", Content: "a\n\nWEBSTACK_EOF\n", Mode: "0644", Owner: "root:root"},
		{Path: "/etc/b", Content: "it's\n", Mode: "0600", Owner: ""},
	}}
	script, err := want.Script()
	if err != nil {
		t.Fatal(err)
	}
	got, err := host.ParseBundle(script)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 2 {
		t.Fatalf("files = %+v", got.Files)
	}
	for i, f := range got.Files {
		if f != want.Files[i] {
			t.Errorf("file %d = %+v, want %+v", i, f, want.Files[i])
		}
	}
}

// A bundle after which the host's service does not answer is rolled back:
// the previous files are put back and activated again.
func TestFailedVerificationRollsBack(t *testing.T) {
	dir := t.TempDir()
	conf, log := filepath.Join(dir, "site.conf"), filepath.Join(dir, "activations")
	os.WriteFile(conf, []byte("good\n"), 0o644)
	b := host.Bundle{
		Name:     "test",
		Files:    []host.File{{Path: conf, Content: "bad"}},
		Activate: []string{"cat " + conf + " >> " + log},
		Verify:   []string{"grep -q good " + conf},
	}
	out, err := runBundle(t, dir, b)
	if err == nil || !strings.Contains(out, "verification failed: grep -q good") {
		t.Fatalf("a bundle failing its verification succeeded: %v %s", err, out)
	}
	if got := read(t, conf); got != "good\n" {
		t.Errorf("the previous file is not back: %q", got)
	}
	if got := read(t, log); got != "bad\ngood\n" {
		t.Errorf("activations %q: want the new files, then the previous ones again", got)
	}
	b.Files[0].Content = "good too"
	if out, err := runBundle(t, dir, b); err != nil {
		t.Errorf("a bundle passing its verification failed: %v %s", err, out)
	}
}

// A file the host's agent maintains is installed only where it is missing.
func TestIfMissingKeepsWhatTheAgentWrote(t *testing.T) {
	dir := t.TempDir()
	servers := filepath.Join(dir, "servers.conf")
	b := host.Bundle{Name: "test", Files: []host.File{{Path: servers, Content: "# none yet", IfMissing: true}}}
	if out, err := runBundle(t, dir, b); err != nil || read(t, servers) != "# none yet\n" {
		t.Fatalf("first install: %v %s", err, out)
	}
	os.WriteFile(servers, []byte("server 10.0.0.5;\n"), 0o644)
	if out, err := runBundle(t, dir, b); err != nil || read(t, servers) != "server 10.0.0.5;\n" {
		t.Errorf("the agent's file was overwritten: %q (%v %s)", read(t, servers), err, out)
	}
	parsed, err := b.Script()
	if err != nil {
		t.Fatal(err)
	}
	if pb, _ := host.ParseBundle(parsed); len(pb.Files) != 1 || !pb.Files[0].IfMissing {
		t.Errorf("ParseBundle lost IfMissing: %+v", pb.Files)
	}
}
