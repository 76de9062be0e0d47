package monitoring_test

import (
	"os"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring"
)

// Every alarm's description links to its runbook entry: docs/MONITORING.md
// has a section for each.
func TestEveryAlarmHasARunbook(t *testing.T) {
	doc, err := os.ReadFile("../../docs/MONITORING.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(l, "### "); ok {
			// GitHub's anchor of a heading: lower case, ", " dropped to "-".
			anchors[strings.ToLower(strings.ReplaceAll(h, ", ", "-"))] = true
		}
	}
	for _, name := range monitoring.AlarmNames() {
		if a := monitoring.RunbookAnchor(name); !anchors[a] {
			t.Errorf("alarm %s links to docs/MONITORING.md#%s, which has no such section", name, a)
		}
	}
}
