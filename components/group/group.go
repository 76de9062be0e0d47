// Package group provides a self-healing group of identical hardened hosts:
// an EC2 Auto Scaling group, spread over the subnets of several zones,
// launching from a launch template that carries every hardening of
// package host (the image, IMDSv2 with one hop, an encrypted gp3 root
// volume, no key pair, no public address, the tier's instance profile,
// detailed monitoring, the cloud-config bootstrap).
//
// The group works with the agent every host runs (internal/hostagent):
//
//   - a launch lifecycle hook holds a new host out of service until its
//     agent completes it (the bundle applied, the host's own service
//     healthy); the default result is ABANDON, so a host that never gets
//     healthy is terminated and replaced, and never receives traffic;
//   - a terminate lifecycle hook holds a leaving host until its agent has
//     drained it;
//   - the agent marks its instance Unhealthy when its service fails, and
//     the group replaces it, launching the replacement first (instance
//     maintenance policy: MinHealthyPercentage 100 by default);
//   - a change of the launch template starts an instance refresh: new hosts
//     are launched and ready before old ones go (min healthy 100 %, max
//     healthy 200 % by default); pulumi up changes the template and the
//     group in place, and the refresh then rolls on its own;
//   - an optional target-tracking policy keeps the group's average CPU
//     near a target between MinSize and MaxSize.
//
// The hosts may complete lifecycle actions and set the health of their own
// group only (AddLifecyclePolicy), and list any group's instances (the
// tier in front discovers the one behind through the API).
//
// NewHosts publishes a tier's bundle signed (host.Seal) with the group's
// Ed25519 key, whose public key its user data pins, with a serial that an
// SSM parameter counts (its version goes up when the bundle changes): the
// hosts run only what the program signed for their bundle key, never an
// older one.
package group

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Lifecycle hook timeouts (seconds): how long a host may take to become
// ready, and to drain. Both are fixed: the group's hooks are created with
// it (so that its very first hosts are gated too), and changing them would
// replace the group.
const (
	LaunchHookTimeout    = 900
	TerminateHookTimeout = 300
)

// Timing is how fast the hosts' agents look and how long they wait: AWS's
// on the hosts (AWSTiming), the sandbox's shorter. What the agents do is
// the same.
type Timing struct {
	// Interval between two rounds of an agent.
	Interval time.Duration
	// ReadyWithin: a host not ready by then abandons its launch.
	ReadyWithin time.Duration
	// HealthFailures in a row (each waiting HealthTimeout) mark a host
	// unhealthy.
	HealthFailures int
	HealthTimeout  time.Duration
	// DrainQuiet is how long a leaving host must see no connection (three
	// rounds of the tier in front, which must drop it first); DrainWithin
	// bounds the drain.
	DrainQuiet, DrainWithin time.Duration
}

// AWSTiming is the hosts' timing on AWS: a round every 2 s (the Describe
// calls of every host of the tiers in front stay far below the APIs'
// rates), 7.5 minutes to get ready (within the launch hook's 15), three
// failed checks, a drain of up to 2 minutes (within the terminate hook's 5).
var AWSTiming = Timing{
	Interval: 2 * time.Second, ReadyWithin: LaunchHookTimeout * time.Second / 2,
	HealthFailures: 3, HealthTimeout: 2 * time.Second,
	DrainQuiet: 6 * time.Second, DrainWithin: 2 * time.Minute,
}

// Ready is the readiness an agent waits for: the applied bundle's mark and
// the host's own service.
func (t Timing) Ready(marker, url string) hostagent.Ready {
	return hostagent.Ready{Marker: marker, URL: url, Timeout: hostagent.Duration(t.ReadyWithin)}
}

// Health is the check that marks a host unhealthy.
func (t Timing) Health(url string) hostagent.Health {
	return hostagent.Health{URL: url, Failures: t.HealthFailures, Timeout: hostagent.Duration(t.HealthTimeout)}
}

// Drain is how a host leaves: before, wait until port is quiet, after.
func (t Timing) Drain(port int, before, after [][]string) hostagent.Drain {
	return hostagent.Drain{
		Before: before, Port: port, After: after,
		Quiet: hostagent.Duration(t.DrainQuiet), Timeout: hostagent.Duration(t.DrainWithin),
	}
}

