package fakeaws

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/foobar/webstack/internal/awsapi"
)

// DefaultRole is the instance role Memory gives its instances.
const DefaultRole = "webstack-host"

// Memory is a small in-memory Cloud for tests: groups and instances that
// tests add and move between states, and the API calls it receives,
// recorded (Calls) so that tests can assert on them. Its API methods
// validate their input as AWS does (unknown groups and instances, no
// waiting lifecycle action, sizes out of bounds) and answer
// *awsapi.APIError. It models only what follows directly from a call:
// CompleteLifecycleAction moves the instance on (CONTINUE at launch:
// InService; ABANDON at launch, or either at termination: Terminated),
// but nothing launches, replaces or terminates instances on its own —
// tests do that with AddInstance and SetState. Lifecycle hook names are
// not checked (they are recorded). Safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	groups    map[string]*memGroup
	instances map[string]*memInstance
	ips       map[string]string // address → instance id
	errs      map[string]error  // action → injected error
	calls     []string
}

type memGroup struct {
	min, max, desired int
	members           []string                 // instance ids, in the order added
	refreshes         []awsapi.InstanceRefresh // newest first
}

type memInstance struct {
	group     string
	ec2       awsapi.Instance
	lifecycle string
	health    string
	target    string
	role      string
	ltVersion string
}

var _ Cloud = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{
		groups:    map[string]*memGroup{},
		instances: map[string]*memInstance{},
		ips:       map[string]string{},
		errs:      map[string]error{},
	}
}

// AddGroup adds an empty group, or sets the sizes of an existing one.
func (m *Memory) AddGroup(name string, min, max, desired int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[name]
	if !ok {
		g = &memGroup{}
		m.groups[name] = g
	}
	g.min, g.max, g.desired = min, max, desired
}

// AddInstance adds an instance to group ("": an instance in no group, which
// only DescribeInstances and the metadata service know) in lifecycle state
// ("" is InService). The instance is Healthy, has the role DefaultRole, a
// target lifecycle state that follows from state (see SetState) and, if
// inst.State is "", the EC2 state running (terminated for Terminated).
// The metadata service answers for it at inst.PrivateIP. It is an error
// if the group does not exist or the id is empty or taken.
func (m *Memory) AddInstance(group string, inst awsapi.Instance, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inst.InstanceID == "" {
		return fmt.Errorf("fakeaws: AddInstance to group %q: the instance has no id", group)
	}
	if _, ok := m.instances[inst.InstanceID]; ok {
		return fmt.Errorf("fakeaws: AddInstance %s: the id is taken", inst.InstanceID)
	}
	var g *memGroup
	if group != "" {
		if g = m.groups[group]; g == nil {
			return fmt.Errorf("fakeaws: AddInstance %s: no group %q (AddGroup first)", inst.InstanceID, group)
		}
	}
	if state == "" {
		state = awsapi.InService
	}
	i := &memInstance{group: group, ec2: inst, health: awsapi.Healthy, role: DefaultRole}
	i.setLifecycle(state)
	if inst.State == "" {
		i.ec2.State = "running"
		if state == awsapi.Terminated {
			i.ec2.State = "terminated"
		}
	}
	if group == "" {
		i.lifecycle, i.target = "", ""
	}
	m.instances[inst.InstanceID] = i
	if g != nil {
		g.members = append(g.members, inst.InstanceID)
	}
	if inst.PrivateIP != "" {
		m.ips[inst.PrivateIP] = inst.InstanceID
	}
	return nil
}

// setLifecycle sets the lifecycle state and the target state that follows
// from it.
func (i *memInstance) setLifecycle(state string) {
	i.lifecycle = state
	if strings.HasPrefix(state, "Terminat") {
		i.target = awsapi.Terminated
	} else {
		i.target = awsapi.InService
	}
}

// instance is the instance id, or an error naming the setter.
func (m *Memory) instance(setter, id string) (*memInstance, error) {
	i := m.instances[id]
	if i == nil {
		return nil, fmt.Errorf("fakeaws: %s: no instance %q", setter, id)
	}
	return i, nil
}

