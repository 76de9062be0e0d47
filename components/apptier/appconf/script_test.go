package appconf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/internal/testtools"
)

// theSecret is what the fake aws CLI returns: it must end up in the output
// file and nowhere else.
const theSecret = `{"engine":"postgres","host":"db.internal","port":5432,"dbname":"webstack","username":"webstack","password":"Sup3r-S3cret-Value"}`

const testARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:webstack/db-AbCdEf"

// fakeAWS is an aws CLI that records its arguments, fails the first
// $FAKE_AWS_FAILS calls, then prints $FAKE_AWS_VALUE like
// "--query SecretString --output text" does.
const fakeAWS = `#!/bin/bash
printf '%s\n' "$@" >"$FAKE_AWS_DIR/args"
n=$(( $(cat "$FAKE_AWS_DIR/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$FAKE_AWS_DIR/count"
if (( n <= ${FAKE_AWS_FAILS:-0} )); then
	echo "An error occurred (InternalServiceError) when calling the GetSecretValue operation" >&2
	exit 254
fi
printf '%s\n' "$FAKE_AWS_VALUE"
`

type scriptRun struct {
	dir            string // holds the output; nothing else
	output         string
	stdout, stderr string
	err            error
	took           time.Duration
	awsDir         string
}

// runScript runs the fetch script with bash -x (so any traced command would
// show the secret) and the fake aws first on PATH.
func runScript(t *testing.T, env map[string]string, args ...string) scriptRun {
	t.Helper()
	bash := testtools.Need(t, "bash", "bash")
	base := t.TempDir()
	r := scriptRun{dir: filepath.Join(base, "out"), awsDir: filepath.Join(base, "aws")}
	r.output = filepath.Join(r.dir, "db.json")
	for _, d := range []string{r.dir, r.awsDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(base, "fetch-db-secret")
	if err := os.WriteFile(script, []byte(SecretsScript()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.awsDir, "aws"), []byte(fakeAWS), 0o755); err != nil {
		t.Fatal(err)
	}
	if args == nil {
		args = []string{r.output}
	}
	cmd := exec.Command(bash, append([]string{"-x", script}, args...)...)
	cmd.Env = []string{
		"PATH=" + r.awsDir + ":/usr/local/bin:/usr/bin:/bin",
		"FAKE_AWS_DIR=" + r.awsDir,
		"FAKE_AWS_VALUE=" + theSecret,
		"WEBSTACK_DB_SECRET_ARN=" + testARN,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	r.err = cmd.Run()
	r.took = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, "S3cret") {
			t.Errorf("the script printed the secret:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	}
	return r
}

func (r scriptRun) exitCode() int {
	var exit *exec.ExitError
	if errors.As(r.err, &exit) {
		return exit.ExitCode()
	}
	if r.err != nil {
		return -1
	}
	return 0
}

// onlyFiles asserts the output directory holds exactly these names (no
// temporary file left behind).
func (r scriptRun) onlyFiles(t *testing.T, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("output directory holds %v, want %v", got, names)
	}
}

func (r scriptRun) awsArgs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.awsDir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " ")
}

func TestSecretsScriptSyntax(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	cmd := exec.Command(bash, "-n")
	cmd.Stdin = strings.NewReader(SecretsScript())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	if !strings.HasPrefix(SecretsScript(), "#!/bin/bash\n") {
		t.Error("the script must start with #!/bin/bash")
	}
}

// TestSecretsScriptWritesTheSecretSilently: the secret lands in a 0600 file
// and in no output, even traced with bash -x.
func TestSecretsScriptWritesTheSecretSilently(t *testing.T) {
	r := runScript(t, nil)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	got, err := os.ReadFile(r.output)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != theSecret+"\n" {
		t.Errorf("output holds %q", got)
	}
	st, err := os.Stat(r.output)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600", st.Mode().Perm())
	}
	r.onlyFiles(t, "db.json")
	want := "secretsmanager get-secret-value --region eu-west-3 --secret-id " + testARN +
		" --query SecretString --output text --cli-connect-timeout 5 --cli-read-timeout 15"
	if args := r.awsArgs(t); args != want {
		t.Errorf("aws called with\n%s\nwant\n%s", args, want)
	}
	if !strings.Contains(r.stdout, "wrote the secret "+testARN+" to "+r.output) {
		t.Errorf("stdout %q", r.stdout)
	}
}