// Names are the group's names, known before anything is created: the
// hosts' bundles and policies name them.
type Names struct {
	// Group is the Auto Scaling group's name: <project>-<stack>-<name>.
	Group string
	// LaunchHook and TerminateHook are its lifecycle hooks.
	LaunchHook, TerminateHook string
}

// NamesOf returns the names of the group a component called name creates.
func NamesOf(ctx *pulumi.Context, name string) Names {
	g := names.Tag(ctx, name)
	return Names{Group: g, LaunchHook: g + "-launch", TerminateHook: g + "-terminate"}
}

// ScalingMetrics are the metrics a target-tracking policy may follow.
var ScalingMetrics = map[string]string{
	"cpu": "ASGAverageCPUUtilization",
}

// Placement is a subnet the group may launch in, and its zone.
type Placement struct {
	Zone     string
	SubnetID pulumi.StringInput
}

// Args configures a group.
type Args struct {
	// Placements are the subnets the group spreads over, one per zone (at
	// least one; staging and prod use two or more). Required.
	Placements []Placement
	// Image, InstanceType and RootVolumeGiB (default 16) of every host.
	Image         host.Image
	InstanceType  string
	RootVolumeGiB int
	// Tags are put on every host, its volume and its network interface
	// (the provider's default tags do not reach what a group launches).
	Tags map[string]string
	// SecurityGroupID of the hosts. Required for New; NewHosts makes the
	// tier's own (leave it empty there).
	SecurityGroupID pulumi.StringInput
	// Role is the tier's role; its instance profile goes to every host.
	// Required.
	Role *host.Role
	// PermissionsBoundary is the ARN of a managed policy the role NewHosts
	// makes carries as its permissions boundary. Optional ("": none).
	PermissionsBoundary string
	// UserData is the hosts' bootstrap (host.Bootstrap, encoded). Required.
	UserData cloudinit.UserData
	// MinSize, MaxSize and DesiredCapacity of the group.
	MinSize, MaxSize, DesiredCapacity int
	// ScalingMetric ("cpu") and ScalingTarget (percent) add a
	// target-tracking policy; "" adds none. With a policy, the policy owns
	// the desired capacity: DesiredCapacity is only the first one.
	ScalingMetric string
	ScalingTarget int
	// MinHealthyPercentage and MaxHealthyPercentage bound replacements
	// and refreshes (default 100 and 200: launch before terminating).
	MinHealthyPercentage, MaxHealthyPercentage int
	// InstanceWarmupSeconds: how long after entering service a host
	// counts as warmed up (default 30; the launch hook already waited for
	// its readiness).
	InstanceWarmupSeconds int
	// HealthCheckGraceSeconds: how long after entering service the group
	// ignores an Unhealthy mark (default 60).
	HealthCheckGraceSeconds int
	// DependsOn are what the hosts need before the first one boots: the
	// network's S3 gateway endpoint and route-table associations
	// (network.Network.HostPrerequisites), without which cloud-init's
	// first package install and bundle download race the routes.
	DependsOn []pulumi.Resource
}

func (a Args) withDefaults() Args {
	if a.RootVolumeGiB == 0 {
		a.RootVolumeGiB = 16
	}
	if a.MinHealthyPercentage == 0 {
		a.MinHealthyPercentage = 100
	}
	if a.MaxHealthyPercentage == 0 {
		a.MaxHealthyPercentage = 200
	}
	if a.InstanceWarmupSeconds == 0 {
		a.InstanceWarmupSeconds = 30
	}
	if a.HealthCheckGraceSeconds == 0 {
		a.HealthCheckGraceSeconds = 60
	}
	return a
}

// Validate reports every problem of a group's arguments, naming the group.
func (a Args) Validate(name string) error { return a.validate(name, false) }

