// Package bootstraptest tests scripts/bootstrap-backend.sh offline: fake
// aws and pulumi executables first on PATH log every call and answer the few
// queries the script makes from a state directory (does the bucket exist,
// the alias, which stacks), so a test can say what "already exists" means.
package bootstraptest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const (
	bucket  = "foobar-webstack-state"
	account = "123456789012"
)

var stackNames = []string{"dev", "staging", "prod"}

// fakeAWS answers like the AWS CLI v2 for the calls the scripts make; any
// other call fails, so a script cannot make one unnoticed. State files in
// $FAKE_STATE: bucket, bucket-forbidden, key, alias-NAME (the key an alias
// names, NAME with / as _), rotation-KEYID, kms-denied, oidc, role-NAME,
// and the documents IAM would keep: trust-ROLE.json, policy-ROLE.json
// (the inline policy), attached-ROLE (managed policy ARNs, one a line) and
// managed-NAME.json (a managed policy's default version).
// $FAKE_PARTITION is the partition of the credentials (default aws).
const fakeAWS = `#!/usr/bin/env bash
{ printf 'aws'; printf ' %s' "$@"; printf '\n'; } >>"$FAKE_LOG"
st="$FAKE_STATE"
p="${FAKE_PARTITION:-aws}"
arg() { # FLAG: the value after FLAG in the call
	local prev="" a
	for a in "${ARGS[@]}"; do
		[ "$prev" = "$1" ] && { printf '%s' "$a"; return; }
		prev="$a"
	done
}
ARGS=("$@")
region="$(arg --region)"; role="$(arg --role-name)"
keyfile() { local k="$1"; k="${k#alias/}"; printf '%s' "${k//\//_}"; }
case "$1 $2" in
"sts get-caller-identity") echo "arn:$p:iam::` + account + `:user/admin" ;;
"kms describe-key")
	f="$st/alias-$(keyfile "$(arg --key-id)")"
	if [ -f "$st/kms-denied" ]; then
		echo "An error occurred (AccessDeniedException) when calling the DescribeKey operation: not authorized" >&2; exit 254
	elif [ -f "$f" ]; then cat "$f"
	else echo "An error occurred (NotFoundException) when calling the DescribeKey operation: Alias is not found." >&2; exit 254
	fi ;;
"kms create-key")
	arn="arn:$p:kms:$region:` + account + `:key/0b1c2d3e-0000-4000-8000-0000000$(ls "$st" | wc -l)"
	echo "$arn" >"$st/key"; echo "$arn" ;;
"kms create-alias") cp "$st/key" "$st/alias-$(keyfile "$(arg --alias-name)")" ;;
"kms get-key-rotation-status") if [ -f "$st/rotation-$(basename "$(arg --key-id)")" ]; then echo True; else echo False; fi ;;
"kms enable-key-rotation") touch "$st/rotation-$(basename "$(arg --key-id)")" ;;
"s3api head-bucket")
	if [ -f "$st/bucket" ]; then exit 0
	elif [ -f "$st/bucket-forbidden" ]; then
		echo "An error occurred (403) when calling the HeadBucket operation: Forbidden" >&2; exit 254
	else echo "An error occurred (404) when calling the HeadBucket operation: Not Found" >&2; exit 254
	fi ;;
"s3api create-bucket") touch "$st/bucket" ;;
"s3api wait") ;;
"s3api put-public-access-block" | "s3api put-bucket-ownership-controls" | "s3api put-bucket-versioning" | \
"s3api put-bucket-encryption" | "s3api put-bucket-policy") ;;
"iam get-open-id-connect-provider")
	[ -f "$st/oidc" ] || { echo "An error occurred (NoSuchEntity) when calling the GetOpenIDConnectProvider operation: not found" >&2; exit 254; } ;;
"iam create-open-id-connect-provider") touch "$st/oidc" ;;
"iam get-role")
	if [ -f "$st/role-$role" ]; then echo "arn:$p:iam::` + account + `:role/$role"
	else echo "An error occurred (NoSuchEntity) when calling the GetRole operation: The role with name $role cannot be found." >&2; exit 254
	fi ;;
"iam create-role") touch "$st/role-$role"; arg --assume-role-policy-document >"$st/trust-$role.json" ;;
"iam update-assume-role-policy") arg --policy-document >"$st/trust-$role.json" ;;
"iam update-role") ;;
"iam attach-role-policy") arg --policy-arn >>"$st/attached-$role"; echo >>"$st/attached-$role" ;;
"iam put-role-policy") arg --policy-document >"$st/policy-$role.json" ;;
"iam get-policy")
	f="$st/managed-$(basename "$(arg --policy-arn)").json"
	if [ -f "$f" ]; then arg --policy-arn
	else echo "An error occurred (NoSuchEntity) when calling the GetPolicy operation: Policy $(arg --policy-arn) was not found." >&2; exit 254
	fi ;;
"iam create-policy") arg --policy-document >"$st/managed-$(arg --policy-name).json" ;;
"iam list-policy-versions") echo "v1	v2" ;;
"iam delete-policy-version") ;;
"iam create-policy-version") arg --policy-document >"$st/managed-$(basename "$(arg --policy-arn)").json" ;;
*) echo "fake aws: unexpected call: $*" >&2; exit 99 ;;
esac
`

