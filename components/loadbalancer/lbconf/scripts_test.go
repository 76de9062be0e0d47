package lbconf_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/loadbalancer/lbconf"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/testtools"
)

// Stand-ins for the programs the takeover script runs. Each records its
// arguments in $STUBS/<name>.log.
const (
	// curl plays IMDSv2: a token for the PUT, the instance id for a GET
	// that presents it. IMDS_DOWN=1 makes it fail like a missing IMDS.
	stubCurl = `#!/bin/bash
echo "$*" >>"$STUBS/curl.log"
[[ ${IMDS_DOWN:-} == 1 ]] && exit 7
case "$*" in
*"-X PUT"*"X-aws-ec2-metadata-token-ttl-seconds: "*"/latest/api/token") echo -n TOKEN123 ;;
*"X-aws-ec2-metadata-token: TOKEN123"*"/latest/meta-data/instance-id") echo -n i-0abc123 ;;
*) exit 22 ;;
esac
`
	// aws fails its first $AWS_FAILURES calls.
	stubAWS = `#!/bin/bash
echo "$*" >>"$STUBS/aws.log"
if (($(wc -l <"$STUBS/aws.log") <= ${AWS_FAILURES:-0})); then
	echo "An error occurred (RequestLimitExceeded)" >&2
	exit 254
fi
echo eipassoc-0123
`
	stubRecord = `#!/bin/bash
echo "$*" >>"$STUBS/$(basename "$0").log"
`
	// ip plays "ip -o -4 addr show dev lo": the n-th call (n from 1) shows
	// keepalived's MASTER marker iff the n-th character of $MASTER is 1
	// (the last one repeats), so MASTER=10 is a node that loses the
	// election between the takeover's two looks.
	stubIP = `#!/bin/bash
n=$(( $(cat "$STUBS/ip.count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$STUBS/ip.count"
state=${MASTER:-0}
(( n <= ${#state} )) || n=${#state}
echo "1: lo    inet 127.0.0.1/8 scope host lo"
[[ ${state:n-1:1} == 1 ]] && echo "1: lo    inet 127.254.0.51/32 scope host lo"
exit 0
`
)

