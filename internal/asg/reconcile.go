package asg

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// terminateRetry is how long a failed Launcher.Terminate waits before it
// is called again.
const terminateRetry = time.Second

// Run is the reconcile loop: every interval (and whenever an API call
// changed something) it checks the hosts' health, times lifecycle hooks
// out, launches and terminates instances and advances refreshes, until ctx
// ends. Launch and Terminate run with contexts derived from ctx; Run
// returns once they have all returned. Call it once at a time.
func (c *Cloud) Run(ctx context.Context) {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		panic("asg: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.wg.Wait()
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		c.flush()
	}()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

type probe struct {
	in *instance
	h  Host
}

// step is one round of the loop.
func (c *Cloud) step(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	// EC2 status checks, without the lock.
	c.mu.Lock()
	now := time.Now()
	var probes []probe
	for _, name := range c.order {
		g := c.groups[name]
		for _, in := range g.instances {
			if !in.leaving && in.launched && in.state == awsapi.InService && in.health == awsapi.Healthy &&
				now.Sub(in.inServiceAt) >= g.cfg.HealthCheckGracePeriod {
				probes = append(probes, probe{in, in.host()})
			}
		}
	}
	c.mu.Unlock()
	var dead []*instance
	for _, p := range probes {
		if !c.launcher.Alive(p.h) {
			dead = append(dead, p.in)
		}
	}

	c.mu.Lock()
	now = time.Now()
	for _, in := range dead {
		if !in.leaving && in.state == awsapi.InService && in.health == awsapi.Healthy {
			in.health = awsapi.Unhealthy
			c.emit(in.group, in.id, EventUnhealthy, "EC2 status check failed")
		}
	}
	var launches, terms []*instance
	for _, name := range c.order {
		g := c.groups[name]
		c.timeouts(g, now)
		launches = append(launches, c.plan(ctx, g, now)...)
		for _, in := range g.instances {
			if in.state == awsapi.TerminatingProceed && !in.launching && !in.terminating && !now.Before(in.retryAt) {
				in.terminating = true
				in.ec2State = "shutting-down"
				terms = append(terms, in)
			}
		}
	}
	c.mu.Unlock()

	for _, in := range launches {
		c.wg.Add(1)
		go c.launch(in)
	}
	for _, in := range terms {
		c.wg.Add(1)
		go c.terminate(ctx, in)
	}
	c.flush()
}

// launch calls Launcher.Launch for a new instance.
func (c *Cloud) launch(in *instance) {
	defer c.wg.Done()
	err := c.launcher.Launch(in.launchCtx, in.host())
	c.mu.Lock()
	in.launching = false
	g := c.groups[in.group]
	switch {
	case err == nil:
		in.launched = true
		if !in.leaving {
			c.advance(g, in, time.Now())
		}
	case !in.leaving:
		c.emit(g.cfg.Name, in.id, EventLaunchFailed, err.Error())
		in.health = awsapi.Unhealthy
		c.beginTerminate(g, in, "launch-failed", false)
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
}

// terminate calls Launcher.Terminate for an instance in
// Terminating:Proceed.
func (c *Cloud) terminate(ctx context.Context, in *instance) {
	defer c.wg.Done()
	err := c.launcher.Terminate(ctx, in.host())
	c.mu.Lock()
	in.terminating = false
	g := c.groups[in.group]
	now := time.Now()
	switch {
	case err != nil:
		in.ec2State = "running"
		if ctx.Err() == nil {
			in.retryAt = now.Add(terminateRetry)
			c.emit(g.cfg.Name, in.id, EventTerminateFailed, err.Error())
		}
	default:
		in.state = awsapi.Terminated
		in.ec2State = "terminated"
		in.cancelLaunch()
		for i, x := range g.instances {
			if x == in {
				g.instances = append(g.instances[:i:i], g.instances[i+1:]...)
				break
			}
		}
		delete(c.usedIPs, in.ip)
		if r := g.activeRefresh(); r != nil && in.template != g.template {
			r.replaced++
		}
		c.emit(g.cfg.Name, in.id, awsapi.Terminated, "")
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
}

func (g *group) hookTimeout(state string) time.Duration {
	if state == awsapi.TerminatingWait {
		return g.cfg.TerminateHookTimeout
	}
	return g.cfg.LaunchHookTimeout
}

func (g *group) activeRefresh() *refresh {
	if n := len(g.refreshes); n > 0 && g.refreshes[n-1].status == awsapi.RefreshInProgress {
		return g.refreshes[n-1]
	}
	return nil
}

// active returns the instances the group has not decided to terminate.
func (g *group) active() []*instance {
	var out []*instance
	for _, in := range g.instances {
		if !in.leaving {
			out = append(out, in)
		}
	}
	return out
}

// The functions below change the model; c.mu must be held.

// advance makes the transitions an instance can make by itself.
func (c *Cloud) advance(g *group, in *instance, now time.Time) {
	set := func(state, detail string) {
		in.state = state
		c.emit(g.cfg.Name, in.id, state, detail)
	}
	switch in.state {
	case awsapi.Pending:
		if g.cfg.LaunchHook != "" {
			in.deadline = now.Add(g.cfg.LaunchHookTimeout)
			set(awsapi.PendingWait, g.cfg.LaunchHook)
			return
		}
		fallthrough
	case awsapi.PendingProceed:
		if in.launched {
			in.inServiceAt = now
			set(awsapi.InService, "")
		}
	case awsapi.Terminating:
		if in.hookOnExit && g.cfg.TerminateHook != "" {
			in.deadline = now.Add(g.cfg.TerminateHookTimeout)
			set(awsapi.TerminatingWait, g.cfg.TerminateHook)
			return
		}
		set(awsapi.TerminatingProceed, "")
	}
}

// completeHook ends the wait of an instance on its lifecycle hook; why is
// the result, or "timeout".
func (c *Cloud) completeHook(g *group, in *instance, result, why string) {
	now := time.Now()
	switch in.state {
	case awsapi.PendingWait:
		if result == awsapi.Abandon {
			c.emit(g.cfg.Name, in.id, EventAbandoned, why)
			c.beginTerminate(g, in, "abandoned", false)
			return
		}
		in.state = awsapi.PendingProceed
		c.emit(g.cfg.Name, in.id, awsapi.PendingProceed, why)
		c.advance(g, in, now)
	case awsapi.TerminatingWait:
		in.state = awsapi.TerminatingProceed
		c.emit(g.cfg.Name, in.id, awsapi.TerminatingProceed, why)
	}
}

// beginTerminate makes the group terminate an instance: Terminating, then
// Terminating:Wait if hook and the group has a terminate hook.
func (c *Cloud) beginTerminate(g *group, in *instance, reason string, hook bool) {
	if in.leaving {
		return
	}
	in.leaving = true
	in.hookOnExit = hook
	in.state = awsapi.Terminating
	c.emit(g.cfg.Name, in.id, EventTerminate, reason)
	if in.launching {
		in.cancelLaunch()
	}
	c.advance(g, in, time.Now())
}

// timeouts applies the default results of expired lifecycle hooks.
func (c *Cloud) timeouts(g *group, now time.Time) {
	for _, in := range append([]*instance(nil), g.instances...) {
		if now.Before(in.deadline) {
			continue
		}
		switch in.state {
		case awsapi.PendingWait:
			c.completeHook(g, in, g.cfg.LaunchHookDefaultResult, "timeout, "+g.cfg.LaunchHookDefaultResult)
		case awsapi.TerminatingWait:
			c.completeHook(g, in, g.cfg.TerminateHookDefaultResult, "timeout, "+g.cfg.TerminateHookDefaultResult)
		}
	}
}

// newInstance creates an instance (Pending) in the zone with the fewest
// instances that has a free address; nil if none has.
func (c *Cloud) newInstance(ctx context.Context, g *group, now time.Time) *instance {
	// Balance the zones: first the instances on the current template
	// (during a refresh, the ones that stay), then all of them. Otherwise
	// a refresh of a pair that launches one instance at a time could put
	// both new ones in the same zone.
	current, count := map[string]int{}, map[string]int{}
	for _, in := range g.active() {
		count[in.zone]++
		if in.template == g.template {
			current[in.zone]++
		}
	}
	zones := append([]string(nil), g.cfg.Zones...)
	sort.SliceStable(zones, func(i, j int) bool {
		a, b := zones[i], zones[j]
		if current[a] != current[b] {
			return current[a] < current[b]
		}
		return count[a] < count[b]
	})
	var zone, ip string
	for _, z := range zones {
		if ip = c.allocate(g, z); ip != "" {
			zone = z
			break
		}
	}
	if ip == "" {
		if !g.noAddr {
			g.noAddr = true
			c.emit(g.cfg.Name, "", EventLaunchFailed, "no free address in "+fmt.Sprint(g.cfg.Zones))
		}
		return nil
	}
	g.noAddr = false
	c.usedIPs[ip] = true
	in := &instance{
		id:        fmt.Sprintf("i-%017x", c.nextID),
		group:     g.cfg.Name,
		zone:      zone,
		ip:        ip,
		template:  g.template,
		state:     awsapi.Pending,
		health:    awsapi.Healthy,
		ec2State:  "running",
		created:   now,
		launching: true,
	}
	c.nextID++
	in.launchCtx, in.cancelLaunch = context.WithCancel(ctx)
	g.instances = append(g.instances, in)
	c.all[in.id] = in
	c.emit(g.cfg.Name, in.id, EventLaunch, fmt.Sprintf("%s %s template %s", zone, ip, in.template))
	c.advance(g, in, now)
	return in
}

// allocate returns a free address in zone, or "".
func (c *Cloud) allocate(g *group, zone string) string {
	if g.cfg.Addresses == nil {
		c.autoIP++
		n := c.autoIP
		return fmt.Sprintf("100.%d.%d.%d", 64+(n>>16)&63, (n>>8)&255, n&255)
	}
	for _, ip := range g.cfg.Addresses[zone] {
		if !c.usedIPs[ip] {
			return ip
		}
	}
	return ""
}

// maintenanceMax is the most instances (not on their way out) the
// group's instance maintenance policy allows while it replaces unhealthy
// ones.
func (g *group) maintenanceMax(desired int) int {
	if g.cfg.MaxHealthyPercentage <= 100 {
		return desired
	}
	_, maxTotal := bounds(desired, g.cfg.MinHealthyPercentage, g.cfg.MaxHealthyPercentage)
	return maxTotal
}

// bounds converts healthy percentages of the desired capacity into counts:
// the minimum rounds up, the maximum down but is at least desired+1 when
// maxPct is above 100; when both equal desired, the minimum is desired-1
// so that one instance at a time can be replaced.
func bounds(desired, minPct, maxPct int) (minHealthy, maxTotal int) {
	minHealthy = (desired*minPct + 99) / 100
	maxTotal = desired * maxPct / 100
	if maxPct > 100 && maxTotal <= desired && desired > 0 {
		maxTotal = desired + 1
	}
	if maxTotal < desired {
		maxTotal = desired
	}
	if minHealthy > desired {
		minHealthy = desired
	}
	if maxTotal == desired && minHealthy == desired && desired > 0 {
		minHealthy = desired - 1
	}
	return minHealthy, maxTotal
}

func inService(in *instance) bool {
	return !in.leaving && in.state == awsapi.InService && in.health == awsapi.Healthy
}

func count(ins []*instance, f func(*instance) bool) int {
	n := 0
	for _, in := range ins {
		if f(in) {
			n++
		}
	}
	return n
}

// pickVictim chooses the instance to terminate among candidates: InService
// ones first, from the zone with the most instances, those not on the
// group's template first, then the oldest.
func (g *group) pickVictim(cands []*instance) *instance {
	zc := map[string]int{}
	for _, in := range g.active() {
		zc[in.zone]++
	}
	best := cands[0]
	better := func(a, b *instance) bool {
		if ai, bi := a.state == awsapi.InService, b.state == awsapi.InService; ai != bi {
			return ai
		}
		if zc[a.zone] != zc[b.zone] {
			return zc[a.zone] > zc[b.zone]
		}
		if ao, bo := a.template != g.template, b.template != g.template; ao != bo {
			return ao
		}
		if !a.created.Equal(b.created) {
			return a.created.Before(b.created)
		}
		return a.id < b.id
	}
	for _, in := range cands[1:] {
		if better(in, best) {
			best = in
		}
	}
	return best
}

func remove(ins []*instance, x *instance) []*instance {
	for i, in := range ins {
		if in == x {
			return append(ins[:i:i], ins[i+1:]...)
		}
	}
	return ins
}

// plan decides what the group does this round and returns the instances
// it created (their Launch is to be called).
func (c *Cloud) plan(ctx context.Context, g *group, now time.Time) []*instance {
	desired := g.desired
	r := g.activeRefresh()
	healthy := func(in *instance) bool { return in.health == awsapi.Healthy }
	current := func(in *instance) bool { return in.template == g.template }

	// An unhealthy instance that is not in service yet goes at once.
	for _, in := range g.active() {
		if in.health == awsapi.Unhealthy && in.state != awsapi.InService {
			c.beginTerminate(g, in, "unhealthy", false)
		}
	}

	// Scale in. During a refresh only instances on the current template
	// are in excess: the refresh removes the others.
	var pool []*instance
	for _, in := range g.active() {
		if healthy(in) && (r == nil || current(in)) {
			pool = append(pool, in)
		}
	}
	for excess := len(pool) - desired; excess > 0; excess-- {
		v := g.pickVictim(pool)
		c.beginTerminate(g, v, "scale-in", true)
		pool = remove(pool, v)
	}

	// Replace unhealthy InService instances: launch first when the
	// maintenance policy leaves room, terminate once the replacement
	// serves (or if no replacement can be launched).
	maxTotal := g.maintenanceMax(desired)
	for _, in := range g.active() {
		if in.health != awsapi.Unhealthy {
			continue
		}
		active := g.active()
		stuck := count(active, healthy) < desired && len(active) >= maxTotal
		if g.cfg.MaxHealthyPercentage <= 100 || count(active, inService) >= desired || stuck {
			c.beginTerminate(g, in, "unhealthy", true)
		}
	}

	// Keep the desired number of healthy instances.
	var launched []*instance
	launchN := func(n int) {
		for ; n > 0; n-- {
			in := c.newInstance(ctx, g, now)
			if in == nil {
				return
			}
			launched = append(launched, in)
		}
	}
	active := g.active()
	launchN(min(desired-count(active, healthy), maxTotal-len(active)))

	if r != nil {
		minHealthy, maxTotal := bounds(desired, r.minHealthy, r.maxHealthy)
		active := g.active()
		fresh := count(active, func(in *instance) bool { return healthy(in) && current(in) })
		launchN(min(desired-fresh, maxTotal-len(active)))

		warm := func(in *instance) bool {
			return inService(in) && (!current(in) || now.Sub(in.inServiceAt) >= g.cfg.InstanceWarmup)
		}
		capacity := count(g.active(), warm)
		var old []*instance
		for _, in := range g.active() {
			if inService(in) && !current(in) {
				old = append(old, in)
			}
		}
		for len(old) > 0 && capacity-1 >= minHealthy {
			v := g.pickVictim(old)
			c.beginTerminate(g, v, "refresh", true)
			old = remove(old, v)
			capacity--
		}

		remaining := count(g.instances, func(in *instance) bool { return !current(in) })
		if r.replaced+remaining > 0 {
			r.pct = r.replaced * 100 / (r.replaced + remaining)
		}
		ready := count(g.active(), func(in *instance) bool { return current(in) && warm(in) })
		if remaining == 0 && ready >= desired {
			r.status = awsapi.RefreshSuccessful
			r.pct = 100
			c.emit(g.cfg.Name, "", EventRefreshFinished, r.id+" "+r.status)
		}
	}
	return launched
}
