// Package engine runs a Pulumi program through the real Pulumi engine with
// no cloud and no network: the pulumi CLI of the pinned version (see
// scripts/pulumi-cli.sh), the program as an Automation API inline program
// (so no Go language host is needed), in-process fake aws and random
// providers served over gRPC and attached with PULUMI_DEBUG_PROVIDERS
// (Provider, World), and state in a temporary file backend with a
// passphrase secrets provider.
//
// It catches what the mock monitor cannot: duplicate URNs, a preview with
// secret inputs still unknown, perpetual diffs, state that is really
// written (and encrypted), protect and delete order. make test-engine runs
// its tests.
package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/foobar/webstack/stacks"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Versions of the providers the program's SDKs ask for (go.mod).
const (
	AWSVersion    = "6.83.4"
	RandomVersion = "4.19.2"
)

// Passphrase encrypts the test stacks' secrets. It protects nothing real:
// every stack lives in a temporary directory and holds fake values.
const Passphrase = "webstack engine tests"

// CLIEnv names a Pulumi CLI to use instead of finding or building one.
const CLIEnv = "WEBSTACK_PULUMI"

// CLI returns the path of the pinned Pulumi CLI: scripts/pulumi-cli.sh
// finds it ($WEBSTACK_PULUMI, PATH, the cache) or builds it once.
func CLI(projectDir string) (string, error) {
	cmd := exec.Command("bash", filepath.Join(projectDir, "scripts", "pulumi-cli.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("engine: no Pulumi CLI: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Engine is a fake cloud with its two providers, and a place for stacks.
type Engine struct {
	// World is the fake cloud both providers act on.
	World *World

	projectDir, dir string
	cli             auto.PulumiCommand
	env             map[string]string
}

// Options configures Start.
type Options struct {
	// ProjectDir holds Pulumi.yaml and the stack files (the repository).
	ProjectDir string
	// CLI is the pulumi binary (CLI finds one).
	CLI string
	// Dir holds the backend, workspaces and PULUMI_HOME (a temporary
	// directory of the caller's).
	Dir string
	// Cloud shapes the fake cloud (region, zones, known images).
	Cloud mocks.CloudOptions
}

// Start serves the fake providers until ctx ends.
func Start(ctx context.Context, opts Options) (*Engine, error) {
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(filepath.Dir(opts.CLI)), SkipVersionCheck: true})
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %w", opts.CLI, err)
	}
	world := NewWorld(opts.Cloud)
	ports := map[string]int{}
	for _, p := range []*Provider{{pkg: "aws", version: AWSVersion, world: world}, {pkg: "random", version: RandomVersion, world: world}} {
		port, err := p.Serve(ctx)
		if err != nil {
			return nil, err
		}
		ports[p.pkg] = port
	}
	backend := filepath.Join(opts.Dir, "backend")
	home := filepath.Join(opts.Dir, "home")
	for _, d := range []string{backend, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Engine{
		World: world, projectDir: opts.ProjectDir, dir: opts.Dir, cli: cli,
		env: map[string]string{
			"PULUMI_BACKEND_URL":                            "file://" + backend,
			"PULUMI_CONFIG_PASSPHRASE":                      Passphrase,
			"PULUMI_DEBUG_PROVIDERS":                        fmt.Sprintf("aws:%d,random:%d", ports["aws"], ports["random"]),
			"PULUMI_HOME":                                   home,
			"PULUMI_SKIP_UPDATE_CHECK":                      "true",
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION":   "true",
			"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING":          "true",
			"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":      "true",
			"PULUMI_SKIP_CHECKPOINTS":                       "false",
			"PULUMI_OPTION_SUPPRESS_PROGRESS":               "true",
			"PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "false",
		},
	}, nil
}

// BackendDir is where the file backend keeps state, history and backups.
func (e *Engine) BackendDir() string { return filepath.Join(e.dir, "backend") }

// Stack is one stack of the project under the engine.
type Stack struct {
	auto.Stack
	Name string

	world *World
	// caller is the role the stack's operations run as (its first
	// deploying operator, mocks.StackOptions), "" for the IAM user.
	caller string

	mu    sync.Mutex
	log   bytes.Buffer        // everything the CLI printed
	diffs map[string][]string // the last operation's changed properties, by URN
}

// NewStack creates a stack whose program is program. Its workspace is a
// copy of the project's Pulumi.yaml and, when stackFile is nil, of
// Pulumi.<name>.yaml: the CLI reads the settings exactly as for a user.
func (e *Engine) NewStack(ctx context.Context, name string, program pulumi.RunFunc, stackFile []byte) (*Stack, error) {
	work := filepath.Join(e.dir, "work-"+name)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}
	project, err := os.ReadFile(filepath.Join(e.projectDir, "Pulumi.yaml"))
	if err != nil {
		return nil, err
	}
	if stackFile == nil {
		if stackFile, err = os.ReadFile(filepath.Join(e.projectDir, "Pulumi."+name+".yaml")); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(work, "Pulumi.yaml"), project, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "Pulumi."+name+".yaml"), stackFile, 0o600); err != nil {
		return nil, err
	}
	opts, err := mocks.StackOptions(work, name)
	if err != nil {
		return nil, &StepError{Stack: name, Step: "stack file", Message: err.Error()}
	}
	// An inline program gets no PULUMI_CONFIG: pass the stack's config keys
	// as pulumi up's language host would, so that unknown keys are refused.
	inline := func(ctx *pulumi.Context) error { return program(stacks.WithConfig(ctx, opts.Config)) }
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(work), auto.Program(inline), auto.Pulumi(e.cli),
		auto.EnvVars(e.env), auto.SecretsProvider("passphrase"))
	if err != nil {
		return nil, &StepError{Stack: name, Step: "workspace", Message: err.Error()}
	}
	st, err := auto.NewStack(ctx, name, ws)
	if err != nil {
		return nil, &StepError{Stack: name, Step: "stack init", Message: message(err, "")}
	}
	return &Stack{Stack: st, Name: name, world: e.World, caller: opts.CallerRole}, nil
}