func TestTakeoverScript(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	const envOK = "# written at boot\nAWS_REGION=\"eu-west-1\"\nWEBSTACK_EIP_ALLOCATION_ID='eipalloc-0123'" // no final newline
	const associate = "ec2 associate-address --region eu-west-1 --allocation-id eipalloc-0123 --instance-id i-0abc123 --allow-reassociation --cli-connect-timeout 2 --cli-read-timeout 5 --output text\n"
	for _, tc := range []struct {
		name      string
		envFile   string // "" = no file
		env       []string
		wantExit  int
		wantAWS   string // aws.log
		wantSleep string // sleep.log
		wantLog   string // in logger.log
	}{
		{"first try", envOK, []string{"MASTER=1"}, 0, associate, "0.5\n",
			"-t webstack-lb -- MASTER: associated eipalloc-0123 with i-0abc123 (attempt 1): eipassoc-0123"},
		{"third try", envOK, []string{"MASTER=1", "AWS_FAILURES=2"}, 0, strings.Repeat(associate, 3), "0.5\n1\n2\n",
			"attempt 2 to associate eipalloc-0123 failed, retrying in 2 s while MASTER: An error occurred (RequestLimitExceeded)"},
		// A MASTER never gives up: the address must end up its own.
		{"keeps trying while MASTER", envOK, []string{"MASTER=1", "AWS_FAILURES=8"}, 0, strings.Repeat(associate, 9), "0.5\n1\n2\n4\n8\n8\n8\n8\n8\n",
			"MASTER: associated eipalloc-0123 with i-0abc123 (attempt 9): eipassoc-0123"},
		// ... but a node that is no longer MASTER stops.
		{"stops when no longer MASTER", envOK, []string{"MASTER=1110", "AWS_FAILURES=99"}, 0, strings.Repeat(associate, 2), "0.5\n1\n2\n",
			"no longer MASTER after 2 attempts: the address stays where it is"},
		// Two BACKUPs became MASTER together; this one lost the election
		// while it waited: the address stays with the winner.
		{"lost the election", envOK, []string{"MASTER=10"}, 0, "", "0.5\n",
			"-t webstack-lb -- MASTER for less than 0.5 s (another node won the election): the address stays where it is"},
		{"not master", envOK, []string{"MASTER=0"}, 0, "", "", "-t webstack-lb -- not MASTER: the address stays where it is"},
		{"no env file", "", []string{"MASTER=1"}, 1, "", "", "takeover failed: cannot read "},
		{"no allocation id", "AWS_REGION=eu-west-1\n", []string{"MASTER=1"}, 1, "", "", "takeover failed: WEBSTACK_EIP_ALLOCATION_ID is not set in "},
		{"no region", "WEBSTACK_EIP_ALLOCATION_ID=eipalloc-0123\n", []string{"MASTER=1"}, 1, "", "", "takeover failed: AWS_REGION is not set in "},
		// IMDS is retried like the association.
		{"no IMDS", envOK, []string{"MASTER=110", "IMDS_DOWN=1"}, 0, "", "0.5\n1\n", "attempt 1 to associate eipalloc-0123 failed, retrying in 1 s while MASTER: no IMDSv2 token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stubs := t.TempDir()
			writeFile(t, stubs, "curl", stubCurl, 0o755)
			writeFile(t, stubs, "aws", stubAWS, 0o755)
			writeFile(t, stubs, "logger", stubRecord, 0o755)
			writeFile(t, stubs, "sleep", stubRecord, 0o755)
			writeFile(t, stubs, "ip", stubIP, 0o755)
			// A directory name that needs quoting in the script.
			dir := filepath.Join(t.TempDir(), "it's a dir")
			check(t, os.Mkdir(dir, 0o755))
			envFile := filepath.Join(dir, "lb.env")
			if tc.envFile != "" {
				writeFile(t, dir, "lb.env", tc.envFile, 0o600)
			}
			script := writeFile(t, dir, "lb-takeover", lbconf.TakeoverScript(envFile, "127.254.0.51/32", filepath.Join(stubs, "takeover.lock")), 0o755)
			env := append([]string{"PATH=" + stubs + ":/usr/bin:/bin", "STUBS=" + stubs}, tc.env...)
			out, code := run(t, env, bash, script)
			read := func(name string) string {
				b, _ := os.ReadFile(filepath.Join(stubs, name+".log"))
				return string(b)
			}
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantExit, out)
			}
			if got := read("aws"); got != tc.wantAWS {
				t.Errorf("aws calls:\n%s\nwant:\n%s", got, tc.wantAWS)
			}
			if got := read("sleep"); got != tc.wantSleep {
				t.Errorf("sleeps %q, want %q", got, tc.wantSleep)
			}
			if got := read("logger"); !strings.Contains(got, tc.wantLog) {
				t.Errorf("syslog:\n%s\nwant a line with %q", got, tc.wantLog)
			}
			if tc.wantAWS != "" && !strings.Contains(read("curl"), "-X PUT") {
				t.Error("the instance id was not read through IMDSv2")
			}
		})
	}
}

// TestOneTakeoverAtATime: while one takeover holds the lock (it retries
// for as long as the node is MASTER), a second one exits at once and calls
// nothing.
func TestOneTakeoverAtATime(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	flock := testtools.Need(t, "flock", "util-linux")
	stubs := t.TempDir()
	for name, text := range map[string]string{"curl": stubCurl, "aws": stubAWS, "logger": stubRecord, "sleep": stubRecord, "ip": stubIP} {
		writeFile(t, stubs, name, text, 0o755)
	}
	env := writeFile(t, stubs, "lb.env", "AWS_REGION=eu-west-1\nWEBSTACK_EIP_ALLOCATION_ID=eipalloc-0123\n", 0o600)
	lock := filepath.Join(stubs, "takeover.lock")
	script := writeFile(t, stubs, "lb-takeover", lbconf.TakeoverScript(env, "127.254.0.51/32", lock), 0o755)
	// The first takeover's stand-in: holds the lock until stdin closes.
	holder := exec.Command(flock, lock, "cat")
	in, err := holder.StdinPipe()
	check(t, err)
	check(t, holder.Start())
	defer func() { in.Close(); holder.Wait() }()
	for end := time.Now().Add(5 * time.Second); exec.Command(flock, "-n", lock, "true").Run() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the lock holder never took the lock")
		}
	}
	out, code := run(t, []string{"PATH=" + stubs + ":/usr/bin:/bin", "STUBS=" + stubs, "MASTER=1"}, bash, script)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	logged, _ := os.ReadFile(filepath.Join(stubs, "logger.log"))
	if !strings.Contains(string(logged), "a takeover is already running") {
		t.Errorf("syslog %q, want \"a takeover is already running\"", logged)
	}
	if _, err := os.Stat(filepath.Join(stubs, "aws.log")); err == nil {
		t.Error("the second takeover called aws while the first held the lock")
	}
}

