// Package guardrails holds webstack's security and reliability rules,
// evaluated over the resource graph of a run under the recording mocks
// (internal/mocks): what `pulumi up` would create, checked before anything
// is created.
//
//	rec, err := mocks.Run(infra.Program, opts)
//	findings := guardrails.Evaluate(guardrails.FromRecorder(rec))
//
// Each rule has a stable ID (WS001…), a severity and a description naming
// the public controls it mirrors (checkov CKV_AWS_…, tfsec, awsguard, AWS
// Foundational Security Best Practices) or saying that it is webstack's own.
// Rules that depend on the environment follow stacks/validate.go: dev
// relaxes the database's protection, staging keeps a week of backups, and
// production (or an unknown environment) gets everything.
//
// The offline plan (scripts/plan) prints the findings and fails on any of
// high or critical severity.
package guardrails

import (
	"fmt"
	"sort"

	"github.com/foobar/webstack/internal/mocks"
)

// Severity of a rule.
type Severity string

// Severities, from the most to the least severe.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
)

// Blocking reports whether findings of this severity stop a deployment
// (the plan exits non-zero): high and critical.
func (s Severity) Blocking() bool { return s == Critical || s == High }

// Rule is one guardrail.
type Rule struct {
	// ID is stable (WS001): tests, suppressions and reviews refer to it.
	ID string
	// Title says what must hold, in a few words.
	Title string
	// Description says what is checked and why, and names the public
	// controls the rule mirrors, if any.
	Description string
	Severity    Severity
	// Check returns the resources that break the rule, each with a message.
	// Evaluate fills in Finding.Rule.
	Check func(g *Graph) []Finding
}

// Finding is one resource that breaks a rule.
type Finding struct {
	Rule *Rule
	// Type, Name and URN of the resource.
	Type, Name, URN string
	// Message says what is wrong; it never contains a secret's value.
	Message string
}

func (f Finding) String() string {
	id, sev := "", Severity("")
	if f.Rule != nil {
		id, sev = f.Rule.ID, f.Rule.Severity
	}
	return fmt.Sprintf("%s %s %s %s: %s", id, sev, f.Type, f.Name, f.Message)
}

// flag is a finding on a resource (the rule is filled in by Evaluate).
func flag(r *mocks.Resource, format string, args ...any) Finding {
	return Finding{Type: r.Type, Name: r.Name, URN: r.URN, Message: fmt.Sprintf(format, args...)}
}

// each flags every resource of the types for which problem says what is
// wrong ("": nothing).
func each(g *Graph, problem func(r *mocks.Resource) string, types ...string) []Finding {
	var out []Finding
	for _, r := range g.OfType(types...) {
		if msg := problem(r); msg != "" {
			out = append(out, flag(r, "%s", msg))
		}
	}
	return out
}

// Rules returns every rule, in ID order.
func Rules() []Rule {
	return append([]Rule(nil), rules...)
}

// Evaluate runs every rule over the graph and returns the findings sorted
// by rule ID, resource type, name and message.
func Evaluate(g *Graph) []Finding {
	var out []Finding
	for i := range rules {
		out = append(out, rules[i].evaluate(g)...)
	}
	sortFindings(out)
	return out
}

// Evaluate runs one rule over the graph.
func (r *Rule) Evaluate(g *Graph) []Finding {
	out := r.evaluate(g)
	sortFindings(out)
	return out
}

func (r *Rule) evaluate(g *Graph) []Finding {
	// Rules() hands out copies; findings point at the package's own rule.
	rule := r
	for i := range rules {
		if rules[i].ID == r.ID {
			rule = &rules[i]
		}
	}
	found := r.Check(g)
	for i := range found {
		found[i].Rule = rule
	}
	return found
}

// Blocking returns the findings of high or critical severity.
func Blocking(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Rule != nil && f.Rule.Severity.Blocking() {
			out = append(out, f)
		}
	}
	return out
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Rule.ID != b.Rule.ID {
			return a.Rule.ID < b.Rule.ID
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Message < b.Message
	})
}