// Changes are the steps an operation planned or took: URNs by operation
// (create, update, replace, delete, same, …).
type Changes map[apitype.OpType][]string

// Count is how many steps of the given operations there are.
func (c Changes) Count(ops ...apitype.OpType) int {
	n := 0
	for _, op := range ops {
		n += len(c[op])
	}
	return n
}

// NotSame lists every step that changes something, as "op urn", sorted.
func (c Changes) NotSame() []string {
	var out []string
	for op, urns := range c {
		if op == apitype.OpSame || op == apitype.OpRead {
			continue
		}
		for _, u := range urns {
			out = append(out, string(op)+" "+u)
		}
	}
	sort.Strings(out)
	return out
}

// collect gathers the steps of an operation from its event stream, and
// the properties each step changes into diffs.
func collect(ch chan events.EngineEvent, diffs map[string][]string) func() Changes {
	c := Changes{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if ev.ResourcePreEvent != nil {
				m := ev.ResourcePreEvent.Metadata
				if m.Type == "pulumi:pulumi:Stack" {
					continue
				}
				c[m.Op] = append(c[m.Op], m.URN)
				if len(m.Diffs) > 0 {
					diffs[m.URN] = append([]string(nil), m.Diffs...)
				}
			}
		}
	}()
	return func() Changes {
		<-done
		for _, urns := range c {
			sort.Strings(urns)
		}
		return c
	}
}

// operation runs one engine operation with its output captured (for the
// stack's log and the step's error) and its steps collected.
func (s *Stack) operation(step string, run func(out io.Writer, ch chan<- events.EngineEvent) error) (Changes, error) {
	s.world.cloud.SetCallerRole(s.caller)
	var own bytes.Buffer
	out := io.MultiWriter(&own, lockedWriter{&s.mu, &s.log})
	ch := make(chan events.EngineEvent)
	diffs := map[string][]string{}
	wait := collect(ch, diffs) // the Automation API closes ch when the operation ends
	err := run(out, ch)
	changes := wait()
	s.mu.Lock()
	s.diffs = diffs
	s.mu.Unlock()
	if err != nil {
		return changes, &StepError{Stack: s.Name, Step: step, Message: message(err, own.String())}
	}
	return changes, nil
}