// SetState sets an instance's lifecycle state and, with it, its target
// lifecycle state: Terminated for Terminating, Terminating:Wait,
// Terminating:Proceed and Terminated, InService otherwise. Terminated also
// sets its EC2 state to terminated.
func (m *Memory) SetState(id, lifecycleState string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetState", id)
	if err != nil {
		return err
	}
	i.setLifecycle(lifecycleState)
	if lifecycleState == awsapi.Terminated {
		i.ec2.State = "terminated"
	}
	return nil
}

// SetTarget sets an instance's target lifecycle state alone ("": the
// metadata service answers 404).
func (m *Memory) SetTarget(id, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetTarget", id)
	if err != nil {
		return err
	}
	i.target = target
	return nil
}

// SetEC2State sets an instance's EC2 state (running, stopped, …).
func (m *Memory) SetEC2State(id, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetEC2State", id)
	if err != nil {
		return err
	}
	i.ec2.State = state
	return nil
}

// SetHealth sets an instance's health status (Healthy, Unhealthy).
func (m *Memory) SetHealth(id, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetHealth", id)
	if err != nil {
		return err
	}
	i.health = status
	return nil
}

// SetRole sets an instance's role name ("": no role).
func (m *Memory) SetRole(id, role string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetRole", id)
	if err != nil {
		return err
	}
	i.role = role
	return nil
}

// SetLaunchTemplateVersion sets the launch template version an instance
// was launched from.
func (m *Memory) SetLaunchTemplateVersion(id, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.instance("SetLaunchTemplateVersion", id)
	if err != nil {
		return err
	}
	i.ltVersion = version
	return nil
}

// MapIP makes the metadata service answer for instance id to callers from
// ip as well (httptest's clients call from 127.0.0.1).
func (m *Memory) MapIP(ip, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.instance("MapIP", id); err != nil {
		return err
	}
	m.ips[ip] = id
	return nil
}

// SetRefresh sets the status and progress of one of group's refreshes.
func (m *Memory) SetRefresh(group, id, status string, percentageComplete int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groups[group]
	if g == nil {
		return fmt.Errorf("fakeaws: SetRefresh: no group %q", group)
	}
	for k := range g.refreshes {
		if g.refreshes[k].ID == id {
			g.refreshes[k].Status, g.refreshes[k].PercentageComplete = status, percentageComplete
			return nil
		}
	}
	return fmt.Errorf("fakeaws: SetRefresh: group %s has no refresh %q", group, id)
}

// InstanceState is an instance's lifecycle state, health status and target
// lifecycle state, whether or not it is still listed in its group.
func (m *Memory) InstanceState(id string) (lifecycle, health, target string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.instances[id]
	if i == nil {
		return "", "", "", false
	}
	return i.lifecycle, i.health, i.target, true
}

// SetError makes every later call of action (an API action's name:
// DescribeAutoScalingGroups, CompleteLifecycleAction, DescribeInstances, …)
// fail with err, until SetError(action, nil). The calls are still
// recorded.
func (m *Memory) SetError(action string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.errs, action)
	} else {
		m.errs[action] = err
	}
}

