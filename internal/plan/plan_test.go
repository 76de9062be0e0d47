package plan_test

import (
	"github.com/foobar/webstack/internal/testtools"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/internal/plan"
)

// root is the project directory, from this package's.
const root = "../.."

var stackNames = []string{"dev", "staging", "prod"}

func render(t *testing.T, stack string) *plan.Plan {
	t.Helper()
	p, err := plan.Render(root, stack)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Each stack's plan is its snapshot: a change to the program, a component
// or a stack file shows up as a reviewable diff of testdata/plans/.
func TestPlanSnapshots(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			p := render(t, stack)
			snapshot := filepath.Join(root, "testdata", "plans", stack+".txt")
			testtools.Golden(t, snapshot, p.Text)
			if len(p.Findings) > 0 || len(p.Blocking()) > 0 {
				t.Errorf("%d guardrail findings", len(p.Findings))
			}
		})
	}
}

// firstDifference shows where two texts part, with some context.

// Two renders are byte-identical.
func TestPlanIsDeterministic(t *testing.T) {
	a, b := render(t, "prod"), render(t, "prod")
	if a.Text != b.Text {
		t.Errorf("two renders of prod differ:\n%s", testtools.FirstDifference(a.Text, b.Text))
	}
}

// No generated password, and nothing that depends on the machine (the
// project's path, the application build's SHA-256), appears in a plan; the
// placeholders do.
func TestPlanHidesSecretsAndTheMachine(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range stackNames {
		p := render(t, stack)
		passwords := 0
		var release string
		for _, r := range p.Resources {
			if r.Type == "random:index/randomPassword:RandomPassword" {
				pw, _ := mocks.Reveal(r.Outputs["result"]).(string)
				if pw == "" {
					t.Fatalf("%s: %s has no result", stack, r.Name)
				}
				passwords++
				if strings.Contains(p.Text, pw) {
					t.Errorf("%s: the plan shows the password of %s", stack, r.Name)
				}
			}
			if r.Type == "aws:s3/bucketObjectv2:BucketObjectv2" && strings.HasPrefix(r.Str("key"), "releases/app/") && !strings.Contains(r.Str("key"), "agent-") {
				release = strings.TrimPrefix(r.Str("key"), "releases/app/")
			}
		}
		if passwords < 3 {
			t.Errorf("%s: %d generated passwords, want the database's, the stats and the VRRP ones", stack, passwords)
		}
		if len(release) != 64 {
			t.Fatalf("%s: no release object (key releases/app/<sha256>)", stack)
		}
		for what, s := range map[string]string{"the release's SHA-256": release, "the project's path": abs} {
			if strings.Contains(p.Text, s) {
				t.Errorf("%s: the plan shows %s (%s)", stack, what, s)
			}
		}
		for _, want := range []string{
			"password: " + plan.Secret,
			"key: releases/app/" + plan.AppBuild,
			"source: file(.build/app-linux-arm64-" + plan.SourceHash + ")",
			`WEBSTACK_RELEASE_SHA256="` + plan.AppBuild + `"`,
			"appRelease: " + plan.AppBuild,
			"key: releases/web/agent-" + plan.BuildOf("agent"),
			"key: bundles/app/<content hash>.sh",
			"WEBSTACK_BUNDLE_KEY=bundles/app/<content hash>.sh",
			"guardrails: ",
		} {
			if !strings.Contains(p.Text, want) {
				t.Errorf("%s: the plan lacks %q", stack, want)
			}
		}
	}
}
