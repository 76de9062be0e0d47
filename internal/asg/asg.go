// Package asg models EC2 Auto Scaling groups for the sandbox: the heart of
// its fake AWS (internal/fakeaws serves a *Cloud over the Auto Scaling,
// EC2 and instance metadata protocols), so that the hosts' agent runs the
// same code against it as on AWS.
//
// A Cloud holds groups (AddGroup). Its reconcile loop (Run) keeps each
// group at its desired capacity: it launches instances through a Launcher
// (the sandbox creates a network namespace and starts the host's daemons
// and agent), moves them through their lifecycle, replaces unhealthy or
// failed ones, scales in and out, and carries out instance refreshes.
// Every change is recorded as an Event.
//
// # Lifecycle
//
// An instance is created Pending and Launcher.Launch is called in its own
// goroutine. With a launch lifecycle hook it is Pending:Wait at once (the
// host boots while the hook waits) until CompleteLifecycleAction: CONTINUE
// makes it Pending:Proceed, then InService as soon as Launch has returned;
// ABANDON (or the hook's timeout with DefaultResult ABANDON) terminates it
// without running the terminate hook, and the group launches another.
// RecordLifecycleActionHeartbeat restarts the timeout. Without a launch
// hook an instance is InService once Launch has returned. An error from
// Launch is a failed launch: the instance is terminated (no terminate
// hook) and replaced.
//
// When the group terminates an instance (scale-in, health replacement,
// refresh) it becomes Terminating, then with a terminate hook
// Terminating:Wait until CompleteLifecycleAction (CONTINUE and ABANDON
// alike) or the hook's timeout, then Terminating:Proceed. Launcher.Terminate
// is then called (in a goroutine, never while Launch still runs for that
// instance; Launch's context is cancelled when the group gives up on an
// instance that is still launching); once it returns the instance is
// Terminated and leaves the group. DescribeInstances still knows it
// (state "terminated"), as EC2 does for a while.
//
// # Scaling
//
// Scale-out launches each new instance in the group's zone with the fewest
// instances (ties: the order of GroupConfig.Zones). Scale-in is a
// simplified form of AWS's default termination policy: it picks InService
// instances first (pending ones only if there are not enough), from the
// zone with the most instances, instances not running the group's current
// template first, then the oldest.
//
// # Health
//
// An instance marked Unhealthy (SetInstanceHealth, or Launcher.Alive
// false: a failed EC2 status check) never counts as healthy capacity. An
// unhealthy instance that is not yet InService is terminated at once (no
// terminate hook). An unhealthy InService instance is replaced following
// the group's instance maintenance policy: if MaxHealthyPercentage is
// above 100 the replacement is launched first and the unhealthy instance
// terminated (through its terminate hook) once the group has its desired
// number of healthy InService instances again; otherwise, or when the
// maximum leaves no room, it is terminated first and its replacement
// launched at the same time ("terminate and launch", AWS's default).
// Launcher.Alive is asked, on every round of the loop, only about InService
// instances whose health check grace period has passed.
//
// # Instance refresh
//
// StartInstanceRefresh replaces every instance whose template differs from
// the group's current one (AWS's SkipMatching behaviour). At every round:
//
//   - minimum = ⌈desired × MinHealthy / 100⌉ (rounded up, as AWS documents
//     for MinHealthyPercentage), maximum = ⌊desired × MaxHealthy / 100⌋
//     (rounded down), at least desired+1 when MaxHealthy is above 100;
//     when minimum and maximum both equal the desired capacity, minimum is
//     lowered by one (AWS: "100 percent … one instance at a time").
//   - New instances (current template) are launched while fewer than the
//     desired capacity are healthy and the group (instances not on their
//     way out) holds fewer than maximum.
//   - An old InService instance is terminated only while the healthy
//     capacity (InService, healthy; new instances only once warmed up,
//     InstanceWarmup after InService) stays at or above minimum afterwards.
//   - The refresh is Successful when no old instance is left (not even
//     terminating) and the desired capacity is healthy and warmed up on
//     the current template. A new instance that fails is replaced and the
//     refresh stays InProgress: it never fails or rolls back.
//
// With desired 2, MinHealthy 100, MaxHealthy 200 this launches 2 new
// instances, waits until both are InService and warmed up, then terminates
// both old ones.
//
// # Simplifications
//
// One launch hook and one terminate hook per group; no warm pools,
// standby, scale-in protection, checkpoints, rollbacks, cancellation or
// failure of refreshes, no global hook timeout (48 h on AWS), no AZ
// rebalancing. SetTemplate changes the template a running refresh targets.
// Instances on their way out (Terminating…) count neither as capacity nor
// against the maximum of the maintenance policy or of a refresh.
package asg

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