// validate checks the arguments; made says that NewHosts makes the role
// and the user data.
func (a Args) validate(name string, made bool) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("group %s: "+format, append([]any{name}, args...)...))
	}
	if len(a.Placements) == 0 || a.Image.ID == "" || a.InstanceType == "" || (a.SecurityGroupID == nil && !made) || (a.Role == nil && !made) {
		bad("Placements, Image, InstanceType, SecurityGroupID and Role are required")
	}
	if !made && a.UserData.Text == "" && a.UserData.Base64 == "" {
		bad("UserData is required (host.Bootstrap)")
	}
	if err := host.CheckPermissionsBoundary(a.PermissionsBoundary); err != nil {
		bad("PermissionsBoundary %v", err)
	}
	if a.UserData.Size > cloudinit.MaxUserData {
		bad("user data is %d bytes, over EC2's %d", a.UserData.Size, cloudinit.MaxUserData)
	}
	if a.MinSize < 0 || a.MaxSize < 1 || a.MinSize > a.MaxSize {
		bad("MinSize %d and MaxSize %d: need 0 ≤ min ≤ max and max ≥ 1", a.MinSize, a.MaxSize)
	} else if a.DesiredCapacity < a.MinSize || a.DesiredCapacity > a.MaxSize {
		bad("DesiredCapacity %d: must be between MinSize %d and MaxSize %d", a.DesiredCapacity, a.MinSize, a.MaxSize)
	}
	if a.ScalingMetric != "" {
		if _, ok := ScalingMetrics[a.ScalingMetric]; !ok {
			bad("ScalingMetric %q: must be one of %s", a.ScalingMetric, strings.Join(slices.Sorted(maps.Keys(ScalingMetrics)), ", "))
		}
		if a.ScalingTarget < 1 || a.ScalingTarget > 100 {
			bad("ScalingTarget %d: must be a percentage between 1 and 100", a.ScalingTarget)
		}
	}
	a = a.withDefaults()
	if a.MinHealthyPercentage < 0 || a.MinHealthyPercentage > 100 || a.MaxHealthyPercentage < 100 || a.MaxHealthyPercentage > 200 ||
		a.MaxHealthyPercentage-a.MinHealthyPercentage > 100 {
		bad("MinHealthyPercentage %d and MaxHealthyPercentage %d: need 0-100 and 100-200, at most 100 apart (AWS's limits)", a.MinHealthyPercentage, a.MaxHealthyPercentage)
	}
	return errors.Join(errs...)
}

// Group is the Auto Scaling group and its launch template.
type Group struct {
	pulumi.ResourceState
	Names
	// Arn of the group; LaunchTemplate and AutoScalingGroup are the resources.
	Arn              pulumi.StringOutput
	LaunchTemplate   *ec2.LaunchTemplate
	AutoScalingGroup *autoscaling.Group
}

// GroupTag is the tag naming a host's group on the host, its volume and
// its network interface (set by the launch template): policies use it to
// name the hosts of one group (the Auto Scaling tag aws:autoscaling:groupName
// reaches instances only).
const GroupTag = "webstack:group"

// RootDevice is Amazon Linux 2023's root device name, which the launch
// template's root volume must name (a pinned image's own root device is
// used when known).
const RootDevice = "/dev/xvda"

// New creates the group.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Group, error) {
	if err := args.Validate(name); err != nil {
		return nil, err
	}
	return newGroup(ctx, name, args, pulumi.String(args.UserData.Base64OrEncode()), opts...)
}

