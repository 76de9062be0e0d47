package host_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/testtools"
)

func bootstrapArgs() host.BootstrapArgs {
	return host.BootstrapArgs{
		Group: "webstack-dev-web", Tier: "web", Region: "us-east-1",
		Bucket: "webstack-dev-123456789012-us-east-1", BundleKey: "bundles/web.sh",
		Packages: []string{"nginx"},
	}
}

func TestBootstrapIsValidCloudConfigUnderTheLimit(t *testing.T) {
	doc, err := host.Bootstrap(bootstrapArgs()).Render()
	if err != nil {
		t.Fatal(err)
	}
	ud, err := cloudinit.Encode(doc)
	if err != nil || ud.Size > cloudinit.MaxUserData {
		t.Fatalf("user data: %d bytes, %v", ud.Size, err)
	}
	ci := testtools.Need(t, "cloud-init", "cloud-init")
	f := filepath.Join(t.TempDir(), "user-data")
	os.WriteFile(f, doc, 0o600)
	out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
		t.Fatalf("cloud-init schema: %v\n%s", err, out)
	}
}

// syncHost prepares a fake host: host.env, a state directory and an `aws`
// that serves s3://bucket/key from a local directory.
func syncHost(t *testing.T) (dir, bucketDir string, run func() (string, error)) {
	t.Helper()
	dir = t.TempDir()
	bucketDir = filepath.Join(dir, "s3", "webstack-dev-123456789012-us-east-1")
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(filepath.Join(bucketDir, "bundles"), 0o755)
	os.MkdirAll(bin, 0o755)
	fakeAWS := `#!/bin/bash
# fake aws: s3 cp [flags] s3://BUCKET/KEY DEST
set -euo pipefail
args=(); for a in "$@"; do case "$a" in --only-show-errors) ;; --region) shift_next=1 ;; *) if [ "${shift_next:-}" = 1 ]; then shift_next=; else args+=("$a"); fi ;; esac; done
[ "${args[0]} ${args[1]}" = "s3 cp" ] || { echo "unexpected: $*" >&2; exit 2; }
src=${args[2]#s3://}
cp "` + filepath.Join(dir, "s3") + `/$src" "${args[3]}"
`
	os.WriteFile(filepath.Join(bin, "aws"), []byte(fakeAWS), 0o755)
	env := filepath.Join(dir, "host.env")
	os.WriteFile(env, []byte(host.HostEnv(bootstrapArgs())), 0o644)
	script := filepath.Join(dir, "webstack-sync")
	os.WriteFile(script, []byte(host.SyncScript), 0o755)
	run = func() (string, error) {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "WEBSTACK_HOST_ENV="+env, "WEBSTACK_STATE="+filepath.Join(dir, "state"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	return dir, bucketDir, run
}

func TestSyncAppliesABundleOnceAndEachChange(t *testing.T) {
	dir, bucket, run := syncHost(t)
	counter := filepath.Join(dir, "applied-count")
	publish := func(content string) {
		script, err := host.Bundle{
			Name:     "web",
			Files:    []host.File{{Path: filepath.Join(dir, "etc", "site.conf"), Content: content}},
			Check:    []string{"grep -qv broken " + filepath.Join(dir, "etc", "site.conf")},
			Activate: []string{"echo x >> " + counter},
		}.Script()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(bucket, "bundles", "web.sh"), []byte(script), 0o644)
	}
	applied := func() int {
		b, _ := os.ReadFile(counter)
		return strings.Count(string(b), "x")
	}

	// Before the bundle exists (first boot): fail, to be retried.
	if out, err := run(); err == nil || !strings.Contains(out, "not readable yet") {
		t.Fatalf("missing bundle: err=%v out=%s", err, out)
	}
	publish("v1")
	if out, err := run(); err != nil || applied() != 1 {
		t.Fatalf("first apply: %v %s (applied %d)", err, out, applied())
	}
	if out, err := run(); err != nil || applied() != 1 {
		t.Fatalf("unchanged bundle was applied again: %v %s", err, out)
	}
	publish("v2")
	if _, err := run(); err != nil || applied() != 2 || read(t, filepath.Join(dir, "etc", "site.conf")) != "v2\n" {
		t.Fatalf("changed bundle not applied (applied %d)", applied())
	}
	// A bundle whose check fails is not recorded: it is tried again, and
	// the host keeps v2 meanwhile.
	publish("broken")
	for i := 0; i < 2; i++ {
		if _, err := run(); err == nil {
			t.Fatal("failing bundle reported success")
		}
	}
	if got := read(t, filepath.Join(dir, "etc", "site.conf")); got != "v2\n" || applied() != 2 {
		t.Errorf("after a failed bundle: file %q, applied %d", got, applied())
	}
}