// fakePulumi keeps the backend's stacks as files in $FAKE_STATE/stacks and,
// like the real CLI, writes the secrets provider into Pulumi.<stack>.yaml
// of the working directory. $FAKE_STACK_PREFIX prefixes the names that
// stack ls prints (organization/webstack/ in some backends).
const fakePulumi = `#!/usr/bin/env bash
{ printf 'pulumi'; printf ' %s' "$@"; printf '\n'; } >>"$FAKE_LOG"
st="$FAKE_STATE"; mkdir -p "$st/stacks"
setprovider() { # stack provider
	f="Pulumi.$1.yaml"; touch "$f"
	sed -i '/^secretsprovider:/d; /^encryptedkey:/d; /^encryptionsalt:/d' "$f"
	printf 'secretsprovider: %s\nencryptedkey: ZmFrZS1kYXRhLWtleQ==\n' "$2" >>"$f"
}
case "$1 $2" in
"login s3://"*) echo "Logged in to fake as you ($2)" ;;
"stack ls")
	printf '['; sep=""
	for f in "$st"/stacks/*; do
		[ -e "$f" ] || continue
		printf '%s\n    {\n        "name": "%s%s",\n        "current": false,\n        "updateInProgress": false\n    }' "$sep" "${FAKE_STACK_PREFIX:-}" "$(basename "$f")"
		sep=","
	done
	printf '\n]\n' ;;
"stack init")
	[ "$4" = --secrets-provider ] || { echo "fake pulumi: want stack init NAME --secrets-provider P" >&2; exit 99; }
	[ ! -e "$st/stacks/$3" ] || { echo "error: stack '$3' already exists" >&2; exit 255; }
	touch "$st/stacks/$3"; setprovider "$3" "$5" ;;
"stack change-secrets-provider")
	[ "$3" = --stack ] || { echo "fake pulumi: want --stack NAME PROVIDER" >&2; exit 99; }
	[ -e "$st/stacks/$4" ] || { echo "error: no stack named '$4' found" >&2; exit 255; }
	setprovider "$4" "$5" ;;
*) echo "fake pulumi: unexpected call: $*" >&2; exit 99 ;;
esac
`

type fixture struct {
	project, state, log string
	env                 []string
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// newFixture makes a project directory with copies of the repository's
// Pulumi.yaml and stack files, fake aws and pulumi, and an empty AWS.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	tmp := t.TempDir()
	f := &fixture{
		project: filepath.Join(tmp, "project"),
		state:   filepath.Join(tmp, "state"),
		log:     filepath.Join(tmp, "calls.log"),
	}
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{f.project, f.state, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := repoRoot(t)
	files := []string{"Pulumi.yaml"}
	for _, s := range stackNames {
		files = append(files, "Pulumi."+s+".yaml")
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, name, string(b))
	}
	for name, text := range map[string]string{"aws": fakeAWS, "pulumi": fakePulumi} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_LOG="+f.log, "FAKE_STATE="+f.state)
	return f
}