// Host is what a Launcher needs to create or remove one instance.
type Host struct {
	// Group is the name of the instance's Auto Scaling group.
	Group string
	// InstanceID is the instance's id (i- and 17 hex digits).
	InstanceID string
	// PrivateIP is the instance's address, from GroupConfig.Addresses.
	PrivateIP string
	// AvailabilityZone is the zone the instance was placed in.
	AvailabilityZone string
	// Template is the launch template version the instance runs.
	Template string
}

// Launcher creates and removes hosts: the sandbox's namespaces, daemons
// and agents, or a fake in tests. Its methods are called without the
// Cloud's lock held, from the Cloud's goroutines; they may call the Cloud.
type Launcher interface {
	// Launch creates the host; it is called when the instance enters
	// Pending, in its own goroutine. An error is a failed launch: the
	// instance is terminated (Terminate is still called, to clean up) and
	// replaced. ctx is cancelled if the group gives up on the instance
	// before Launch returns, once the instance is Terminated, and when Run
	// ends (a Launch that returns an error then counts as failed too).
	Launch(ctx context.Context, h Host) error
	// Terminate removes the host; it is called when the instance reaches
	// Terminating:Proceed, never while Launch runs for it. Once it returns
	// nil the instance is Terminated; an error is retried a second later.
	Terminate(ctx context.Context, h Host) error
	// Alive reports whether the host still runs; false is a failed EC2
	// status check and makes the instance Unhealthy. It is asked on every
	// round of the loop about every InService instance past its grace
	// period, so it must be cheap.
	Alive(h Host) bool
}

// GroupConfig describes an Auto Scaling group.
type GroupConfig struct {
	// Name of the group; unique in a Cloud.
	Name string
	// Role is the IAM role of the group's instance profile, returned by
	// Identify (the metadata service serves its credentials).
	Role string
	// Zones are the availability zones the instances are balanced over.
	Zones []string
	// Addresses lists, for each zone, the private IPs its instances may
	// use: a launch takes the first one no live instance of the Cloud
	// holds, and the address is free again once its instance is
	// Terminated. A zone without free address is skipped; with none
	// anywhere the launch waits (event "launch-failed"). If Addresses is
	// nil, the Cloud makes up unique addresses (100.64.0.0/10), which is
	// only good for tests.
	Addresses map[string][]string
	// MinSize, MaxSize and DesiredCapacity bound and set the group's size.
	MinSize, MaxSize, DesiredCapacity int
	// Template is the launch template version new instances run.
	Template string

	// LaunchHook is the name of the launch lifecycle hook ("" = none).
	LaunchHook string
	// LaunchHookTimeout is its heartbeat timeout (0 = one hour, as AWS).
	LaunchHookTimeout time.Duration
	// LaunchHookDefaultResult is what happens at the timeout: ABANDON
	// (the default, as AWS) or CONTINUE.
	LaunchHookDefaultResult string
	// TerminateHook is the name of the terminate lifecycle hook ("" =
	// none).
	TerminateHook string
	// TerminateHookTimeout is its heartbeat timeout (0 = one hour).
	TerminateHookTimeout time.Duration
	// TerminateHookDefaultResult is ABANDON (default) or CONTINUE; either
	// way the termination proceeds.
	TerminateHookDefaultResult string

	// HealthCheckGracePeriod: SetInstanceHealth with respectGracePeriod
	// and the EC2 status check (Launcher.Alive) ignore an instance
	// InService for less than this, and one not yet InService.
	HealthCheckGracePeriod time.Duration
	// MinHealthyPercentage and MaxHealthyPercentage are the instance
	// maintenance policy. MaxHealthyPercentage 0 means no policy: an
	// unhealthy instance is terminated, then replaced, and a refresh
	// started without percentages uses 90/100. Otherwise Max is 100..200,
	// Min 0..100, Max-Min at most 100.
	MinHealthyPercentage, MaxHealthyPercentage int
	// InstanceWarmup is how long after it is InService a refresh counts a
	// new instance as healthy; 0 means HealthCheckGracePeriod (as AWS),
	// negative none.
	InstanceWarmup time.Duration
}

