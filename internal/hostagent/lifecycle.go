package hostagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// StateFile is the file, in Config.StateDir, that remembers that the
// launch hook of an instance was completed: it holds the instance's id.
const StateFile = "launch-hook-completed"

// launchState is where the launch stands.
type launchState struct {
	done      bool // the launch hook is completed (or had no active action)
	thenRan   bool // Ready.Then ran in this process
	abandoned bool // ABANDON was sent: the group terminates the instance
	// noHook: ABANDON found no active action, so the instance is already
	// in service without one; the agent waits for readiness all the same.
	noHook bool
}

// loadLaunchState reads StateFile: the launch hook of this instance was
// completed by an earlier run of the agent.
func (a *Agent) loadLaunchState() {
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, StateFile))
	if err != nil {
		return
	}
	if strings.TrimSpace(string(b)) == a.id {
		a.launch.done = true
		a.logf("the launch hook %s was completed by an earlier run (%s)", a.cfg.LaunchHook, filepath.Join(a.cfg.StateDir, StateFile))
	}
}

// saveLaunchState writes StateFile.
func (a *Agent) saveLaunchState() {
	if err := os.MkdirAll(a.cfg.StateDir, 0o755); err != nil {
		a.logf("cannot remember that the launch hook is completed: %v", err)
		return
	}
	if err := writeAtomic(filepath.Join(a.cfg.StateDir, StateFile), a.id+"\n", 0o644); err != nil {
		a.logf("cannot remember that the launch hook is completed: %v", err)
	}
}

// launchStep, while the instance is to be in service: complete the launch
// hook once ready, abandon it past Ready.Timeout, then run Ready.Then.
func (a *Agent) launchStep(ctx context.Context) {
	if a.launch.abandoned {
		return
	}
	if !a.launch.done {
		reasons := a.notReady(ctx)
		if len(reasons) == 0 {
			a.completeLaunch(ctx)
		} else {
			why := strings.Join(reasons, "; ")
			a.report("ready", why, "not ready: %s", why)
			if waited := a.now().Sub(a.start); waited >= a.cfg.Ready.Timeout.D() && !a.launch.noHook {
				a.abandonLaunch(ctx, waited, why)
			}
		}
	}
	if a.launch.done && !a.launch.thenRan {
		a.launch.thenRan = true
		a.commands(ctx, "ready.then", a.cfg.Ready.Then)
	}
}

// completeLaunch completes the launch hook with CONTINUE.
func (a *Agent) completeLaunch(ctx context.Context) {
	err := a.as.CompleteLifecycleAction(ctx, a.cfg.Group, a.cfg.LaunchHook, a.id, awsapi.Continue)
	switch {
	case err == nil:
		a.logf("ready after %s: completed the launch hook %s with %s", a.now().Sub(a.start).Round(time.Second), a.cfg.LaunchHook, awsapi.Continue)
	case noActiveAction(err):
		a.logf("ready after %s: the launch hook %s has no active action (already completed, or the instance was attached without one)", a.now().Sub(a.start).Round(time.Second), a.cfg.LaunchHook)
	default:
		a.report("launch", errState(err), "ready, but completing the launch hook failed (retrying): %v", err)
		return
	}
	a.clear("launch")
	a.launch.done = true
	a.saveLaunchState()
}

// abandonLaunch completes the launch hook with ABANDON.
func (a *Agent) abandonLaunch(ctx context.Context, waited time.Duration, why string) {
	err := a.as.CompleteLifecycleAction(ctx, a.cfg.Group, a.cfg.LaunchHook, a.id, awsapi.Abandon)
	switch {
	case err == nil:
		a.launch.abandoned = true
		a.logf("abandoned the launch (hook %s, %s): not ready after %s: %s", a.cfg.LaunchHook, awsapi.Abandon, waited.Round(time.Second), why)
	case noActiveAction(err):
		a.launch.noHook = true
		a.logf("not ready after %s (%s), but the launch hook %s has no active action: nothing to abandon; still waiting for readiness", waited.Round(time.Second), why, a.cfg.LaunchHook)
	default:
		a.report("launch", errState(err), "not ready after %s (%s); abandoning the launch failed (retrying): %v", waited.Round(time.Second), why, err)
		return
	}
	a.clear("launch")
}

// notReady lists what keeps the host from being ready (none: ready):
// Ready.Marker missing, a discovery that never wrote a list, Ready.URL
// not answering 200.
func (a *Agent) notReady(ctx context.Context) []string {
	var reasons []string
	if m := a.cfg.Ready.Marker; m != "" {
		if _, err := os.Stat(m); err != nil {
			reasons = append(reasons, fmt.Sprintf("marker %s: %v", m, errText(err)))
		}
	}
	for _, d := range a.discoveries {
		if !d.listed {
			reasons = append(reasons, fmt.Sprintf("no %s written to %s yet", d.name(), d.Path))
		}
	}
	if err := a.get(ctx, a.cfg.Ready.URL, a.checkTimeout()); err != nil {
		reasons = append(reasons, err.Error()) // names the URL
	}
	return reasons
}

// checkTimeout bounds a request to Ready.URL or Health.URL.
func (a *Agent) checkTimeout() time.Duration {
	if t := a.cfg.Health.Timeout.D(); t > 0 {
		return t
	}
	return 5 * time.Second
}

// errText is a file error without the path (the caller names it).
func errText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
