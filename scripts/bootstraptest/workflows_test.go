package bootstraptest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The workflows must assume the roles scripts/bootstrap-ci-roles.sh makes,
// from the jobs those roles trust: each job's role, GitHub environment and
// stack agree, by the names of scripts/lib/ci-names.sh. A job that assumes
// prod's preview role outside the reviewed environment would only fail at
// run time (AWS refuses the token); a deploy job that deploys one stack with
// another's role, or a prod preview in the matrix of unreviewed ones, is a
// hole or an outage. scripts/lint-workflows.sh runs these tests too.

type workflow struct {
	On   yaml.Node
	Jobs map[string]job
}

type job struct {
	Name        string
	Environment yaml.Node
	Permissions map[string]string
	Strategy    struct {
		Matrix map[string]yaml.Node
	}
	Steps []struct {
		Name string
		Uses string
		Run  string
		With map[string]string
	}
}

// environment is the job's GitHub environment: environment: NAME or
// environment: {name: NAME}.
func (j job) environment() string {
	switch j.Environment.Kind {
	case yaml.ScalarNode:
		return j.Environment.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(j.Environment.Content); i += 2 {
			if j.Environment.Content[i].Value == "name" {
				return j.Environment.Content[i+1].Value
			}
		}
	}
	return ""
}

// stacks resolves a value that is a stack name or ${{ matrix.KEY }} to the
// stacks it stands for.
func (j job) stacks(t *testing.T, value string) []string {
	t.Helper()
	m := regexp.MustCompile(`^\$\{\{ *matrix\.([A-Za-z_-]+) *\}\}$`).FindStringSubmatch(value)
	if m == nil {
		return []string{value}
	}
	var values []string
	node, ok := j.Strategy.Matrix[m[1]]
	if !ok || node.Decode(&values) != nil {
		t.Fatalf("%s: matrix.%s is not a list of stacks", j.Name, m[1])
	}
	return values
}

func readWorkflows(t *testing.T) map[string]workflow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	out := map[string]workflow{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflow
		if err := yaml.Unmarshal(b, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = w
	}
	return out
}

// triggers lists a workflow's events.
func (w workflow) triggers() []string {
	switch w.On.Kind {
	case yaml.ScalarNode:
		return []string{w.On.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range w.On.Content {
			out = append(out, n.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(w.On.Content); i += 2 {
			out = append(out, w.On.Content[i].Value)
		}
		return out
	}
	return nil
}

func TestWorkflowsMatchTheRoles(t *testing.T) {
	trackScripts(t)
	variable := ciName(t, "ci_role_arn_prefix_variable")
	all := strings.Fields(ciName(t, "ci_environments"))
	reviewed := strings.Fields(ciName(t, "ci_reviewed_previews"))
	roleRE := regexp.MustCompile(`^\$\{\{ *vars\.` + regexp.QuoteMeta(variable) + ` *\}\}-(.+)-(preview|deploy)$`)

	previewed, deployed := map[string]string{}, map[string]string{}
	for file, w := range readWorkflows(t) {
		triggers := w.triggers()
		if slices.Contains(triggers, "pull_request_target") {
			t.Errorf("%s: pull_request_target runs with the base repository's secrets and token; use pull_request", file)
		}
		for id, j := range w.Jobs {
			where := fmt.Sprintf("%s: job %s", file, id)
			var roleStacks []string
			kind := ""
			for _, s := range j.Steps {
				if !strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@") {
					continue
				}
				m := roleRE.FindStringSubmatch(s.With["role-to-assume"])
				if m == nil {
					t.Errorf("%s: role-to-assume %q: want ${{ vars.%s }}-STACK-preview or -deploy (the roles of scripts/bootstrap-ci-roles.sh)",
						where, s.With["role-to-assume"], variable)
					continue
				}
				roleStacks, kind = j.stacks(t, m[1]), m[2]
			}
			if kind == "" {
				continue
			}
			if j.Permissions["id-token"] != "write" {
				t.Errorf("%s: assumes a role without permissions id-token: write", where)
			}
			// The stack the job runs Pulumi on is the role's.
			for _, s := range j.Steps {
				if !strings.HasPrefix(s.Uses, "pulumi/actions@") {
					continue
				}
				if got := j.stacks(t, s.With["stack-name"]); !slices.Equal(got, roleStacks) {
					t.Errorf("%s: runs pulumi on stacks %q with the roles of %q", where, got, roleStacks)
				}
				if want := map[string]string{"preview": "preview", "deploy": "up"}[kind]; s.With["command"] != want {
					t.Errorf("%s: pulumi %s with a %s role", where, s.With["command"], kind)
				}
			}
			for _, stack := range roleStacks {
				var want string
				switch {
				case kind == "deploy":
					want = ciName(t, "ci_deploy_environment", stack)
					deployed[stack] = where
					if slices.Contains(triggers, "pull_request") {
						t.Errorf("%s: a deploy role in a workflow pull requests run", where)
					}
				case slices.Contains(reviewed, stack):
					want = ciName(t, "ci_preview_environment", stack)
					previewed[stack] = where
				default:
					previewed[stack] = where
				}
				if got := j.environment(); got != want {
					t.Errorf("%s: the %s role of %s runs in environment %q, want %q (the only one the role trusts)", where, kind, stack, got, want)
				}
			}
		}
	}
	for _, s := range all {
		if previewed[s] == "" {
			t.Errorf("no workflow previews %s", s)
		}
		if deployed[s] == "" {
			t.Errorf("no workflow deploys %s", s)
		}
	}
}

// The pull request says plainly that prod's preview waits for a reviewer,
// naming the environment where it waits.
func TestPreviewWorkflowSaysProdWaits(t *testing.T) {
	trackScripts(t)
	w := readWorkflows(t)["preview.yml"]
	for _, stack := range strings.Fields(ciName(t, "ci_reviewed_previews")) {
		env := ciName(t, "ci_preview_environment", stack)
		found := false
		for _, j := range w.Jobs {
			if j.environment() != "" {
				continue // the notice must not wait for the review itself
			}
			for _, s := range j.Steps {
				if strings.Contains(s.Run, "issues/$PR/comments") && regexp.MustCompile("`"+regexp.QuoteMeta(env)+"\\\\?`").MatchString(s.Run) &&
					strings.Contains(s.Run, "Review deployments") && strings.Contains(s.Run, "**"+stack+" preview**") {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("preview.yml: no unreviewed job comments that the %s preview waits in %s for a reviewer", stack, env)
		}
	}
}