// Calls are the API calls received so far, in order, one string each: the
// action and its arguments separated by spaces —
//
//	DescribeAutoScalingGroups <group>
//	CompleteLifecycleAction <group> <hook> <instance> <CONTINUE|ABANDON>
//	RecordLifecycleActionHeartbeat <group> <hook> <instance>
//	SetInstanceHealth <instance> <Healthy|Unhealthy> <respectGracePeriod: true|false>
//	SetDesiredCapacity <group> <desired>
//	StartInstanceRefresh <group> <minHealthy> <maxHealthy>
//	DescribeInstanceRefreshes <group>
//	DescribeInstances <instance>…
//
// including the calls that failed.
func (m *Memory) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// CallsTo are the calls of one action (see Calls).
func (m *Memory) CallsTo(action string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.calls {
		if c == action || strings.HasPrefix(c, action+" ") {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the calls received so far.
func (m *Memory) ResetCalls() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = nil
}

// record records a call and returns the error injected for its action.
// The caller holds m.mu.
func (m *Memory) record(action string, args ...string) error {
	m.calls = append(m.calls, strings.Join(append([]string{action}, args...), " "))
	return m.errs[action]
}

func validation(format string, args ...any) *awsapi.APIError {
	return &awsapi.APIError{Code: "ValidationError", Message: fmt.Sprintf(format, args...), StatusCode: http.StatusBadRequest}
}

func groupNotFound(name string) *awsapi.APIError {
	return validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
}

// Identify is the identity of the instance at ip (its private address or
// one given to MapIP).
func (m *Memory) Identify(ip string) (Identity, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.instances[m.ips[ip]]
	if i == nil {
		return Identity{}, false
	}
	return Identity{InstanceID: i.ec2.InstanceID, AvailabilityZone: i.ec2.AvailabilityZone, TargetLifecycleState: i.target, Role: i.role}, true
}

// DescribeGroup describes group name; its Terminated instances are not
// listed.
func (m *Memory) DescribeGroup(_ context.Context, name string) (awsapi.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("DescribeAutoScalingGroups", name); err != nil {
		return awsapi.Group{}, err
	}
	g := m.groups[name]
	if g == nil {
		return awsapi.Group{}, groupNotFound(name)
	}
	out := awsapi.Group{Name: name, MinSize: g.min, MaxSize: g.max, DesiredCapacity: g.desired}
	for _, id := range g.members {
		i := m.instances[id]
		if i.lifecycle == awsapi.Terminated {
			continue
		}
		out.Instances = append(out.Instances, awsapi.GroupInstance{
			InstanceID: id, AvailabilityZone: i.ec2.AvailabilityZone, LifecycleState: i.lifecycle,
			HealthStatus: i.health, LaunchTemplateVersion: i.ltVersion,
		})
	}
	return out, nil
}

// waiting is instance id of group, waiting on a lifecycle hook, or the
// error AWS answers.
func (m *Memory) waiting(group, id string) (*memInstance, error) {
	if m.groups[group] == nil {
		return nil, groupNotFound(group)
	}
	i := m.instances[id]
	if i == nil || i.group != group || (i.lifecycle != awsapi.PendingWait && i.lifecycle != awsapi.TerminatingWait) {
		return nil, validation("No active Lifecycle Action found with instance ID %s", id)
	}
	return i, nil
}

// CompleteLifecycleAction ends the wait of instance id: CONTINUE at launch
// puts it InService, ABANDON at launch or either result at termination
// makes it Terminated.
func (m *Memory) CompleteLifecycleAction(_ context.Context, group, hook, id, result string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("CompleteLifecycleAction", group, hook, id, result); err != nil {
		return err
	}
	if result != awsapi.Continue && result != awsapi.Abandon {
		return validation("LifecycleActionResult %q must be CONTINUE or ABANDON", result)
	}
	i, err := m.waiting(group, id)
	if err != nil {
		return err
	}
	if i.lifecycle == awsapi.PendingWait && result == awsapi.Continue {
		i.setLifecycle(awsapi.InService)
		return nil
	}
	i.setLifecycle(awsapi.Terminated)
	i.ec2.State = "terminated"
	return nil
}

// RecordLifecycleActionHeartbeat checks that instance id waits on a hook.
func (m *Memory) RecordLifecycleActionHeartbeat(_ context.Context, group, hook, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("RecordLifecycleActionHeartbeat", group, hook, id); err != nil {
		return err
	}
	_, err := m.waiting(group, id)
	return err
}

// SetInstanceHealth sets the health status of an instance of a group (the
// group does not replace it: tests do).
func (m *Memory) SetInstanceHealth(_ context.Context, id, status string, respectGracePeriod bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("SetInstanceHealth", id, status, strconv.FormatBool(respectGracePeriod)); err != nil {
		return err
	}
	if status != awsapi.Healthy && status != awsapi.Unhealthy {
		return validation("HealthStatus %q must be Healthy or Unhealthy", status)
	}
	i := m.instances[id]
	if i == nil || i.group == "" || i.lifecycle == awsapi.Terminated {
		return validation("Instance Id not found - No managed instance found for instance ID: %s", id)
	}
	i.health = status
	return nil
}

// SetDesiredCapacity sets a group's desired capacity, within its bounds
// (no instance is launched or terminated).
func (m *Memory) SetDesiredCapacity(_ context.Context, group string, desired int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("SetDesiredCapacity", group, strconv.Itoa(desired)); err != nil {
		return err
	}
	g := m.groups[group]
	switch {
	case g == nil:
		return groupNotFound(group)
	case desired > g.max:
		return validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.max)
	case desired < g.min:
		return validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.min)
	}
	g.desired = desired
	return nil
}