// Identity is what the metadata service tells an instance about itself,
// found by its private address.
type Identity = awsapi.Identity

// InstanceInfo is a snapshot of one instance of a group.
type InstanceInfo struct {
	InstanceID       string
	Group            string
	AvailabilityZone string
	PrivateIP        string
	Template         string
	LifecycleState   string // Pending, Pending:Wait, …, Terminating:Proceed
	HealthStatus     string // Healthy or Unhealthy
	// TargetLifecycleState is InService or Terminated (see Identity).
	TargetLifecycleState string
	// LaunchedAt is when the instance was created, InServiceAt when it
	// entered InService (zero if it has not).
	LaunchedAt, InServiceAt time.Time
}

// Event kinds. Lifecycle transitions are recorded with the new state as
// their kind (awsapi.PendingWait, awsapi.PendingProceed, awsapi.InService,
// awsapi.TerminatingWait, awsapi.TerminatingProceed, awsapi.Terminated);
// entering Terminating is EventTerminate.
const (
	// EventLaunch: an instance was created (Pending), Launch is called.
	EventLaunch = "launch"
	// EventLaunchFailed: Launch returned an error (the instance is
	// terminated), or no address was free.
	EventLaunchFailed = "launch-failed"
	// EventAbandoned: the launch hook ended with ABANDON (Detail: ABANDON
	// or timeout).
	EventAbandoned = "abandoned"
	// EventUnhealthy: an instance was marked Unhealthy (Detail: why).
	EventUnhealthy = "unhealthy"
	// EventHealthy: an Unhealthy instance was marked Healthy again.
	EventHealthy = "healthy"
	// EventHealthIgnored: SetInstanceHealth(Unhealthy) during the grace
	// period, ignored.
	EventHealthIgnored = "health-ignored"
	// EventTerminate: the group decided to terminate an instance, which is
	// now Terminating (Detail: scale-in, unhealthy, abandoned,
	// launch-failed or refresh).
	EventTerminate = "terminate"
	// EventTerminateFailed: Launcher.Terminate returned an error.
	EventTerminateFailed = "terminate-failed"
	// EventCapacity: the desired capacity changed (Detail: "2 -> 4").
	EventCapacity = "capacity"
	// EventTemplate: the group's launch template changed.
	EventTemplate = "template"
	// EventRefreshStarted and EventRefreshFinished bracket an instance
	// refresh (InstanceID is empty, Detail has the refresh's id and, at
	// the end, its status).
	EventRefreshStarted  = "refresh-started"
	EventRefreshFinished = "refresh-finished"
)

// Event is one entry of the Cloud's event log.
type Event struct {
	// Seq numbers events from 1, in the order they happened.
	Seq        int
	Time       time.Time
	Group      string
	InstanceID string // "" for group events
	// Kind is one of the Event* constants or a lifecycle state.
	Kind   string
	Detail string
}