// TestKeepAddressScript: a BACKUP does nothing; a MASTER that holds the
// Elastic IP does nothing; a MASTER without it runs the takeover, once per
// 15 s while the metadata lags.
func TestKeepAddressScript(t *testing.T) {
	bash := testtools.Need(t, "bash", "bash")
	const (
		marker = "127.254.0.51/32"
		eip    = "203.0.113.7"
	)
	stubIP := `#!/bin/bash
echo "    inet 127.0.0.1/8 scope host lo"
[[ ${MASTER:-} == 1 ]] && echo "    inet ` + marker + ` scope host lo"
exit 0
`
	stubIMDS := `#!/bin/bash
case "$*" in
*"-X PUT"*) echo -n TOKEN ;;
*"X-aws-ec2-metadata-token: TOKEN"*"/meta-data/public-ipv4") [[ -n ${PUBLIC:-} ]] || exit 22; echo -n "$PUBLIC" ;;
*) exit 22 ;;
esac
`
	for _, tc := range []struct {
		name         string
		env          []string
		runs         int
		wantTakeover int
		wantOutput   string
	}{
		{"backup", []string{"MASTER=0", "PUBLIC="}, 1, 0, ""},
		{"master with the address", []string{"MASTER=1", "PUBLIC=" + eip}, 1, 0, ""},
		{"master without it", []string{"MASTER=1", "PUBLIC=198.51.100.9"}, 1, 1, "MASTER without the Elastic IP 203.0.113.7 (this instance has 198.51.100.9): taking it"},
		{"master without any public address, three rounds", []string{"MASTER=1", "PUBLIC="}, 3, 1, "(this instance has no public address): taking it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stubs, dir := t.TempDir(), t.TempDir()
			writeFile(t, stubs, "ip", stubIP, 0o755)
			writeFile(t, stubs, "curl", stubIMDS, 0o755)
			takeover := writeFile(t, stubs, "takeover", stubRecord, 0o755)
			env := writeFile(t, dir, "lb.env", "AWS_REGION=eu-west-1\nWEBSTACK_EIP_ADDRESS="+eip+"\n", 0o600)
			script := writeFile(t, dir, "lb-keep-address", lbconf.KeepAddressScript(env, takeover, marker, filepath.Join(dir, "stamp"), filepath.Join(dir, "vrrp.log")), 0o755)
			var outs string
			for i := 0; i < tc.runs; i++ {
				out, code := run(t, append([]string{"PATH=" + stubs + ":/usr/bin:/bin", "STUBS=" + stubs}, tc.env...), bash, script)
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				outs += out
			}
			// The takeover runs in the background: wait for it.
			ran := func() int {
				b, _ := os.ReadFile(filepath.Join(stubs, "takeover.log"))
				return strings.Count(string(b), "\n")
			}
			for end := time.Now().Add(5 * time.Second); ran() < tc.wantTakeover && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // and for one too many
			if got := ran(); got != tc.wantTakeover {
				t.Errorf("takeover ran %d times, want %d", got, tc.wantTakeover)
			}
			if tc.wantOutput == "" && outs != "" || !strings.Contains(outs, tc.wantOutput) {
				t.Errorf("output %q, want %q", outs, tc.wantOutput)
			}
			// One state line a minute, whatever the rounds, which the
			// monitoring's LBMasters filter reads as this node's state.
			state, _ := os.ReadFile(filepath.Join(dir, "vrrp.log"))
			lines := strings.Split(strings.TrimSpace(string(state)), "\n")
			f, err := signals.ParseFilter(signals.MetricNamed(signals.LBMasters).Pattern)
			if err != nil {
				t.Fatal(err)
			}
			want := 0.0
			if slices.Contains(tc.env, "MASTER=1") {
				want = 1
			}
			if v, ok := signals.MetricValue(signals.MetricNamed(signals.LBMasters).Value, lines[0]); len(lines) != 1 || !f.Match(lines[0]) || !ok || v != want {
				t.Errorf("state lines %q: want one that LBMasters reads as %v", lines, want)
			}
		})
	}
}

func TestCheckScriptFailsWithoutHAProxy(t *testing.T) {
	testtools.Need(t, "curl", "curl")
	script := writeFile(t, t.TempDir(), "lb-check", lbconf.CheckScript("127.0.0.1:1", "/lbhealth"), 0o755)
	if out, code := run(t, os.Environ(), script); code == 0 {
		t.Errorf("check script passed with nothing listening:\n%s", out)
	}
}
