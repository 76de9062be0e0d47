// Package awsapi is the small part of the AWS API the host agent
// (cmd: agent/, package internal/hostagent) and the sandbox's tools use:
// the instance metadata service (IMDSv2), Auto Scaling (the groups, their
// lifecycle hooks, instance health and refreshes) and EC2 (instances'
// addresses), spoken over the Query protocol and signed with SigV4.
//
// The types and interfaces here are shared by three implementations:
//
//   - Client and Metadata (client.go, metadata.go): the real API, over
//     HTTP, from an EC2 instance. Endpoints can be overridden with the
//     standard variables AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_EC2
//     and AWS_EC2_METADATA_SERVICE_ENDPOINT, which is how the sandbox
//     points hosts at its fake.
//   - internal/fakeaws: an HTTP server that speaks the same protocols on
//     behalf of a Cloud, so that the agent's own client code runs against
//     it in tests and in the sandbox.
//   - internal/asg: a Cloud, the Auto Scaling group model of the sandbox.
package awsapi

import (
	"context"
	"fmt"
)

// Lifecycle states of an instance in an Auto Scaling group, as the Auto
// Scaling API spells them.
const (
	Pending            = "Pending"
	PendingWait        = "Pending:Wait"
	PendingProceed     = "Pending:Proceed"
	InService          = "InService"
	Terminating        = "Terminating"
	TerminatingWait    = "Terminating:Wait"
	TerminatingProceed = "Terminating:Proceed"
	Terminated         = "Terminated"
)

// Health statuses of an instance in a group.
const (
	Healthy   = "Healthy"
	Unhealthy = "Unhealthy"
)

// Results of a lifecycle action.
const (
	Continue = "CONTINUE"
	Abandon  = "ABANDON"
)

// Refresh statuses (DescribeInstanceRefreshes).
const (
	RefreshPending    = "Pending"
	RefreshInProgress = "InProgress"
	RefreshSuccessful = "Successful"
	RefreshFailed     = "Failed"
	RefreshCancelled  = "Cancelled"
)

// GroupInstance is an instance as DescribeAutoScalingGroups lists it.
type GroupInstance struct {
	InstanceID       string
	AvailabilityZone string
	LifecycleState   string // Pending, Pending:Wait, InService, Terminating:Wait, …
	HealthStatus     string // Healthy or Unhealthy
	// LaunchTemplateVersion is the version of the group's launch template
	// the instance was launched from ("" if unknown).
	LaunchTemplateVersion string
}

// Group is an Auto Scaling group as DescribeAutoScalingGroups describes it.
type Group struct {
	Name                              string
	MinSize, MaxSize, DesiredCapacity int
	Instances                         []GroupInstance
}

// Instance is an EC2 instance as DescribeInstances describes it.
type Instance struct {
	InstanceID       string
	PrivateIP        string
	AvailabilityZone string
	State            string // pending, running, shutting-down, terminated, stopping, stopped
}

// InstanceRefresh is one refresh of a group (DescribeInstanceRefreshes).
type InstanceRefresh struct {
	ID                 string
	Status             string // Pending, InProgress, Successful, Failed, Cancelled
	PercentageComplete int
}

// APIError is an error answer of an AWS API: its code (ValidationError,
// Throttling, RequestLimitExceeded, InvalidInstanceID.NotFound, …), message
// and HTTP status.
type APIError struct {
	Code, Message string
	StatusCode    int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
}

// AutoScaling is what webstack uses of the Auto Scaling API.
type AutoScaling interface {
	// DescribeGroup describes one group by name; an APIError with code
	// ValidationError if there is none.
	DescribeGroup(ctx context.Context, name string) (Group, error)
	// CompleteLifecycleAction ends a lifecycle hook's wait for an
	// instance with result Continue or Abandon. If the instance is not
	// waiting on that hook, the API answers ValidationError ("No active
	// Lifecycle Action found with instance ID …").
	CompleteLifecycleAction(ctx context.Context, group, hook, instanceID, result string) error
	// RecordLifecycleActionHeartbeat restarts a lifecycle hook's timeout.
	RecordLifecycleActionHeartbeat(ctx context.Context, group, hook, instanceID string) error
	// SetInstanceHealth marks an instance Healthy or Unhealthy; the group
	// replaces an unhealthy one (after its grace period, if respected).
	SetInstanceHealth(ctx context.Context, instanceID, status string, respectGracePeriod bool) error
	// SetDesiredCapacity scales a group.
	SetDesiredCapacity(ctx context.Context, group string, desired int) error
	// StartInstanceRefresh replaces the group's instances that do not run
	// its current launch template, keeping at least minHealthy and at most
	// maxHealthy percent of the desired capacity healthy; it returns the
	// refresh's id.
	StartInstanceRefresh(ctx context.Context, group string, minHealthy, maxHealthy int) (string, error)
	// DescribeInstanceRefreshes lists a group's refreshes, newest first.
	DescribeInstanceRefreshes(ctx context.Context, group string) ([]InstanceRefresh, error)
}

// EC2 is what webstack uses of the EC2 API.
type EC2 interface {
	// DescribeInstances describes instances by id; ids that do not exist
	// are an APIError with code InvalidInstanceID.NotFound.
	DescribeInstances(ctx context.Context, ids []string) ([]Instance, error)
}

// Identity is what the instance metadata service tells a host about
// itself: the fakes (internal/fakeaws, internal/asg) find it by the host's
// private address.
type Identity struct {
	InstanceID       string
	AvailabilityZone string
	// TargetLifecycleState is InService while the instance launches or
	// runs, Terminated once its group decided to terminate it.
	TargetLifecycleState string
	// Role is the instance profile's role, whose credentials it gets.
	Role string
}

// InstanceMetadata is what the agent reads about its own instance.
type InstanceMetadata interface {
	// InstanceID is meta-data/instance-id.
	InstanceID(ctx context.Context) (string, error)
	// AvailabilityZone is meta-data/placement/availability-zone.
	AvailabilityZone(ctx context.Context) (string, error)
	// TargetLifecycleState is meta-data/autoscaling/target-lifecycle-state:
	// InService while the instance launches or runs, Terminated once the
	// group decided to terminate it (also while a terminate hook waits);
	// "" when the instance is in no group.
	TargetLifecycleState(ctx context.Context) (string, error)
}
