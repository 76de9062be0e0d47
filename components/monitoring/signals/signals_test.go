package signals_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring/signals"
)

func TestFilterEvaluator(t *testing.T) {
	line := `{"log":"haproxy","status":503,"server":"<NOSRV>","ms":12,"nested":{"a":"xyz"},"s":"7"}`
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{ $.log = "haproxy" }`, true},
		{`{ $.log = haproxy }`, true},
		{`{ $.log = "nginx" }`, false},
		{`{ $.log != "nginx" }`, true},
		{`{ $.status >= 500 }`, true},
		{`{ $.status > 503 }`, false},
		{`{ $.status < 500 }`, false},
		{`{ $.status <= 503 && $.status != 502 }`, true},
		{`{ $.status = 503 && $.server = "<NOSRV>" }`, true},
		{`{ $.status = 200 || $.server = "<NOSRV>" }`, true},
		{`{ ($.status = 200 || $.status = 503) && $.log = "nginx" }`, false},
		{`{ $.nested.a = "xy*" }`, true},
		{`{ $.nested.a = "xz*" }`, false},
		{`{ $.missing = 1 }`, false},
		{`{ $.missing != "x" }`, false},
		{`{ $.s = 7 }`, false}, // a string is not a number
		{`{ $.status = "503" }`, false},
	} {
		f, err := signals.ParseFilter(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := f.Match(line); got != tc.want {
			t.Errorf("%s on %s = %v, want %v", tc.pattern, line, got, tc.want)
		}
	}
	f, _ := signals.ParseFilter(`{ $.status >= 500 }`)
	for _, notJSON := range []string{"", "status 503", `[{"status":503}]`, `{"status":503`} {
		if f.Match(notJSON) {
			t.Errorf("%q matched: a line that is not a JSON object matches nothing", notJSON)
		}
	}
	for _, bad := range []string{`$.a = 1`, `{ $.a = 1`, `{ $.a 1 }`, `{ $.a > "x" }`, `{ a = 1 }`, `{ $.a = 1 } x`, `{ ($.a = 1 }`, `{ $.a = }`, `{ $.a = "x }`} {
		if _, err := signals.ParseFilter(bad); err == nil {
			t.Errorf("%q parsed; want an error", bad)
		}
	}
	if v, ok := signals.MetricValue("$.ms", line); !ok || v != 12 {
		t.Errorf("MetricValue($.ms) = %v, %v; want 12", v, ok)
	}
	if _, ok := signals.MetricValue("$.server", line); ok {
		t.Error("MetricValue of a string field published a value")
	}
	if v, ok := signals.MetricValue("1", "anything"); !ok || v != 1 {
		t.Errorf("MetricValue(1) = %v, %v", v, ok)
	}
}

// Every metric's pattern parses, its value is a count or a field of its
// own pattern's lines, and the names are unique.
func TestMetricsAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range signals.Metrics {
		if seen[m.Name] {
			t.Errorf("metric %s defined twice", m.Name)
		}
		seen[m.Name] = true
		if _, err := signals.ParseFilter(m.Pattern); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
		if len(m.Pattern) > 1024 {
			t.Errorf("%s: pattern of %d characters; CloudWatch takes at most 1024", m.Name, len(m.Pattern))
		}
		if m.Value != "1" && !strings.Contains(m.Pattern, m.Value+" >= 0") {
			t.Errorf("%s: value %s is not guarded by its pattern (a line without it would publish nothing)", m.Name, m.Value)
		}
		if len(signals.LogFiles[m.Tier]) == 0 {
			t.Errorf("%s reads tier %s, which ships no log", m.Name, m.Tier)
		}
	}
}

// The patterns tell the causes of a 5xx apart on lines in the shipped
// formats (the real daemons' lines are checked in lbconf, nginxconf and
// the application's tests).
func TestPatternsOnSampleLines(t *testing.T) {
	lines := map[string]string{
		"ok":       `{"log":"haproxy","status":200,"server":"web1","term":"--","ms":3}`,
		"nosrv":    `{"log":"haproxy","status":503,"server":"<NOSRV>","term":"SC","ms":0}`,
		"timeout":  `{"log":"haproxy","status":504,"server":"web1","term":"sH","ms":30000}`,
		"nginx502": `{"log":"nginx","status":502,"seconds":0.004}`,
		"app503":   `{"time":"x","level":"INFO","msg":"request","status":503,"duration_ms":1.5}`,
		"appinfo":  `{"time":"x","level":"INFO","msg":"database schema ready"}`,
	}
	want := map[string][]string{
		signals.LBRequests: {"ok", "nosrv", "timeout"}, signals.LB5xx: {"nosrv", "timeout"},
		signals.LBNoServer: {"nosrv"}, signals.LBTimeout: {"timeout"}, signals.LBLatency: {"ok", "nosrv", "timeout"},
		signals.WebRequests: {"nginx502"}, signals.Web5xx: {"nginx502"}, signals.WebLatency: {"nginx502"},
		signals.AppRequests: {"app503"}, signals.App5xx: {"app503"}, signals.App503: {"app503"}, signals.AppLatency: {"app503"},
	}
	for _, m := range signals.Metrics {
		f, _ := signals.ParseFilter(m.Pattern)
		var got []string
		for _, name := range []string{"ok", "nosrv", "timeout", "nginx502", "app503", "appinfo"} {
			if f.Match(lines[name]) {
				got = append(got, name)
			}
		}
		if strings.Join(got, ",") != strings.Join(want[m.Name], ",") {
			t.Errorf("%s (%s) matched %v, want %v", m.Name, m.Pattern, got, want[m.Name])
		}
	}
}