func (f *fixture) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.project, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.project, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// touch makes a state file: the fake AWS then says that thing exists.
func (f *fixture) touch(t *testing.T, name, text string) {
	t.Helper()
	p := filepath.Join(f.state, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs the script in the fixture's project and returns its combined
// output and exit code.
func (f *fixture) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return f.runScript(t, "bootstrap-backend.sh", append([]string{"--project-dir", f.project}, args...)...)
}

// runScript runs scripts/NAME in the fixture's project directory.
func (f *fixture) runScript(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts", name)
	trackScripts(t)
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Dir = f.project
	cmd.Env = f.env
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("running the script: %v\n%s", err, out)
		return "", -1
	}
}

// trackScripts reads the scripts and their libraries from the test
// process: go test caches a result by the files the test opened, and bash
// opening them does not count, so without this an edited script would
// replay a cached pass.
func trackScripts(t *testing.T) {
	t.Helper()
	for _, pattern := range []string{"*.sh", "lib/*.sh"} {
		files, err := filepath.Glob(filepath.Join(repoRoot(t), "scripts", pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("no scripts/%s: %v", pattern, err)
		}
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// calls returns the logged calls, one line each, and clears the log.
func (f *fixture) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.log); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// index returns the first call containing every part, or -1.
func index(calls []string, parts ...string) int {
	for i, c := range calls {
		ok := true
		for _, p := range parts {
			if !strings.Contains(c, p) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

func mustCall(t *testing.T, calls []string, parts ...string) int {
	t.Helper()
	i := index(calls, parts...)
	if i < 0 {
		t.Errorf("no call with %q among:\n%s", parts, strings.Join(calls, "\n"))
	}
	return i
}

func mustNotCall(t *testing.T, calls []string, parts ...string) {
	t.Helper()
	if i := index(calls, parts...); i >= 0 {
		t.Errorf("unexpected call %s", calls[i])
	}
}

// provider is the secrets provider of a stack: its own key.
func provider(stack, region string) string {
	return "awskms://alias/webstack-pulumi-" + stack + "?region=" + region
}

func TestUsage(t *testing.T) {
	f := newFixture(t)
	out, code := f.run(t, "--help")
	if code != 0 || !strings.Contains(out, "Usage: scripts/bootstrap-backend.sh --bucket NAME --region REGION") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{},
		{"--bucket", bucket},
		{"--region", "us-east-1"},
		{"--bucket", "Not_A_Bucket", "--region", "us-east-1"},
		{"--bucket", bucket, "--region", "useast1"},
		{"--bucket", bucket, "--region", "us-east-1", "--key-alias", "webstack"},
		{"--bucket", bucket, "--region", "us-east-1", "--key-alias", "alias/aws/s3"},
		{"--bucket", bucket, "--region", "us-east-1", "--stacks", ""},
		{"--bucket", bucket, "--region", "us-east-1", "--frobnicate"},
		{"--bucket", bucket, "--region"},
	} {
		out, code := f.run(t, args...)
		if code != 2 || !strings.Contains(out, "--help") {
			t.Errorf("%q: exit %d, want 2 and a pointer to --help\n%s", args, code, out)
		}
	}
	if calls := f.calls(t); len(calls) > 0 {
		t.Errorf("bad usage made calls:\n%s", strings.Join(calls, "\n"))
	}
}

func TestDryRunMakesNoCalls(t *testing.T) {
	f := newFixture(t)
	before := f.read(t, "Pulumi.dev.yaml")
	out, code := f.run(t, "--bucket", bucket, "--region", "eu-west-1", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if calls := f.calls(t); len(calls) > 0 {
		t.Errorf("--dry-run called:\n%s", strings.Join(calls, "\n"))
	}
	if after := f.read(t, "Pulumi.dev.yaml"); after != before {
		t.Errorf("--dry-run changed Pulumi.dev.yaml:\n%s", after)
	}
	// It prints the commands of a first run, ready to paste.
	for _, want := range []string{
		"+ aws kms create-key --region eu-west-1 ",
		"+ aws kms create-alias --region eu-west-1 --alias-name alias/webstack-pulumi ",
		"+ aws kms enable-key-rotation --region eu-west-1 ",
		"+ aws s3api create-bucket --region eu-west-1 --bucket " + bucket + " --create-bucket-configuration LocationConstraint=eu-west-1",
		"+ aws s3api put-bucket-versioning --region eu-west-1 --bucket " + bucket + " --versioning-configuration Status=Enabled",
		"+ aws s3api put-bucket-encryption ",
		"+ aws s3api put-public-access-block ",
		"+ aws s3api put-bucket-ownership-controls ",
		"+ aws s3api put-bucket-policy ",
		"+ pulumi login 's3://" + bucket + "?region=eu-west-1'",
		"+ aws kms create-alias --region eu-west-1 --alias-name alias/webstack-pulumi-prod ",
		"+ pulumi stack init dev --secrets-provider '" + provider("dev", "eu-west-1") + "'",
		"+ pulumi stack init staging --secrets-provider '" + provider("staging", "eu-west-1") + "'",
		"+ pulumi stack init prod --secrets-provider '" + provider("prod", "eu-west-1") + "'",
		"gh variable set PULUMI_STATE_BUCKET --body '" + bucket + "'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not print %q:\n%s", want, out)
		}
	}
}

// A first run creates everything, in an order that works: the key before
// the encryption that names it, the bucket before its settings, login
// before the stacks.
func TestFreshRunCreatesEverything(t *testing.T) {
	f := newFixture(t)
	out, code := f.run(t, "--bucket", bucket, "--region", "eu-west-1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	calls := f.calls(t)
	keyARN := "arn:aws:kms:eu-west-1:" + account + ":key/"
	key := mustCall(t, calls, "aws kms create-key --region eu-west-1")
	alias := mustCall(t, calls, "aws kms create-alias --region eu-west-1 --alias-name alias/webstack-pulumi --target-key-id "+keyARN)
	mustCall(t, calls, "aws kms enable-key-rotation --region eu-west-1 --key-id "+keyARN)
	create := mustCall(t, calls, "aws s3api create-bucket --region eu-west-1 --bucket "+bucket+" --create-bucket-configuration LocationConstraint=eu-west-1")
	settings := []int{
		mustCall(t, calls, "aws s3api put-bucket-versioning", "--bucket "+bucket, "Status=Enabled"),
		mustCall(t, calls, "aws s3api put-bucket-encryption", "--bucket "+bucket,
			// No S3 bucket key: each object is encrypted under its own
			// ARN, which the CI roles' key policies check.
			`"SSEAlgorithm":"aws:kms"`, `"KMSMasterKeyID":"`+keyARN, `"BucketKeyEnabled":false`),
		mustCall(t, calls, "aws s3api put-public-access-block", "--bucket "+bucket,
			"BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"),
		mustCall(t, calls, "aws s3api put-bucket-ownership-controls", "--bucket "+bucket, "ObjectOwnership=BucketOwnerEnforced"),
		mustCall(t, calls, "aws s3api put-bucket-policy", "--bucket "+bucket, `"Effect":"Deny"`,
			`"aws:SecureTransport":"false"`, `"arn:aws:s3:::`+bucket+`/*"`),
	}
	login := mustCall(t, calls, "pulumi login s3://"+bucket+"?region=eu-west-1")
	if t.Failed() {
		return
	}
	if !(key < alias && alias < settings[1]) {
		t.Errorf("the key must exist before the bucket encryption names it:\n%s", strings.Join(calls, "\n"))
	}
	for _, s := range settings {
		if s < create {
			t.Errorf("%s before the bucket is created", calls[s])
		}
	}
	// Each stack has a key of its own, tagged with its environment, and
	// the bucket's key is none of them.
	keys := map[string]bool{}
	for _, s := range stackNames {
		if i := mustCall(t, calls, "aws kms create-key --region eu-west-1", "TagKey=Environment,TagValue="+s+" "); i >= 0 {
			mustCall(t, calls[i:], "aws kms create-alias --region eu-west-1 --alias-name alias/webstack-pulumi-"+s+" --target-key-id "+keyARN)
		}
		if i := mustCall(t, calls, "pulumi stack init "+s+" --secrets-provider "+provider(s, "eu-west-1")); i >= 0 && i < login {
			t.Errorf("stack init %s before pulumi login", s)
		}
		if got := f.read(t, "Pulumi."+s+".yaml"); !strings.Contains(got, "\nsecretsprovider: "+provider(s, "eu-west-1")+"\n") {
			t.Errorf("Pulumi.%s.yaml has no KMS secrets provider of its own:\n%s", s, got)
		}
		b, err := os.ReadFile(filepath.Join(f.state, "alias-webstack-pulumi-"+s))
		if err != nil {
			t.Fatal(err)
		}
		keys[string(b)] = true
	}
	if b, err := os.ReadFile(filepath.Join(f.state, "alias-webstack-pulumi")); err != nil || keys[string(b)] || len(keys) != len(stackNames) {
		t.Errorf("want one key per stack and another for the bucket; got stack keys %v, bucket key %q (%v)", keys, b, err)
	}
	mustNotCall(t, calls, "change-secrets-provider")
	if !strings.Contains(out, "git add Pulumi.dev.yaml Pulumi.staging.yaml Pulumi.prod.yaml") {
		t.Errorf("the output does not say to commit the stack files:\n%s", out)
	}
}

func TestUSEast1CreatesBucketWithoutLocationConstraint(t *testing.T) {
	f := newFixture(t)
	out, code := f.run(t, "--bucket", bucket, "--region", "us-east-1", "--stacks", "dev")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	calls := f.calls(t)
	if i := mustCall(t, calls, "aws s3api create-bucket"); i >= 0 && strings.Contains(calls[i], "LocationConstraint") {
		t.Errorf("us-east-1 takes no LocationConstraint: %s", calls[i])
	}
	mustCall(t, calls, "pulumi stack init dev --secrets-provider "+provider("dev", "us-east-1"))
	mustNotCall(t, calls, "pulumi stack init staging")
}

func TestSecondRunCreatesNothing(t *testing.T) {
	f := newFixture(t)
	args := []string{"--bucket", bucket, "--region", "eu-west-1"}
	if out, code := f.run(t, args...); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	f.calls(t)
	files := map[string]string{}
	for _, s := range stackNames {
		files[s] = f.read(t, "Pulumi."+s+".yaml")
	}

	out, code := f.run(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	calls := f.calls(t)
	for _, c := range []string{"create-bucket", "create-key", "create-alias", "enable-key-rotation",
		"stack init", "change-secrets-provider"} {
		mustNotCall(t, calls, c)
	}
	// It still looks, and re-applies the bucket's settings.
	mustCall(t, calls, "aws s3api head-bucket")
	mustCall(t, calls, "aws kms describe-key", "alias/webstack-pulumi ")
	mustCall(t, calls, "aws kms describe-key", "alias/webstack-pulumi-prod ")
	mustCall(t, calls, "aws s3api put-bucket-encryption")
	mustCall(t, calls, "pulumi stack ls --json")
	for _, s := range stackNames {
		if got := f.read(t, "Pulumi."+s+".yaml"); got != files[s] {
			t.Errorf("Pulumi.%s.yaml changed on the second run:\n%s", s, got)
		}
	}
	if !strings.Contains(out, "Stack files: unchanged.") {
		t.Errorf("the second run should say the stack files are unchanged:\n%s", out)
	}
}

// Stacks that exist keep their state; only a different secrets provider is
// changed, read from the stack file's secretsprovider line.
func TestExistingStacksChangeOnlyAnotherProvider(t *testing.T) {
	for _, prefix := range []string{"", "organization/webstack/"} {
		t.Run("names "+prefix+"dev", func(t *testing.T) {
			f := newFixture(t)
			f.env = append(f.env, "FAKE_STACK_PREFIX="+prefix)
			for _, s := range stackNames {
				f.touch(t, "stacks/"+s, "")
			}
			f.write(t, "Pulumi.dev.yaml", "secretsprovider: awskms://alias/old?region=us-east-1\nencryptedkey: b2xk\nconfig: {}\n")
			f.write(t, "Pulumi.staging.yaml", "encryptionsalt: v1:abc\nconfig: {}\n") // passphrase
			f.write(t, "Pulumi.prod.yaml", "secretsprovider: \""+provider("prod", "us-east-1")+"\"\nencryptedkey: cHJvZA==\nconfig: {}\n")
			prod := f.read(t, "Pulumi.prod.yaml")

			out, code := f.run(t, "--bucket", bucket, "--region", "us-east-1")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			calls := f.calls(t)
			mustNotCall(t, calls, "stack init")
			mustCall(t, calls, "pulumi stack change-secrets-provider --stack dev "+provider("dev", "us-east-1"))
			mustCall(t, calls, "pulumi stack change-secrets-provider --stack staging "+provider("staging", "us-east-1"))
			mustNotCall(t, calls, "change-secrets-provider --stack prod")
			if got := f.read(t, "Pulumi.prod.yaml"); got != prod {
				t.Errorf("Pulumi.prod.yaml changed:\n%s", got)
			}
			if !strings.Contains(out, "git add Pulumi.dev.yaml Pulumi.staging.yaml &&") {
				t.Errorf("the output should name the two changed stack files:\n%s", out)
			}
		})
	}
}

// Existing keys without rotation get rotation, and no second key.
func TestExistingKeyGetsRotation(t *testing.T) {
	f := newFixture(t)
	f.touch(t, "alias-webstack-pulumi", "arn:aws:kms:us-east-1:"+account+":key/existing\n")
	for _, s := range stackNames {
		f.touch(t, "alias-webstack-pulumi-"+s, "arn:aws:kms:us-east-1:"+account+":key/existing-"+s+"\n")
	}
	out, code := f.run(t, "--bucket", bucket, "--region", "us-east-1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	calls := f.calls(t)
	mustNotCall(t, calls, "create-key")
	mustNotCall(t, calls, "create-alias")
	mustCall(t, calls, "aws kms enable-key-rotation --region us-east-1 --key-id arn:aws:kms:us-east-1:"+account+":key/existing")
	for _, s := range stackNames {
		mustCall(t, calls, "aws kms enable-key-rotation --region us-east-1 --key-id arn:aws:kms:us-east-1:"+account+":key/existing-"+s)
	}
	mustCall(t, calls, "put-bucket-encryption", `"KMSMasterKeyID":"arn:aws:kms:us-east-1:`+account+`:key/existing"`)
}

// Errors other than "not found" stop the script before it creates anything.
func TestLookupErrorsStop(t *testing.T) {
	for _, tc := range []struct{ state, want string }{
		{"bucket-forbidden", "exists but these credentials cannot use it"},
		{"kms-denied", "cannot look up alias/webstack-pulumi"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			f := newFixture(t)
			f.touch(t, tc.state, "")
			out, code := f.run(t, "--bucket", bucket, "--region", "us-east-1")
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want 1 and %q\n%s", code, tc.want, out)
			}
			calls := f.calls(t)
			mustNotCall(t, calls, "create-bucket")
			mustNotCall(t, calls, "pulumi login")
			mustNotCall(t, calls, "create-key")
		})
	}
}

// The scripts parse, and pass shellcheck where it is installed.
func TestScriptsLint(t *testing.T) {
	root := repoRoot(t)
	trackScripts(t)
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := filepath.Glob(filepath.Join(root, "scripts", "lib", "*.sh"))
	checked := append(scripts, lib...)
	if len(checked) == 0 {
		t.Fatal("no scripts found")
	}
	for _, s := range checked {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck not installed: only bash -n was run")
		return
	}
	var out bytes.Buffer
	cmd := exec.Command(sc, append([]string{"-x"}, checked...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out.String())
	}
}
