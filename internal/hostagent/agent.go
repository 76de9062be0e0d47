package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// CommandTimeout bounds every command the agent runs (checks, reloads,
// Ready.Then, Drain.Before and Drain.After).
const CommandTimeout = 30 * time.Second

// HeartbeatInterval is how often a draining agent sends a heartbeat to
// the terminate hook, so that a long drain does not time it out.
const HeartbeatInterval = 30 * time.Second

// Runner runs one command, argv[0] with arguments argv[1:] (no shell), and
// returns its combined output; an exit status other than 0 is an error.
// It must stop the command when ctx is done.
type Runner func(ctx context.Context, argv []string) ([]byte, error)

// ExecRunner is the Runner of the agent: os/exec, with the agent's
// environment. A command still running when ctx is done is killed.
func ExecRunner(ctx context.Context, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A killed command's children may hold its output open: stop waiting.
	cmd.WaitDelay = 2 * time.Second
	return cmd.CombinedOutput()
}

// Option changes how an Agent works, for tests.
type Option func(*Agent)

// WithClock replaces time.Now (readiness timeout, drain and heartbeat
// timing).
func WithClock(now func() time.Time) Option { return func(a *Agent) { a.now = now } }

// WithInterval replaces Config.Interval, the time between two rounds.
func WithInterval(d time.Duration) Option { return func(a *Agent) { a.interval = d } }

// WithRunner replaces ExecRunner.
func WithRunner(r Runner) Option { return func(a *Agent) { a.run = r } }

// WithHTTPClient replaces the client of Ready.URL and Health.URL (by
// default: no proxy, no keep-alive, so that the agent's own checks never
// hold a connection to Drain.Port open).
func WithHTTPClient(c *http.Client) Option { return func(a *Agent) { a.http = c } }

// WithProcNet replaces the reader of /proc/net/tcp and /proc/net/tcp6
// (os.ReadFile), which the drain counts connections with.
func WithProcNet(read func(path string) ([]byte, error)) Option {
	return func(a *Agent) { a.readProc = read }
}

// WithLogger replaces the logger (by default, stdout with the prefix
// "agent: ").
func WithLogger(l *log.Logger) Option { return func(a *Agent) { a.log = l } }

// Agent is webstack-agent: see the package documentation. Its methods
// must not be called concurrently.
type Agent struct {
	cfg Config
	as  awsapi.AutoScaling
	ec2 awsapi.EC2
	md  awsapi.InstanceMetadata

	now      func() time.Time
	interval time.Duration
	run      Runner
	http     *http.Client
	readProc func(string) ([]byte, error)
	log      *log.Logger

	start time.Time // when the agent started (Ready.Timeout counts from it)
	// id and ip are this instance's id and private IP, once known.
	id, ip string
	// said is the last state logged per topic, so that a repeated failure
	// is logged once, not every round.
	said map[string]string

	target      string // the last target lifecycle state read
	launch      launchState
	discoveries []*discovery
	health      healthState
	drain       drainState
}

// New returns an agent for cfg (which should have passed Validate) that
// uses these APIs.
func New(cfg Config, as awsapi.AutoScaling, ec2 awsapi.EC2, md awsapi.InstanceMetadata, opts ...Option) *Agent {
	a := &Agent{
		cfg:      cfg,
		as:       as,
		ec2:      ec2,
		md:       md,
		now:      time.Now,
		interval: cfg.Interval.D(),
		run:      ExecRunner,
		http:     &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		readProc: os.ReadFile,
		log:      log.New(os.Stdout, "agent: ", 0),
		said:     map[string]string{},
	}
	for _, o := range opts {
		o(a)
	}
	if a.interval <= 0 {
		a.interval = 2 * time.Second
	}
	for _, d := range cfg.Discover {
		a.discoveries = append(a.discoveries, &discovery{Discovery: d})
	}
	a.start = a.now()
	return a
}

// Run runs a round every interval until ctx is done, then returns nil.
// Failures are logged and retried on the next round: Run never gives up.
func (a *Agent) Run(ctx context.Context) error {
	a.logf("started: %s host of group %s, a round every %s, %d discoveries", orUnknown(a.cfg.Tier), a.cfg.Group, a.interval, len(a.discoveries))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.logf("stopped")
			return nil
		case <-t.C:
		}
		a.round(ctx)
		t.Reset(a.interval)
	}
}