// Preview runs pulumi preview (with refresh: pulumi preview --refresh).
func (s *Stack) Preview(ctx context.Context, refresh bool) (Changes, error) {
	step := "preview"
	if refresh {
		step = "preview --refresh"
	}
	return s.operation(step, func(out io.Writer, ch chan<- events.EngineEvent) error {
		opts := []optpreview.Option{optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out), optpreview.EventStreams(ch)}
		if refresh {
			opts = append(opts, optpreview.Refresh())
		}
		_, err := s.Stack.Preview(ctx, opts...)
		return err
	})
}

// Up runs pulumi up.
func (s *Stack) Up(ctx context.Context) (Changes, error) {
	return s.operation("up", func(out io.Writer, ch chan<- events.EngineEvent) error {
		_, err := s.Stack.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out), optup.EventStreams(ch))
		return err
	})
}

// Destroy runs pulumi destroy without a preview, as the Automation API,
// `pulumi destroy --skip-preview` and the GitHub action's destroy do.
func (s *Stack) Destroy(ctx context.Context) (Changes, error) {
	return s.operation("destroy", func(out io.Writer, ch chan<- events.EngineEvent) error {
		_, err := s.Stack.Destroy(ctx, optdestroy.ProgressStreams(out), optdestroy.ErrorProgressStreams(out), optdestroy.EventStreams(ch))
		return err
	})
}

// ExportState is the stack's state as pulumi stack export prints it:
// secrets as ciphertext. (The Automation API's Export decrypts them.)
func (s *Stack) ExportState(ctx context.Context) (apitype.UntypedDeployment, error) {
	var state apitype.UntypedDeployment
	ws := s.Workspace()
	var env []string
	for k, v := range ws.GetEnvVars() {
		env = append(env, k+"="+v)
	}
	stdout, stderr, _, err := ws.PulumiCommand().Run(ctx, ws.WorkDir(), nil, nil, nil, env, "stack", "export", "--stack", s.Name)
	if err != nil {
		return state, &StepError{Stack: s.Name, Step: "stack export", Message: strings.TrimSpace(stderr)}
	}
	err = json.Unmarshal([]byte(stdout), &state)
	return state, err
}

// Diffs are the properties the last operation's step for urn changes
// (the engine's diff keys), sorted; nil if none or no such step.
func (s *Stack) Diffs(urn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := append([]string(nil), s.diffs[urn]...)
	sort.Strings(d)
	return d
}

// Log is everything the CLI printed for this stack so far.
func (s *Stack) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// StepError is a failed engine step: the stack, the step and the engine's
// own message (its diagnostics), not a Go stack trace.
type StepError struct {
	Stack, Step, Message string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("stack %s, %s failed:\n%s", e.Stack, e.Step, e.Message)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// message extracts what the engine said went wrong: its diagnostics and
// error lines, from the operation's output and the CLI's stderr.
func message(err error, output string) string {
	// The Automation API's error carries the CLI's stdout and stderr.
	text := ansi.ReplaceAllString(output+"\n"+err.Error(), "")
	var keep []string
	inDiagnostics := false
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "Diagnostics:"):
			inDiagnostics = true
		case inDiagnostics && (strings.HasPrefix(trimmed, "Resources:") || strings.HasPrefix(trimmed, "Outputs:") || strings.HasPrefix(trimmed, "Duration:")):
			inDiagnostics = false
		}
		if inDiagnostics || strings.HasPrefix(trimmed, "error:") {
			if trimmed != "" && !contains(keep, line) {
				keep = append(keep, line)
			}
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(text)
	}
	return strings.Join(keep, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
