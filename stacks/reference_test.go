package stacks_test

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/foobar/webstack/stacks"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the table of keys in docs/SETTINGS.md")

// docs/SETTINGS.md's table of keys is rendered from the code: a field
// without a doc tag fails here, and so does a table edited by hand.
func TestSettingsDocIsGeneratedFromTheCode(t *testing.T) {
	const path, begin, end = "../docs/SETTINGS.md", "<!-- keys:begin -->\n", "<!-- keys:end -->"
	table, err := stacks.Reference("webstack")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the %q and %q markers", path, begin, end)
	}
	want := before + begin + table + end + after
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(doc) != want {
		t.Errorf("%s is out of date with the Settings struct tags: go test ./stacks/ -update-docs", path)
	}
	for _, key := range stacks.ConfigKeys() {
		if !strings.Contains(table, "`webstack:"+key+"`") {
			t.Errorf("key webstack:%s is not in the table", key)
		}
	}
}

// Every documented range is the one Validate applies: its bounds are
// accepted, one beyond each is refused under that field's key.
func TestDocumentedRangesAgreeWithValidation(t *testing.T) {
	fields, err := stacks.Fields("webstack")
	if err != nil {
		t.Fatal(err)
	}
	ranges := 0
	for _, f := range fields {
		if !f.HasRange {
			continue
		}
		ranges++
		top := strings.TrimPrefix(f.Key, "webstack:")
		for _, probe := range []struct {
			value int
			ok    bool
		}{{f.Min, true}, {f.Max, true}, {f.Min - 1, false}, {f.Max + 1, false}} {
			obj := map[string]string{
				"web": `{"min": 1, "max": 20, "desired": 1, "scaling": {"metric": "cpu"}}`,
				"app": `{"min": 1, "max": 20, "desired": 1, "scaling": {"metric": "cpu"}}`,
			}[top]
			if obj == "" {
				obj = "{}"
			}
			// Set the field (a.b nests) in the object's JSON.
			path := strings.Split(f.Field, ".")
			value := strconv.Itoa(probe.value)
			for i := len(path) - 1; i >= 1; i-- {
				inner := `{"` + path[i] + `": ` + value
				if path[i-1] == "scaling" {
					inner += `, "metric": "cpu"`
				}
				value = inner + "}"
			}
			obj = strings.TrimSuffix(obj, "}")
			if obj != "{" {
				obj += ", "
			}
			obj += `"` + path[0] + `": ` + value + "}"
			_, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{
				"network": `{"zoneIds": ["use1-az1", "use1-az2"]}`, top: obj,
			}))
			named := err != nil && strings.Contains(err.Error(), f.Key+"."+f.Field+" = ")
			if named == probe.ok {
				t.Errorf("%s.%s = %d (documented %d to %d): accepted %v, want %v; %v", f.Key, f.Field, probe.value, f.Min, f.Max, !named, probe.ok, err)
			}
		}
	}
	if ranges < 5 {
		t.Errorf("only %d documented ranges", ranges)
	}
}