// round does everything once: learn who this host is, then discovery,
// the lifecycle (launch or drain) and health.
func (a *Agent) round(ctx context.Context) {
	if a.drain.done {
		return // the terminate hook is completed: nothing left to do
	}
	if !a.identify(ctx) {
		return
	}
	target, err := a.md.TargetLifecycleState(ctx)
	if err != nil {
		a.report("target", errState(err), "cannot read the target lifecycle state: %v", err)
		target = a.target // keep the last known state
	} else {
		a.clear("target")
		if target != a.target {
			a.logf("target lifecycle state: %s", orUnknown(target))
			a.target = target
		}
	}
	if !a.drain.after {
		for _, d := range a.discoveries {
			a.discover(ctx, d)
		}
	}
	switch {
	case target == awsapi.Terminated || a.drain.started:
		a.drainStep(ctx)
	case target == awsapi.InService:
		a.launchStep(ctx)
	}
	a.everyStep(ctx)
	a.healthStep(ctx)
}

// identify learns this instance's id and private IP, once.
func (a *Agent) identify(ctx context.Context) bool {
	if a.ip != "" {
		return true
	}
	id, err := a.md.InstanceID(ctx)
	if err != nil {
		a.report("identity", errState(err), "cannot read the instance id: %v", err)
		return false
	}
	insts, err := a.ec2.DescribeInstances(ctx, []string{id})
	if err != nil {
		a.report("identity", errState(err), "cannot describe instance %s: %v", id, err)
		return false
	}
	for _, in := range insts {
		if in.InstanceID == id && in.PrivateIP != "" {
			a.id, a.ip = id, in.PrivateIP
			a.clear("identity")
			a.logf("instance %s, private IP %s", a.id, a.ip)
			a.loadLaunchState()
			return true
		}
	}
	a.report("identity", "no ip", "instance %s has no private IP yet", id)
	return false
}

// logf logs one event.
func (a *Agent) logf(format string, args ...any) { a.log.Printf(format, args...) }

// report logs an event of topic, unless the topic is already in state:
// a condition that lasts is logged once, when it starts or changes.
func (a *Agent) report(topic, state, format string, args ...any) {
	if prev, ok := a.said[topic]; ok && prev == state {
		return
	}
	a.said[topic] = state
	a.logf(format, args...)
}

// clear forgets topic's state: its next report is logged.
func (a *Agent) clear(topic string) { delete(a.said, topic) }

// errState is what identifies an error across rounds: an AWS error's code
// (its message may carry a request id), or the error's text.
func errState(err error) string {
	var apiErr *awsapi.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return err.Error()
}

// noActiveAction reports whether err is the Auto Scaling API's answer to
// completing a lifecycle action the instance is not waiting on: the hook
// already finished, or the instance was attached without one.
func noActiveAction(err error) bool {
	var apiErr *awsapi.APIError
	return errors.As(err, &apiErr) && apiErr.Code == "ValidationError" &&
		strings.Contains(strings.ToLower(apiErr.Message), "no active lifecycle action")
}

// command runs argv with CommandTimeout and returns its output on one
// line, shortened, for the log.
func (a *Agent) command(ctx context.Context, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	out, err := a.run(ctx, argv)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%w (timed out after %s)", err, CommandTimeout)
	}
	return oneLine(string(out)), err
}

// commands runs each of cmds in order, logging each failure, for what
// (e.g. "drain.before"); it goes on after a failure.
func (a *Agent) commands(ctx context.Context, what string, cmds [][]string) {
	for _, argv := range cmds {
		out, err := a.command(ctx, argv)
		if err != nil {
			a.logf("%s: %s failed: %v: %s", what, strings.Join(argv, " "), err, out)
			continue
		}
		a.logf("%s: ran %s", what, strings.Join(argv, " "))
	}
}

// oneLine joins the lines of a command's output with " | " and keeps at
// most its last 1000 bytes, so that it fits one log line.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s = strings.Join(lines, " | ")
	if len(s) > 1000 {
		s = "…" + s[len(s)-1000:]
	}
	return s
}

// orUnknown is s, or "(none)" when empty.
func orUnknown(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// get asks url and returns an error unless it answers 200 within timeout.
func (a *Agent) get(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
