package asg

import (
	"context"
	"fmt"
	"time"

	"github.com/foobar/webstack/internal/awsapi"
)

var (
	_ awsapi.AutoScaling = (*Cloud)(nil)
	_ awsapi.EC2         = (*Cloud)(nil)
)

// DescribeGroup describes a group and its instances that are not yet
// Terminated, oldest first; a ValidationError if there is no such group.
func (c *Cloud) DescribeGroup(ctx context.Context, name string) (awsapi.Group, error) {
	if err := ctx.Err(); err != nil {
		return awsapi.Group{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[name]
	if !ok {
		return awsapi.Group{}, groupNotFound(name)
	}
	out := awsapi.Group{Name: name, MinSize: g.cfg.MinSize, MaxSize: g.cfg.MaxSize, DesiredCapacity: g.desired}
	for _, in := range g.instances {
		out.Instances = append(out.Instances, awsapi.GroupInstance{
			InstanceID:            in.id,
			AvailabilityZone:      in.zone,
			LifecycleState:        in.state,
			HealthStatus:          in.health,
			LaunchTemplateVersion: in.template,
		})
	}
	return out, nil
}

func noLifecycleAction(id string) error {
	return validationError("No active Lifecycle Action found with instance ID %s", id)
}

// waiting returns the instance of groupName waiting on the hook named
// hook, or the API's error; c.mu must be held.
func (c *Cloud) waiting(groupName, hook, id string) (*group, *instance, error) {
	g, ok := c.groups[groupName]
	if !ok {
		return nil, nil, groupNotFound(groupName)
	}
	in, ok := c.all[id]
	if !ok || in.group != groupName || hook == "" {
		return nil, nil, noLifecycleAction(id)
	}
	switch {
	case in.state == awsapi.PendingWait && hook == g.cfg.LaunchHook:
	case in.state == awsapi.TerminatingWait && hook == g.cfg.TerminateHook:
	default:
		return nil, nil, noLifecycleAction(id)
	}
	return g, in, nil
}

// CompleteLifecycleAction ends the wait of an instance on a lifecycle hook
// with result CONTINUE or ABANDON: on the launch hook CONTINUE puts it in
// service, ABANDON terminates it; on the terminate hook both let the
// termination proceed. An instance not waiting on that hook is a
// ValidationError ("No active Lifecycle Action found with instance ID …").
func (c *Cloud) CompleteLifecycleAction(ctx context.Context, groupName, hook, instanceID, result string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if result != awsapi.Continue && result != awsapi.Abandon {
		return validationError("Invalid LifecycleActionResult %q: must be CONTINUE or ABANDON", result)
	}
	c.mu.Lock()
	g, in, err := c.waiting(groupName, hook, instanceID)
	if err == nil {
		c.completeHook(g, in, result, result)
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
	return err
}

// RecordLifecycleActionHeartbeat restarts the timeout of the lifecycle
// hook an instance waits on; the same errors as CompleteLifecycleAction.
func (c *Cloud) RecordLifecycleActionHeartbeat(ctx context.Context, groupName, hook, instanceID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, in, err := c.waiting(groupName, hook, instanceID)
	if err != nil {
		return err
	}
	in.deadline = time.Now().Add(g.hookTimeout(in.state))
	return nil
}

// SetInstanceHealth marks an instance Healthy or Unhealthy. With
// respectGracePeriod, Unhealthy is ignored for an instance not yet
// InService or InService for less than the group's health check grace
// period. An unhealthy instance is replaced (see the package's doc).
func (c *Cloud) SetInstanceHealth(ctx context.Context, instanceID, status string, respectGracePeriod bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if status != awsapi.Healthy && status != awsapi.Unhealthy {
		return validationError("Invalid HealthStatus %q: must be Healthy or Unhealthy", status)
	}
	c.mu.Lock()
	in, ok := c.all[instanceID]
	if !ok || in.state == awsapi.Terminated {
		c.mu.Unlock()
		return validationError("Instance Id not found - No managed instance found for instance ID: %s", instanceID)
	}
	g := c.groups[in.group]
	switch {
	case in.health == status:
	case status == awsapi.Healthy:
		in.health = awsapi.Healthy
		c.emit(g.cfg.Name, in.id, EventHealthy, "SetInstanceHealth")
	case respectGracePeriod && !in.leaving &&
		(in.state != awsapi.InService || time.Since(in.inServiceAt) < g.cfg.HealthCheckGracePeriod):
		c.emit(g.cfg.Name, in.id, EventHealthIgnored, "SetInstanceHealth in the grace period")
	default:
		in.health = awsapi.Unhealthy
		c.emit(g.cfg.Name, in.id, EventUnhealthy, "SetInstanceHealth")
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
	return nil
}

// SetDesiredCapacity scales a group; a value outside [MinSize, MaxSize]
// is a ValidationError.
func (c *Cloud) SetDesiredCapacity(ctx context.Context, groupName string, desired int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	g, ok := c.groups[groupName]
	if !ok {
		c.mu.Unlock()
		return groupNotFound(groupName)
	}
	switch {
	case desired > g.cfg.MaxSize:
		c.mu.Unlock()
		return validationError("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.cfg.MaxSize)
	case desired < g.cfg.MinSize:
		c.mu.Unlock()
		return validationError("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.cfg.MinSize)
	}
	if desired != g.desired {
		c.emit(g.cfg.Name, "", EventCapacity, fmt.Sprintf("%d -> %d", g.desired, desired))
		g.desired = desired
	}
	c.mu.Unlock()
	c.poke()
	c.flush()
	return nil
}

// StartInstanceRefresh starts replacing the group's instances whose
// template is not the current one and returns the refresh's id. minHealthy
// and maxHealthy both 0 mean the group's instance maintenance policy, or
// 90/100 without one; maxHealthy 0 alone means 100. Another refresh in
// progress is an error with code InstanceRefreshInProgress.
func (c *Cloud) StartInstanceRefresh(ctx context.Context, groupName string, minHealthy, maxHealthy int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	g, ok := c.groups[groupName]
	if !ok {
		c.mu.Unlock()
		return "", groupNotFound(groupName)
	}
	if minHealthy == 0 && maxHealthy == 0 {
		minHealthy, maxHealthy = 90, 100
		if g.cfg.MaxHealthyPercentage != 0 {
			minHealthy, maxHealthy = g.cfg.MinHealthyPercentage, g.cfg.MaxHealthyPercentage
		}
	} else if maxHealthy == 0 {
		maxHealthy = 100
	}
	if err := checkPercentages(minHealthy, maxHealthy); err != nil {
		c.mu.Unlock()
		return "", err
	}
	if g.activeRefresh() != nil {
		c.mu.Unlock()
		return "", &awsapi.APIError{
			Code:       "InstanceRefreshInProgress",
			Message:    "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
			StatusCode: 400,
		}
	}
	c.nextRefresh++
	r := &refresh{
		id:         fmt.Sprintf("%08x-0000-4000-8000-%012x", c.nextRefresh, c.nextRefresh),
		status:     awsapi.RefreshInProgress,
		minHealthy: minHealthy,
		maxHealthy: maxHealthy,
	}
	g.refreshes = append(g.refreshes, r)
	c.emit(g.cfg.Name, "", EventRefreshStarted, fmt.Sprintf("%s to %s, min %d%% max %d%%", r.id, g.template, minHealthy, maxHealthy))
	c.mu.Unlock()
	c.poke()
	c.flush()
	return r.id, nil
}

// DescribeInstanceRefreshes lists a group's refreshes, newest first.
func (c *Cloud) DescribeInstanceRefreshes(ctx context.Context, groupName string) ([]awsapi.InstanceRefresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[groupName]
	if !ok {
		return nil, groupNotFound(groupName)
	}
	out := make([]awsapi.InstanceRefresh, 0, len(g.refreshes))
	for i := len(g.refreshes) - 1; i >= 0; i-- {
		r := g.refreshes[i]
		out = append(out, awsapi.InstanceRefresh{ID: r.id, Status: r.status, PercentageComplete: r.pct})
	}
	return out, nil
}

// DescribeInstances describes instances by id (all of them, by id, if ids
// is empty): their address, zone and state, "running" from their launch
// until Launcher.Terminate is called, "shutting-down" while it runs, then
// "terminated" (terminated instances stay known). Unknown ids are an
// APIError with code InvalidInstanceID.NotFound.
func (c *Cloud) DescribeInstances(ctx context.Context, ids []string) ([]awsapi.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(ids) == 0 {
		all := map[string]bool{}
		for id := range c.all {
			all[id] = true
		}
		ids = sortedIDs(all)
	}
	out := make([]awsapi.Instance, 0, len(ids))
	missing := map[string]bool{}
	for _, id := range ids {
		in, ok := c.all[id]
		if !ok {
			missing[id] = true
			continue
		}
		out = append(out, awsapi.Instance{InstanceID: in.id, PrivateIP: in.ip, AvailabilityZone: in.zone, State: in.ec2State})
	}
	if len(missing) == 1 {
		return nil, &awsapi.APIError{Code: "InvalidInstanceID.NotFound", StatusCode: 400,
			Message: fmt.Sprintf("The instance ID '%s' does not exist", sortedIDs(missing)[0])}
	}
	if len(missing) > 1 {
		return nil, &awsapi.APIError{Code: "InvalidInstanceID.NotFound", StatusCode: 400,
			Message: fmt.Sprintf("The instance IDs '%s' do not exist", quoteJoin(sortedIDs(missing)))}
	}
	return out, nil
}