// StartInstanceRefresh adds a Pending refresh to group (SetRefresh moves
// it on); InstanceRefreshInProgress if one is Pending or InProgress.
// maxHealthy 0 stands for the default, 100.
func (m *Memory) StartInstanceRefresh(_ context.Context, group string, minHealthy, maxHealthy int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("StartInstanceRefresh", group, strconv.Itoa(minHealthy), strconv.Itoa(maxHealthy)); err != nil {
		return "", err
	}
	g := m.groups[group]
	switch {
	case g == nil:
		return "", groupNotFound(group)
	case minHealthy < 0 || minHealthy > 100:
		return "", validation("MinHealthyPercentage %d must be between 0 and 100", minHealthy)
	case maxHealthy != 0 && (maxHealthy < 100 || maxHealthy > 200):
		return "", validation("MaxHealthyPercentage %d must be between 100 and 200", maxHealthy)
	case maxHealthy != 0 && maxHealthy-minHealthy > 100:
		return "", validation("the difference between MaxHealthyPercentage %d and MinHealthyPercentage %d must be at most 100", maxHealthy, minHealthy)
	}
	for _, r := range g.refreshes {
		if r.Status == awsapi.RefreshPending || r.Status == awsapi.RefreshInProgress {
			return "", &awsapi.APIError{
				Code:       "InstanceRefreshInProgress",
				Message:    fmt.Sprintf("An Instance Refresh is already in progress and blocks the execution of this Instance Refresh (%s).", r.ID),
				StatusCode: http.StatusBadRequest,
			}
		}
	}
	id := requestID()
	g.refreshes = append([]awsapi.InstanceRefresh{{ID: id, Status: awsapi.RefreshPending}}, g.refreshes...)
	return id, nil
}

// DescribeInstanceRefreshes lists group's refreshes, newest first.
func (m *Memory) DescribeInstanceRefreshes(_ context.Context, group string) ([]awsapi.InstanceRefresh, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("DescribeInstanceRefreshes", group); err != nil {
		return nil, err
	}
	g := m.groups[group]
	if g == nil {
		return nil, groupNotFound(group)
	}
	return slices.Clone(g.refreshes), nil
}

// DescribeInstances describes instances by id, in the order asked (each
// once); InvalidInstanceID.Malformed for an id that does not start with
// "i-", InvalidInstanceID.NotFound for ids that do not exist.
func (m *Memory) DescribeInstances(_ context.Context, ids []string) ([]awsapi.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.record("DescribeInstances", ids...); err != nil {
		return nil, err
	}
	var out []awsapi.Instance
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 3 {
			return nil, &awsapi.APIError{Code: "InvalidInstanceID.Malformed", Message: fmt.Sprintf("Invalid id: %q", id), StatusCode: http.StatusBadRequest}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		i := m.instances[id]
		if i == nil {
			missing = append(missing, id)
			continue
		}
		out = append(out, i.ec2)
	}
	switch len(missing) {
	case 0:
		return out, nil
	case 1:
		return nil, &awsapi.APIError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", missing[0]), StatusCode: http.StatusBadRequest}
	default:
		return nil, &awsapi.APIError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")), StatusCode: http.StatusBadRequest}
	}
}
