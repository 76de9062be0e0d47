package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
)

// install-release fetches a release from the bucket, refuses one whose
// checksum differs, and points current at the one it installed.
func TestInstallReleaseChecksAndSwitches(t *testing.T) {
	dir := t.TempDir()
	bucket := filepath.Join(dir, "s3", "bucket")
	os.MkdirAll(filepath.Join(bucket, "releases", "app"), 0o755)
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "aws"), []byte(`#!/bin/bash
# fake aws: s3 cp [flags] s3://BUCKET/KEY DEST
args=(); skip=; for a in "$@"; do if [ -n "$skip" ]; then skip=; continue; fi; case "$a" in --only-show-errors) ;; --region) skip=1 ;; *) args+=("$a") ;; esac; done
cp "`+filepath.Join(dir, "s3")+`/${args[2]#s3://}" "${args[3]}"
`), 0o755)
	env := filepath.Join(dir, "host.env")
	os.WriteFile(env, []byte("WEBSTACK_BUCKET=bucket\nAWS_REGION=us-east-1\n"), 0o644)
	root := filepath.Join(dir, "root")
	// The script's paths are absolute: run it with /opt/webstack and the
	// host.env redirected into the test's directory.
	script := strings.NewReplacer("/opt/webstack", root, host.HostEnvPath, env).Replace(host.InstallReleaseScript)
	os.WriteFile(filepath.Join(dir, "install-release"), []byte(script), 0o755)
	install := func(content, sum string) (string, error) {
		os.WriteFile(filepath.Join(bucket, "releases", "app", "x"), []byte(content), 0o644)
		cmd := exec.Command("bash", filepath.Join(dir, "install-release"), "webstack-app", "releases/app/x", sum)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	if out, err := install("v1", sum("v1")); err != nil {
		t.Fatalf("install: %v %s", err, out)
	}
	current := filepath.Join(root, "webstack-app", "current", "webstack-app")
	if b, _ := os.ReadFile(current); string(b) != "v1" {
		t.Errorf("current = %q", b)
	}
	if out, err := install("tampered", sum("v2")); err == nil {
		t.Errorf("a release with the wrong checksum was installed: %s", out)
	}
	if b, _ := os.ReadFile(current); string(b) != "v1" {
		t.Errorf("after a refused release current = %q, want v1", b)
	}
	if out, err := install("v2", sum("v2")); err != nil {
		t.Fatalf("install v2: %v %s", err, out)
	}
	if b, _ := os.ReadFile(current); string(b) != "v2" {
		t.Errorf("current = %q, want v2", b)
	}
	if _, err := install("v2", "not-a-sum"); err == nil {
		t.Error("a malformed checksum was accepted")
	}
}
