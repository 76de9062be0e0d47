package host_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/testtools"
)

// Ship adds each tier's agent configuration, and a rotation of exactly the
// shipped files no package rotates (nginx's own logrotate file names its
// logs: logrotate refuses a file named twice); the real logrotate accepts
// the rotation; the agent starts after the bundle's own activation, and
// the log directories exist before it.
func TestShipRotatesWhatNoPackageRotates(t *testing.T) {
	logrotate := testtools.Need(t, "logrotate", "logrotate")
	for _, tier := range signals.Tiers {
		b := host.Bundle{Name: string(tier), Activate: []string{"systemctl reload-or-restart daemon"}}
		if err := b.Ship(host.Shipping{Project: "p", Stack: "s", Tier: tier, Group: "p-s-" + string(tier)}); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.File(signals.AgentConfigFile); !ok {
			t.Errorf("%s: no agent configuration", tier)
		}
		var want []string
		for _, f := range signals.LogFiles[tier] {
			if !f.PackageRotates {
				want = append(want, f.Path)
			}
		}
		rot, ok := b.File(host.LogrotateFile)
		if len(want) == 0 {
			if ok {
				t.Errorf("%s: rotates %q, which its package rotates", tier, rot.Content)
			}
		} else {
			if !ok || !strings.Contains(rot.Content, strings.Join(want, " ")+" {") {
				t.Fatalf("%s: rotation %q, want one of %v", tier, rot.Content, want)
			}
			dir := t.TempDir()
			conf := filepath.Join(dir, "webstack")
			if err := os.WriteFile(conf, []byte(rot.Content), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(logrotate, "-d", "-s", filepath.Join(dir, "state"), conf).CombinedOutput(); err != nil || strings.Contains(string(out), "error") {
				t.Errorf("%s: logrotate -d refuses the rotation: %v\n%s", tier, err, out)
			}
		}
		if n := len(b.Activate); !strings.HasPrefix(b.Activate[0], "install -d") || !strings.Contains(b.Activate[n-1], signals.AgentCtl) {
			t.Errorf("%s: activation %v: want the directories first and the agent last", tier, b.Activate)
		}
		if _, err := b.Script(); err != nil {
			t.Errorf("%s: %v", tier, err)
		}
	}
}

// What logs only to the journal (webstack-sync, the agent; keepalived and
// the takeover scripts on the load balancers) is copied to the shipped
// journal file by a unit systemd accepts, enabled and started before the
// CloudWatch agent.
func TestShipCopiesTheJournal(t *testing.T) {
	bin := testtools.SystemdAnalyze(t)
	for _, tier := range signals.Tiers {
		b := host.Bundle{Name: "test"}
		if err := b.Ship(host.Shipping{Project: "webstack", Stack: "dev", Tier: tier, Group: "webstack-dev-" + string(tier)}); err != nil {
			t.Fatal(err)
		}
		f, ok := b.File(host.JournalCopyUnitFile)
		if !ok {
			t.Fatalf("%s: no %s", tier, host.JournalCopyUnitFile)
		}
		for _, m := range signals.JournalSources[tier] {
			if !strings.Contains(f.Content, " "+m+" ") {
				t.Errorf("%s: the copy does not follow %s:\n%s", tier, m, f.Content)
			}
		}
		if !strings.Contains(f.Content, ">>"+signals.JournalLog+"'") || !slices.ContainsFunc(signals.LogFiles[tier], func(l signals.LogFile) bool { return l.Path == signals.JournalLog }) {
			t.Errorf("%s: the copy does not append to a shipped file:\n%s", tier, f.Content)
		}
		unit := filepath.Join(t.TempDir(), host.JournalCopyName+".service")
		if err := os.WriteFile(unit, []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "verify", "--man=no", unit).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: systemd-analyze verify: %v\n%s", tier, err, out)
		}
		start := slices.Index(b.Activate, "systemctl restart "+host.JournalCopyName)
		if start < 0 || start > slices.Index(b.Activate, signals.AgentStart) {
			t.Errorf("%s: activation %v: want the copy started before the CloudWatch agent", tier, b.Activate)
		}
	}
}