// String formats the event as one log line.
func (e Event) String() string {
	s := e.Time.Format("15:04:05.000") + " " + e.Group
	if e.InstanceID != "" {
		s += " " + e.InstanceID
	}
	s += " " + e.Kind
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Option configures a Cloud.
type Option func(*Cloud)

// WithInterval sets the period of the reconcile loop (default 50 ms).
func WithInterval(d time.Duration) Option {
	return func(c *Cloud) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithEventHandler has every event passed to f, in order, one at a time,
// from whichever goroutine of the Cloud produced it, without the Cloud's
// lock held (f may call the Cloud).
func WithEventHandler(f func(Event)) Option {
	return func(c *Cloud) { c.handler = f }
}

// maxEvents bounds the event log Events returns (the oldest are dropped).
const maxEvents = 100000

// defaultHookTimeout is AWS's default heartbeat timeout.
const defaultHookTimeout = time.Hour

// Cloud is a set of Auto Scaling groups and their instances. It implements
// awsapi.AutoScaling and awsapi.EC2; all its methods are safe for
// concurrent use.
type Cloud struct {
	launcher Launcher
	interval time.Duration
	handler  func(Event)

	kick chan struct{}

	mu          sync.Mutex
	groups      map[string]*group
	order       []string
	all         map[string]*instance // every instance ever, by id
	usedIPs     map[string]bool
	nextID      uint64
	nextRefresh uint64
	autoIP      uint32
	seq         int
	events      []Event
	queue       []Event // not yet passed to handler
	running     bool

	deliverMu sync.Mutex
	wg        sync.WaitGroup
}

type group struct {
	cfg       GroupConfig
	desired   int
	template  string
	instances []*instance // not Terminated, in creation order
	refreshes []*refresh  // oldest first
	noAddr    bool        // the last launch found no free address
}

type instance struct {
	id, group, zone, ip, template string
	state, health                 string
	ec2State                      string
	created, inServiceAt          time.Time
	deadline                      time.Time // of the lifecycle hook waited on
	leaving                       bool      // the group decided to terminate it
	hookOnExit                    bool      // run the terminate hook
	launching, launched           bool
	launchCtx                     context.Context
	cancelLaunch                  context.CancelFunc
	terminating                   bool // Terminate is running
	retryAt                       time.Time
}

type refresh struct {
	id                     string
	status                 string
	minHealthy, maxHealthy int
	replaced               int
	pct                    int
}

// New returns a Cloud that launches and terminates hosts with l.
func New(l Launcher, opts ...Option) *Cloud {
	c := &Cloud{
		launcher: l,
		interval: 50 * time.Millisecond,
		kick:     make(chan struct{}, 1),
		groups:   map[string]*group{},
		all:      map[string]*instance{},
		usedIPs:  map[string]bool{},
		nextID:   1,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func validationError(format string, args ...any) error {
	return &awsapi.APIError{Code: "ValidationError", Message: fmt.Sprintf(format, args...), StatusCode: 400}
}

func groupNotFound(name string) error {
	return validationError("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
}

// AddGroup adds a group; the reconcile loop launches its instances.
func (c *Cloud) AddGroup(cfg GroupConfig) error {
	if cfg.Name == "" {
		return fmt.Errorf("asg: group without a name")
	}
	if len(cfg.Zones) == 0 {
		return fmt.Errorf("asg: group %s: no zones", cfg.Name)
	}
	if cfg.MinSize < 0 || cfg.MinSize > cfg.MaxSize || cfg.DesiredCapacity < cfg.MinSize || cfg.DesiredCapacity > cfg.MaxSize {
		return fmt.Errorf("asg: group %s: need 0 <= min (%d) <= desired (%d) <= max (%d)", cfg.Name, cfg.MinSize, cfg.DesiredCapacity, cfg.MaxSize)
	}
	for _, r := range []*string{&cfg.LaunchHookDefaultResult, &cfg.TerminateHookDefaultResult} {
		switch *r {
		case "":
			*r = awsapi.Abandon
		case awsapi.Abandon, awsapi.Continue:
		default:
			return fmt.Errorf("asg: group %s: default result %q is neither ABANDON nor CONTINUE", cfg.Name, *r)
		}
	}
	if cfg.LaunchHookTimeout <= 0 {
		cfg.LaunchHookTimeout = defaultHookTimeout
	}
	if cfg.TerminateHookTimeout <= 0 {
		cfg.TerminateHookTimeout = defaultHookTimeout
	}
	if cfg.MaxHealthyPercentage != 0 {
		if err := checkPercentages(cfg.MinHealthyPercentage, cfg.MaxHealthyPercentage); err != nil {
			return fmt.Errorf("asg: group %s: %w", cfg.Name, err)
		}
	}
	switch {
	case cfg.InstanceWarmup == 0:
		cfg.InstanceWarmup = cfg.HealthCheckGracePeriod
	case cfg.InstanceWarmup < 0:
		cfg.InstanceWarmup = 0
	}
	cfg.Zones = append([]string(nil), cfg.Zones...)
	if cfg.Addresses != nil {
		a := make(map[string][]string, len(cfg.Addresses))
		for z, ips := range cfg.Addresses {
			a[z] = append([]string(nil), ips...)
		}
		cfg.Addresses = a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.groups[cfg.Name]; ok {
		return fmt.Errorf("asg: group %s exists", cfg.Name)
	}
	c.groups[cfg.Name] = &group{cfg: cfg, desired: cfg.DesiredCapacity, template: cfg.Template}
	c.order = append(c.order, cfg.Name)
	c.poke()
	return nil
}

func checkPercentages(minH, maxH int) error {
	if minH < 0 || minH > 100 {
		return validationError("MinHealthyPercentage must be between 0 and 100, not %d", minH)
	}
	if maxH < 100 || maxH > 200 {
		return validationError("MaxHealthyPercentage must be between 100 and 200, not %d", maxH)
	}
	if maxH-minH > 100 {
		return validationError("The difference between MaxHealthyPercentage (%d) and MinHealthyPercentage (%d) cannot be greater than 100", maxH, minH)
	}
	return nil
}

// SetTemplate changes the launch template version of a group: instances
// launched from now on run version; those running keep theirs until an
// instance refresh replaces them.
func (c *Cloud) SetTemplate(groupName, version string) error {
	c.mu.Lock()
	g, ok := c.groups[groupName]
	if !ok {
		c.mu.Unlock()
		return groupNotFound(groupName)
	}
	if g.template != version {
		c.emit(g.cfg.Name, "", EventTemplate, g.template+" -> "+version)
		g.template = version
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
	return nil
}

// GroupNames lists the groups, in the order they were added.
func (c *Cloud) GroupNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// Instances returns a snapshot of a group's instances (those not yet
// Terminated), oldest first; nil if there is no such group.
func (c *Cloud) Instances(groupName string) []InstanceInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[groupName]
	if !ok {
		return nil
	}
	out := make([]InstanceInfo, 0, len(g.instances))
	for _, in := range g.instances {
		out = append(out, InstanceInfo{
			InstanceID:           in.id,
			Group:                in.group,
			AvailabilityZone:     in.zone,
			PrivateIP:            in.ip,
			Template:             in.template,
			LifecycleState:       in.state,
			HealthStatus:         in.health,
			TargetLifecycleState: in.target(),
			LaunchedAt:           in.created,
			InServiceAt:          in.inServiceAt,
		})
	}
	return out
}

// Identify finds the live (not Terminated) instance with private address
// ip.
func (c *Cloud) Identify(ip string) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found *instance
	for _, name := range c.order {
		for _, in := range c.groups[name].instances {
			if in.ip == ip && (found == nil || in.created.After(found.created)) {
				found = in
			}
		}
	}
	if found == nil {
		return Identity{}, false
	}
	return Identity{
		InstanceID:           found.id,
		AvailabilityZone:     found.zone,
		TargetLifecycleState: found.target(),
		Role:                 c.groups[found.group].cfg.Role,
	}, true
}

// Events returns the event log, oldest first (at most the last 100,000).
func (c *Cloud) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

func (in *instance) target() string {
	if in.leaving || in.state == awsapi.Terminated {
		return awsapi.Terminated
	}
	return awsapi.InService
}

func (in *instance) host() Host {
	return Host{Group: in.group, InstanceID: in.id, PrivateIP: in.ip, AvailabilityZone: in.zone, Template: in.template}
}

// emit records an event; c.mu must be held. Call flush after unlocking.
func (c *Cloud) emit(groupName, id, kind, detail string) {
	c.seq++
	e := Event{Seq: c.seq, Time: time.Now(), Group: groupName, InstanceID: id, Kind: kind, Detail: detail}
	c.events = append(c.events, e)
	if len(c.events) > maxEvents {
		c.events = append(c.events[:0:0], c.events[len(c.events)-maxEvents:]...)
	}
	if c.handler != nil {
		c.queue = append(c.queue, e)
	}
}

// flush passes queued events to the handler, in order and one at a time;
// it must be called without c.mu held. A goroutine that finds another one
// delivering leaves its events to it.
func (c *Cloud) flush() {
	if c.handler == nil {
		return
	}
	for {
		if !c.deliverMu.TryLock() {
			return
		}
		for {
			c.mu.Lock()
			q := c.queue
			c.queue = nil
			c.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, e := range q {
				c.handler(e)
			}
		}
		c.deliverMu.Unlock()
		c.mu.Lock()
		more := len(c.queue) > 0
		c.mu.Unlock()
		if !more {
			return
		}
	}
}

// poke wakes the reconcile loop up.
func (c *Cloud) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// sortedIDs returns ids sorted (instance ids sort by creation).
func sortedIDs(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func quoteJoin(ids []string) string {
	return strings.Join(ids, ", ")
}