// newGroup creates a group whose user data (base64, as a launch template
// takes it) may still be computed.
func newGroup(ctx *pulumi.Context, name string, args Args, userData pulumi.StringInput, opts ...pulumi.ResourceOption) (*Group, error) {
	args = args.withDefaults()
	g := &Group{Names: NamesOf(ctx, name)}
	if err := ctx.RegisterComponentResource("webstack:group:Group", name, g, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(g)

	tags := pulumi.StringMap{"Name": pulumi.String(g.Group), GroupTag: pulumi.String(g.Group)}
	for _, k := range slices.Sorted(maps.Keys(args.Tags)) {
		tags[k] = pulumi.String(args.Tags[k])
	}
	var specs ec2.LaunchTemplateTagSpecificationArray
	for _, kind := range []string{"instance", "volume", "network-interface"} {
		specs = append(specs, &ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(kind), Tags: tags})
	}
	rootDevice := RootDevice
	if args.Image.RootDevice != "" {
		rootDevice = args.Image.RootDevice
	}
	ltOpts := []pulumi.ResourceOption{child}
	if args.Image.Latest {
		// "Latest" moves when AWS publishes a new image: the hosts keep the
		// image they have, and a scale-out launches the same one. Pin the
		// ami setting to roll a new image through the group.
		ltOpts = append(ltOpts, pulumi.IgnoreChanges([]string{"imageId"}))
	}
	lt, err := ec2.NewLaunchTemplate(ctx, name, &ec2.LaunchTemplateArgs{
		Description:  pulumi.String("webstack " + name + " hosts: hardened Amazon Linux with the webstack bootstrap"),
		ImageId:      pulumi.String(args.Image.ID),
		InstanceType: pulumi.String(args.InstanceType),
		IamInstanceProfile: &ec2.LaunchTemplateIamInstanceProfileArgs{
			Arn: args.Role.ProfileArn,
		},
		// No public address, the tier's security group; the group picks
		// the subnet.
		NetworkInterfaces: ec2.LaunchTemplateNetworkInterfaceArray{&ec2.LaunchTemplateNetworkInterfaceArgs{
			DeviceIndex:              pulumi.Int(0),
			AssociatePublicIpAddress: pulumi.String("false"),
			DeleteOnTermination:      pulumi.String("true"),
			SecurityGroups:           pulumi.StringArray{args.SecurityGroupID},
		}},
		// IMDSv2 only, one hop: a process in a container on the host
		// cannot reach the instance's credentials.
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
			InstanceMetadataTags:    pulumi.String("disabled"),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String(rootDevice),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeType:          pulumi.String("gp3"),
				VolumeSize:          pulumi.Int(args.RootVolumeGiB),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		Monitoring:           &ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(true)},
		UserData:             userData,
		TagSpecifications:    specs,
		UpdateDefaultVersion: pulumi.Bool(true),
		Tags:                 names.Tags(ctx, name),
	}, ltOpts...)
	if err != nil {
		return nil, err
	}
	g.LaunchTemplate = lt

	subnets := make(pulumi.StringArray, len(args.Placements))
	for i, p := range args.Placements {
		subnets[i] = p.SubnetID
	}
	// The provider's default tags do not reach a group's tags: set them
	// here (not propagated: the launch template tags what it launches).
	groupTags := autoscaling.GroupTagArray{&autoscaling.GroupTagArgs{Key: pulumi.String("Name"), Value: pulumi.String(g.Group), PropagateAtLaunch: pulumi.Bool(false)}}
	for _, k := range slices.Sorted(maps.Keys(args.Tags)) {
		groupTags = append(groupTags, &autoscaling.GroupTagArgs{Key: pulumi.String(k), Value: pulumi.String(args.Tags[k]), PropagateAtLaunch: pulumi.Bool(false)})
	}
	asgArgs := &autoscaling.GroupArgs{
		Name:               pulumi.String(g.Group),
		VpcZoneIdentifiers: subnets,
		MinSize:            pulumi.Int(args.MinSize),
		MaxSize:            pulumi.Int(args.MaxSize),
		DesiredCapacity:    pulumi.Int(args.DesiredCapacity),
		// The version number, not $Latest: a new version is a change of
		// the group, which starts the refresh.
		LaunchTemplate: &autoscaling.GroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(func(v int) string { return fmt.Sprint(v) }).(pulumi.StringOutput),
		},
		HealthCheckType:        pulumi.String("EC2"),
		HealthCheckGracePeriod: pulumi.Int(args.HealthCheckGraceSeconds),
		DefaultInstanceWarmup:  pulumi.Int(args.InstanceWarmupSeconds),
		// Hooks created with the group gate its very first hosts too.
		InitialLifecycleHooks: autoscaling.GroupInitialLifecycleHookArray{
			&autoscaling.GroupInitialLifecycleHookArgs{
				Name:                pulumi.String(g.LaunchHook),
				LifecycleTransition: pulumi.String("autoscaling:EC2_INSTANCE_LAUNCHING"),
				HeartbeatTimeout:    pulumi.Int(LaunchHookTimeout),
				DefaultResult:       pulumi.String("ABANDON"),
			},
			&autoscaling.GroupInitialLifecycleHookArgs{
				Name:                pulumi.String(g.TerminateHook),
				LifecycleTransition: pulumi.String("autoscaling:EC2_INSTANCE_TERMINATING"),
				HeartbeatTimeout:    pulumi.Int(TerminateHookTimeout),
				DefaultResult:       pulumi.String("CONTINUE"),
			},
		},
		// Replacing an unhealthy host launches the new one first.
		InstanceMaintenancePolicy: &autoscaling.GroupInstanceMaintenancePolicyArgs{
			MinHealthyPercentage: pulumi.Int(args.MinHealthyPercentage),
			MaxHealthyPercentage: pulumi.Int(args.MaxHealthyPercentage),
		},
		InstanceRefresh: &autoscaling.GroupInstanceRefreshArgs{
			Strategy: pulumi.String("Rolling"),
			Preferences: &autoscaling.GroupInstanceRefreshPreferencesArgs{
				MinHealthyPercentage: pulumi.Int(args.MinHealthyPercentage),
				MaxHealthyPercentage: pulumi.Int(args.MaxHealthyPercentage),
				InstanceWarmup:       pulumi.String(fmt.Sprint(args.InstanceWarmupSeconds)),
				// A refresh whose new hosts never get ready goes back to the
				// previous template.
				AutoRollback: pulumi.Bool(true),
			},
		},
		// pulumi up waits until the desired hosts are in service (ready),
		// on creation and when the capacity changes.
		WaitForCapacityTimeout: pulumi.String(fmt.Sprintf("%ds", LaunchHookTimeout+300)),
		Tags:                   groupTags,
	}
	groupOpts := []pulumi.ResourceOption{child, pulumi.DependsOn(args.DependsOn)}
	if args.ScalingMetric != "" {
		// The policy owns the capacity: up must not reset it.
		groupOpts = append(groupOpts, pulumi.IgnoreChanges([]string{"desiredCapacity"}))
	}
	g.AutoScalingGroup, err = autoscaling.NewGroup(ctx, name, asgArgs, groupOpts...)
	if err != nil {
		return nil, err
	}
	g.Arn = g.AutoScalingGroup.Arn

	if args.ScalingMetric != "" {
		if _, err := autoscaling.NewPolicy(ctx, name+"-"+args.ScalingMetric, &autoscaling.PolicyArgs{
			AutoscalingGroupName:    g.AutoScalingGroup.Name,
			PolicyType:              pulumi.String("TargetTrackingScaling"),
			EstimatedInstanceWarmup: pulumi.Int(args.InstanceWarmupSeconds),
			TargetTrackingConfiguration: &autoscaling.PolicyTargetTrackingConfigurationArgs{
				PredefinedMetricSpecification: &autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs{
					PredefinedMetricType: pulumi.String(ScalingMetrics[args.ScalingMetric]),
				},
				TargetValue: pulumi.Float64(float64(args.ScalingTarget)),
			},
		}, child); err != nil {
			return nil, err
		}
	}
	return g, ctx.RegisterResourceOutputs(g, pulumi.Map{
		"name": pulumi.String(g.Group), "arn": g.Arn, "launchTemplateId": lt.ID(),
	})
}

// ARN is the ARN pattern of a group by name, for IAM policies.
func ARN(partition, region, account, group string) string {
	return fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:*:autoScalingGroupName/%s", partition, region, account, group)
}

// LifecycleStatements let a group's hosts run their agent: complete and
// extend lifecycle actions and set instance health on their own group
// only, and list groups and instances (the Describe calls accept no
// narrower resource than "*").
func LifecycleStatements(partition, region, account, group string) []iampolicy.Statement {
	return []iampolicy.Statement{
		iampolicy.Allow("OwnLifecycleAndHealth", []string{
			"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth",
		}, ARN(partition, region, account, group)),
		iampolicy.Allow("DiscoverHosts", []string{"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"}, "*"),
	}
}
