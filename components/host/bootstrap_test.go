package host_test

import (
	"crypto/ed25519"
	"crypto/sha256"
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
		Packages: []string{"nginx"}, PublicKey: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA3aT1x0fxJ8VD1WNMZbJgvaXlpV8Fq5DjWs7sa5Kdr8Y=\n-----END PUBLIC KEY-----\n",
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

// webstack-sync passes shellcheck.
func TestSyncScriptPassesShellcheck(t *testing.T) {
	sc := testtools.Need(t, "shellcheck", "shellcheck")
	f := filepath.Join(t.TempDir(), "webstack-sync")
	os.WriteFile(f, []byte(host.SyncScript), 0o755)
	if out, err := exec.Command(sc, "-s", "bash", f).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// testKey is a fixed signing key for the tests (never a stack's).
func testKey(t *testing.T, label string) ed25519.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("webstack test signing key " + label))
	k, err := host.SigningKey(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// syncHost prepares a fake host: host.env, the pinned public key of
// testKey("deploy"), a state directory and an `aws` that serves
// s3://bucket/key from a local directory. The real openssl verifies.
func syncHost(t *testing.T) (dir, bucketDir string, run func() (string, error)) {
	t.Helper()
	testtools.Need(t, "openssl", "openssl")
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
	// fake rpm and dnf: a package is installed when <dir>/rpmdb/<name>
	// exists; dnf logs its arguments and fails while <dir>/no-repo exists
	// (the first boot's race with the S3 endpoint).
	rpmdb := filepath.Join(dir, "rpmdb")
	os.MkdirAll(rpmdb, 0o755)
	os.WriteFile(filepath.Join(bin, "rpm"), []byte(`#!/bin/bash
[ "$1 $2" = "-q --quiet" ] || { echo "unexpected rpm $*" >&2; exit 2; }
[ -e "`+rpmdb+`/$3" ]
`), 0o755)
	os.WriteFile(filepath.Join(bin, "dnf"), []byte(`#!/bin/bash
echo "$*" >> "`+filepath.Join(dir, "dnf.log")+`"
[ "$1 $2" = "install -y" ] || { echo "unexpected dnf $*" >&2; exit 2; }
[ ! -e "`+filepath.Join(dir, "no-repo")+`" ] || { echo "Cannot download repomd.xml" >&2; exit 1; }
shift 2; for p in "$@"; do touch "`+rpmdb+`/$p"; done
`), 0o755)
	env := filepath.Join(dir, "host.env")
	os.WriteFile(env, []byte(host.HostEnv(bootstrapArgs())), 0o644)
	pub, err := host.PublicKeyPEM(testKey(t, "deploy").Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	signingKey := filepath.Join(dir, "signing-key.pem")
	os.WriteFile(signingKey, []byte(pub), 0o644)
	script := filepath.Join(dir, "webstack-sync")
	os.WriteFile(script, []byte(host.SyncScript), 0o755)
	run = func() (string, error) {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "WEBSTACK_HOST_ENV="+env,
			"WEBSTACK_STATE="+filepath.Join(dir, "state"), "WEBSTACK_SIGNING_KEY="+signingKey)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	return dir, bucketDir, run
}

// seal signs a script as the program does.
func seal(t *testing.T, k ed25519.PrivateKey, key string, serial int64, script string) string {
	t.Helper()
	env, err := host.Seal(k, host.Envelope{Key: key, Serial: serial, Script: script})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestSyncAppliesABundleOnceAndEachChange(t *testing.T) {
	dir, bucket, run := syncHost(t)
	counter := filepath.Join(dir, "applied-count")
	key := bootstrapArgs().BundleKey
	serial := int64(0)
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
		serial++
		os.WriteFile(filepath.Join(bucket, key), []byte(seal(t, testKey(t, "deploy"), key, serial, script)), 0o644)
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

// TestSyncRunsOnlyBundlesSignedForThisHost publishes, after a good bundle,
// everything a writer of the bucket without the signing key could put at
// the host's key: each is refused with nothing of it run (its script
// would leave a marker), the good bundle stays applied, and Go's Open and
// Accepts reach the same verdict as the shell. A newer good bundle is
// then applied.
func TestSyncRunsOnlyBundlesSignedForThisHost(t *testing.T) {
	dir, bucket, run := syncHost(t)
	key := bootstrapArgs().BundleKey
	deploy, other := testKey(t, "deploy"), testKey(t, "other")
	site, marker := filepath.Join(dir, "site.conf"), filepath.Join(dir, "evil-ran")
	good := func(v string) string { return "#!/bin/bash\nset -e\necho " + v + " > " + site + "\n" }
	evil := "#!/bin/bash\ntouch " + marker + "\necho evil > " + site + "\n"
	publish := func(envelope string) { os.WriteFile(filepath.Join(bucket, key), []byte(envelope), 0o644) }
	appliedPath := filepath.Join(dir, "state", "applied")

	publish(seal(t, deploy, key, 5, good("v5")))
	if out, err := run(); err != nil || read(t, site) != "v5\n" {
		t.Fatalf("good bundle: %v\n%s", err, out)
	}
	applied := read(t, appliedPath)
	appliedEnv, err := host.Open(deploy.Public().(ed25519.PublicKey), applied)
	if err != nil {
		t.Fatalf("the applied bundle does not open in Go: %v", err)
	}

	flip := func(s string, at int) string { b := []byte(s); b[at] ^= 1; return string(b) }
	// flipSig changes a signature character to another base64 one (a
	// flipped bit can leave the alphabet: '+' becomes '*'), so that the
	// signature is well-formed and wrong whatever the temp dir's name.
	flipSig := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	signed := seal(t, deploy, key, 6, evil)
	for _, c := range []struct{ name, envelope, reason string }{
		{"unsigned script", evil, "not signed"},
		{"one byte of the script changed", flip(signed, len(signed)-3), "does not verify"},
		{"one byte of the header changed (serial 6 to 7)", strings.Replace(signed, "#serial 6", "#serial 7", 1), "does not verify"},
		{"one byte of the signature changed", flipSig(signed, len(host.SignatureTag)+3), "does not verify"},
		{"signed by another key", seal(t, other, key, 6, evil), "does not verify"},
		{"an older signed bundle (rollback)", seal(t, deploy, key, 4, evil), "older than the applied bundle's 5"},
		{"the applied serial with other content", seal(t, deploy, key, 5, evil), "with other content"},
		{"signed for another bundle key", seal(t, deploy, "bundles/lb/current.sh", 6, evil), "not of this host's " + key},
		{"signature line missing", strings.SplitN(signed, "\n", 2)[1], "not signed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			publish(c.envelope)
			out, err := run()
			if err == nil || !strings.Contains(out, "REFUSED") || !strings.Contains(out, c.reason) {
				t.Errorf("webstack-sync: err=%v, output:\n%s\nwant a refusal saying %q", err, out, c.reason)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the refused bundle's script ran")
			}
			if got := read(t, site); got != "v5\n" || read(t, appliedPath) != applied {
				t.Errorf("after the refusal: site %q; the applied bundle changed: %v", got, read(t, appliedPath) != applied)
			}
			// Go's verdict is the shell's.
			e, err := host.Open(deploy.Public().(ed25519.PublicKey), c.envelope)
			if err == nil {
				err = host.Accepts(key, &appliedEnv, e)
			}
			if err == nil {
				t.Errorf("Go's Open and Accepts take what webstack-sync refused")
			}
		})
	}

	publish(seal(t, deploy, key, 6, good("v6")))
	if out, err := run(); err != nil || read(t, site) != "v6\n" || !strings.Contains(out, "serial 6") {
		t.Fatalf("newer good bundle: %v\n%s", err, out)
	}
	if e, err := host.Open(deploy.Public().(ed25519.PublicKey), read(t, appliedPath)); err != nil || host.Accepts(key, &appliedEnv, e) != nil || e.Serial != 6 {
		t.Errorf("Go does not accept the bundle webstack-sync applied: %v %+v", err, e)
	}
	if out, err := run(); err != nil || strings.Contains(out, "applying") {
		t.Errorf("an unchanged bundle was applied again: %v\n%s", err, out)
	}
}

// Packages cloud-init could not install at first boot (no route to the
// repositories yet) are installed by webstack-sync on a later run, before
// any bundle is applied; installed packages are not reinstalled.
func TestSyncInstallsMissingPackagesBeforeTheBundleAndRetries(t *testing.T) {
	dir, bucket, run := syncHost(t)
	key := bootstrapArgs().BundleKey
	marker := filepath.Join(dir, "bundle-ran")
	os.WriteFile(filepath.Join(bucket, key), []byte(seal(t, testKey(t, "deploy"), key, 1, "touch "+marker+"\n")), 0o644)
	os.WriteFile(filepath.Join(dir, "no-repo"), nil, 0o644)
	out, err := run()
	if err == nil || !strings.Contains(out, "dnf install nginx failed") {
		t.Fatalf("a failed install must fail the run and say so: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the bundle ran although its packages are missing")
	}
	os.Remove(filepath.Join(dir, "no-repo"))
	if out, err := run(); err != nil || !strings.Contains(out, "installing missing packages: nginx") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the bundle did not run once its packages were installed")
	}
	if out, err := run(); err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "dnf.log"))
	if got := strings.Count(string(log), "install -y nginx"); got != 2 {
		t.Errorf("dnf ran %d times, want 2 (the failed try and the retry; none once installed):\n%s", got, log)
	}
}

// Values that would be interpreted in host.env or by dnf are refused,
// each naming its field.
func TestBootstrapArgsRefuseHostileValues(t *testing.T) {
	if err := bootstrapArgs().Validate(); err != nil {
		t.Fatalf("valid args: %v", err)
	}
	a := bootstrapArgs()
	a.Region = "us-east-1\nWEBSTACK_BUCKET=evil"
	a.Bucket = "b$(reboot)"
	a.Packages = []string{"nginx", "--setopt=gpgcheck=0", "vim; rm -rf /"}
	a.BundleKey = "../x"
	err := a.Validate()
	if err == nil {
		t.Fatal("hostile values accepted")
	}
	for _, want := range []string{"Region", "Bucket", "Packages[1]", "Packages[2]", "BundleKey", "an RPM package name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "Packages[0]") {
		t.Errorf("a valid package was refused: %v", err)
	}
}