// TestSecretsScriptReplacesAtomically: an existing file (even one with loose
// permissions) is replaced by a new 0600 file, by rename.
func TestSecretsScriptReplacesAtomically(t *testing.T) {
	// A first run sets up the directories; then plant an old, loose file.
	old := runScript(t, nil)
	if err := os.WriteFile(old.output, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old.output, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(old.output)
	r := runScriptIn(t, old)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	after, err := os.Stat(r.output)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after replacing a 0644 file, want 0600", after.Mode().Perm())
	}
	if os.SameFile(before, after) {
		t.Error("the file was rewritten in place, not replaced by rename")
	}
	if got, _ := os.ReadFile(r.output); string(got) != theSecret+"\n" {
		t.Errorf("output holds %q", got)
	}
	r.onlyFiles(t, "db.json")
}

// runScriptIn runs the script again on an earlier run's directories.
func runScriptIn(t *testing.T, prev scriptRun) scriptRun {
	t.Helper()
	bash := testtools.Need(t, "bash", "bash")
	script := filepath.Join(filepath.Dir(prev.dir), "fetch-db-secret")
	cmd := exec.Command(bash, "-x", script, prev.output)
	cmd.Env = []string{
		"PATH=" + prev.awsDir + ":/usr/local/bin:/usr/bin:/bin",
		"FAKE_AWS_DIR=" + prev.awsDir,
		"FAKE_AWS_VALUE=" + theSecret,
		"WEBSTACK_DB_SECRET_ARN=" + testARN,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := prev
	r.err = cmd.Run()
	r.stdout, r.stderr = stdout.String(), stderr.String()
	if strings.Contains(r.stdout+r.stderr, "S3cret") {
		t.Errorf("the script printed the secret:\n%s%s", r.stdout, r.stderr)
	}
	return r
}

// TestSecretsScriptFailure: when every attempt fails, the script exits 1,
// says so, and leaves nothing behind.
func TestSecretsScriptFailure(t *testing.T) {
	r := runScript(t, map[string]string{"FAKE_AWS_FAILS": "99", "WEBSTACK_FETCH_ATTEMPTS": "1"})
	if r.exitCode() != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.exitCode(), r.stderr)
	}
	if !strings.Contains(r.stderr, "could not read "+testARN+" after 1 attempt") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	r.onlyFiles(t)
}

// TestSecretsScriptRetries: a transient failure is retried.
func TestSecretsScriptRetries(t *testing.T) {
	r := runScript(t, map[string]string{"FAKE_AWS_FAILS": "1"})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if got, _ := os.ReadFile(r.output); string(got) != theSecret+"\n" {
		t.Errorf("output holds %q", got)
	}
	if count, _ := os.ReadFile(filepath.Join(r.awsDir, "count")); strings.TrimSpace(string(count)) != "2" {
		t.Errorf("aws called %s times, want 2", count)
	}
	r.onlyFiles(t, "db.json")
	t.Logf("one retry took %v", r.took.Round(time.Millisecond))
}

// TestSecretsScriptBinarySecret: a secret without SecretString is an error.
func TestSecretsScriptBinarySecret(t *testing.T) {
	r := runScript(t, map[string]string{"FAKE_AWS_VALUE": "None"})
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "has no SecretString") {
		t.Fatalf("exit %d, stderr:\n%s", r.exitCode(), r.stderr)
	}
	r.onlyFiles(t)
}

func TestSecretsScriptUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no output", nil, []string{}, "usage"},
		{"relative output", nil, []string{"db.json"}, "usage"},
		{"two outputs", nil, []string{"/a", "/b"}, "usage"},
		{"no ARN", map[string]string{"WEBSTACK_DB_SECRET_ARN": ""}, nil, "WEBSTACK_DB_SECRET_ARN is not set"},
		{"name without region", map[string]string{"WEBSTACK_DB_SECRET_ARN": "webstack/db"}, nil, "no region"},
		{"bad attempts", map[string]string{"WEBSTACK_FETCH_ATTEMPTS": "0"}, nil, "positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runScript(t, tc.env, tc.args...)
			if r.exitCode() != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q in stderr:\n%s", r.exitCode(), tc.want, r.stderr)
			}
		})
	}
}

// TestSecretsScriptRegion: AWS_REGION wins over the ARN, and makes a plain
// secret name usable.
func TestSecretsScriptRegion(t *testing.T) {
	r := runScript(t, map[string]string{"AWS_REGION": "us-west-2", "WEBSTACK_DB_SECRET_ARN": "webstack/db"})
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if args := r.awsArgs(t); !strings.Contains(args, "--region us-west-2 --secret-id webstack/db ") {
		t.Errorf("aws called with %s", args)
	}
}
