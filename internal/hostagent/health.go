package hostagent

import (
	"context"
	"fmt"
	"strings"

	"github.com/foobar/webstack/internal/awsapi"
)

// healthState is where the health check stands.
type healthState struct {
	failures int  // failed checks in a row
	marked   bool // the instance was marked Unhealthy
}

// healthStep, once the launch hook is completed and unless the instance
// is terminating: ask Health.URL; after Health.Failures failures in a row,
// mark the instance Unhealthy, once. Transitions are logged, not checks.
func (a *Agent) healthStep(ctx context.Context) {
	h := &a.health
	if !a.launch.done || h.marked || a.drain.started {
		return
	}
	err := a.get(ctx, a.cfg.Health.URL, a.checkTimeout())
	if err == nil {
		if h.failures > 0 {
			a.logf("health: %s answers again, after %d failures", a.cfg.Health.URL, h.failures)
		}
		h.failures = 0
		a.clear("health")
		return
	}
	h.failures++
	if h.failures == 1 {
		a.logf("health: %s failed (1 of %d): %v", a.cfg.Health.URL, a.cfg.Health.Failures, err)
	}
	if h.failures < a.cfg.Health.Failures {
		return
	}
	if serr := a.as.SetInstanceHealth(ctx, a.id, awsapi.Unhealthy, true); serr != nil {
		a.report("health", errState(serr), "health: %d failures in a row (last: %v); marking the instance Unhealthy failed (retrying): %v", h.failures, err, serr)
		return
	}
	h.marked = true
	a.logf("health: %d failures in a row (last: %v): marked instance %s Unhealthy; the group replaces it", h.failures, err, a.id)
}

// everyStep runs Config.Every while the host is in service: output of a
// command that succeeded is logged (it acted), a failure once until the
// command succeeds again.
func (a *Agent) everyStep(ctx context.Context) {
	if !a.launch.done || a.drain.started {
		return
	}
	for i, argv := range a.cfg.Every {
		topic := fmt.Sprintf("every %d", i)
		line := strings.Join(argv, " ")
		out, err := a.command(ctx, argv)
		if err != nil {
			a.report(topic, "failed: "+err.Error(), "every: %s failed: %v: %s", line, err, out)
			continue
		}
		a.clear(topic)
		if out != "" {
			a.logf("every: %s: %s", line, out)
		}
	}
}
