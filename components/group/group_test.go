package group_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	ltT     = "aws:ec2/launchTemplate:LaunchTemplate"
	asgT    = "aws:autoscaling/group:Group"
	policyT = "aws:autoscaling/policy:Policy"
)

func args() group.Args {
	return group.Args{
		Placements: []group.Placement{
			{Zone: "us-east-1a", SubnetID: pulumi.String("subnet-a")},
			{Zone: "us-east-1b", SubnetID: pulumi.String("subnet-b")},
		},
		Image:        host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64", Latest: true},
		InstanceType: "t4g.small", Tags: map[string]string{"Environment": "dev", "Team": "web"},
		SecurityGroupID: pulumi.String("sg-web"),
		UserData:        cloudinit.UserData{Text: "#cloud-config\npackages: [nginx]\n", Size: 34},
		MinSize:         2, MaxSize: 4, DesiredCapacity: 2,
	}
}

func run(t *testing.T, mutate func(*group.Args)) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run(func(ctx *pulumi.Context) error {
		a := args()
		if mutate != nil {
			mutate(&a)
		}
		if a.Role == nil && a.MinSize >= 0 {
			role, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "test"})
			if err != nil {
				return err
			}
			a.Role = role
		}
		_, err := group.New(ctx, "web", a)
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
}

func mustRun(t *testing.T, mutate func(*group.Args)) *mocks.Recorder {
	t.Helper()
	rec, err := run(t, mutate)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Every host the group launches carries the hardening of a webstack host.
func TestLaunchTemplateIsHardened(t *testing.T) {
	rec := mustRun(t, nil)
	lts := rec.OfType(ltT)
	if len(lts) != 1 {
		t.Fatalf("%d launch templates", len(lts))
	}
	lt := lts[0]
	for path, want := range map[string]string{
		"metadataOptions.httpTokens":                   "required",
		"metadataOptions.httpEndpoint":                 "enabled",
		"blockDeviceMappings.0.deviceName":             group.RootDevice,
		"blockDeviceMappings.0.ebs.encrypted":          "true",
		"blockDeviceMappings.0.ebs.volumeType":         "gp3",
		"networkInterfaces.0.associatePublicIpAddress": "false",
		"imageId":      "ami-0123456789abcdef0",
		"instanceType": "t4g.small",
	} {
		if got := lt.Str(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if lt.Int("metadataOptions.httpPutResponseHopLimit") != 1 || !lt.Bool("monitoring.enabled") || lt.Str("keyName") != "" {
		t.Errorf("hop limit %d, monitoring %v, key pair %q", lt.Int("metadataOptions.httpPutResponseHopLimit"), lt.Bool("monitoring.enabled"), lt.Str("keyName"))
	}
	if sgs := lt.Strings("networkInterfaces.0.securityGroups"); !slices.Equal(sgs, []string{"sg-web"}) {
		t.Errorf("security groups %v", sgs)
	}
	if lt.Str("iamInstanceProfile.arn") == "" {
		t.Error("no instance profile")
	}
	ud, err := base64.StdEncoding.DecodeString(lt.Str("userData"))
	if err != nil || !strings.HasPrefix(string(ud), "#cloud-config") {
		t.Errorf("user data is not base64 cloud-config: %q %v", lt.Str("userData"), err)
	}
	// A newer "latest" image does not roll the group; tags reach what it
	// launches, the group's name among them.
	if !slices.Contains(lt.IgnoreChanges, "imageId") {
		t.Errorf("ignoreChanges %v: a latest image must not start a refresh", lt.IgnoreChanges)
	}
	for i, kind := range []string{"instance", "volume", "network-interface"} {
		p := "tagSpecifications." + string(rune('0'+i))
		if lt.Str(p+".resourceType") != kind || lt.Str(p+".tags.Team") != "web" || lt.Str(p+".tags."+group.GroupTag) != "webstack-dev-web" {
			t.Errorf("tag specification %d: %v", i, lt.In(p))
		}
	}
	pinned := mustRun(t, func(a *group.Args) { a.Image.Latest = false }).OfType(ltT)[0]
	if slices.Contains(pinned.IgnoreChanges, "imageId") {
		t.Error("a pinned image must roll the group when it changes")
	}
}

// The group: named after the component, over every subnet, gated by both
// lifecycle hooks, replacing and refreshing with new hosts ready first.
func TestGroupRollsAndHeals(t *testing.T) {
	rec := mustRun(t, nil)
	asg := rec.OfType(asgT)[0]
	if asg.Str("name") != "webstack-dev-web" || !slices.Equal(asg.Strings("vpcZoneIdentifiers"), []string{"subnet-a", "subnet-b"}) {
		t.Errorf("name %q, subnets %v", asg.Str("name"), asg.Strings("vpcZoneIdentifiers"))
	}
	if asg.Int("minSize") != 2 || asg.Int("maxSize") != 4 || asg.Int("desiredCapacity") != 2 || asg.Str("healthCheckType") != "EC2" {
		t.Errorf("capacity %d/%d/%d, health check %q", asg.Int("minSize"), asg.Int("maxSize"), asg.Int("desiredCapacity"), asg.Str("healthCheckType"))
	}
	hooks := map[string]string{}
	for i := 0; i < 2; i++ {
		p := "initialLifecycleHooks." + string(rune('0'+i))
		hooks[asg.Str(p+".lifecycleTransition")] = asg.Str(p+".name") + " " + asg.Str(p+".defaultResult")
	}
	if hooks["autoscaling:EC2_INSTANCE_LAUNCHING"] != "webstack-dev-web-launch ABANDON" || hooks["autoscaling:EC2_INSTANCE_TERMINATING"] != "webstack-dev-web-terminate CONTINUE" {
		t.Errorf("hooks %v", hooks)
	}
	for path, want := range map[string]int{
		"instanceRefresh.preferences.minHealthyPercentage": 100, "instanceRefresh.preferences.maxHealthyPercentage": 200,
		"instanceMaintenancePolicy.minHealthyPercentage": 100, "instanceMaintenancePolicy.maxHealthyPercentage": 200,
	} {
		if got := asg.Int(path); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
	if asg.Str("instanceRefresh.strategy") != "Rolling" || !asg.Bool("instanceRefresh.preferences.autoRollback") {
		t.Errorf("refresh %v", asg.In("instanceRefresh"))
	}
	lt := rec.OfType(ltT)[0]
	if asg.Str("launchTemplate.id") != lt.ID || asg.Str("launchTemplate.version") != "1" {
		t.Errorf("launch template %v: want the template's latest version by number (a $Latest would never refresh)", asg.In("launchTemplate"))
	}
	if len(rec.OfType(policyT)) != 0 || slices.Contains(asg.IgnoreChanges, "desiredCapacity") {
		t.Error("without a scaling setting there is no policy, and up owns the desired capacity")
	}
}

// A target-tracking policy owns the capacity: up must not reset it.
func TestScalingPolicyOwnsTheCapacity(t *testing.T) {
	rec := mustRun(t, func(a *group.Args) { a.ScalingMetric, a.ScalingTarget = "cpu", 55 })
	pols := rec.OfType(policyT)
	if len(pols) != 1 || pols[0].Str("policyType") != "TargetTrackingScaling" ||
		pols[0].Str("targetTrackingConfiguration.predefinedMetricSpecification.predefinedMetricType") != "ASGAverageCPUUtilization" ||
		pols[0].Int("targetTrackingConfiguration.targetValue") != 55 {
		t.Fatalf("policies %v", pols)
	}
	if asg := rec.OfType(asgT)[0]; !slices.Contains(asg.IgnoreChanges, "desiredCapacity") {
		t.Errorf("ignoreChanges %v", asg.IgnoreChanges)
	}
}

// Bad arguments are refused, all at once, before anything is registered.
func TestGroupRefusesBadArgsBeforeRegisteringAnything(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*group.Args)
		want   string
	}{
		"min above max":   {func(a *group.Args) { a.MinSize, a.MaxSize = 3, 2 }, "need 0 ≤ min ≤ max"},
		"desired outside": {func(a *group.Args) { a.DesiredCapacity = 5 }, "DesiredCapacity 5: must be between MinSize 2 and MaxSize 4"},
		"unknown metric":  {func(a *group.Args) { a.ScalingMetric, a.ScalingTarget = "memory", 50 }, `ScalingMetric "memory": must be one of cpu`},
		"bad target":      {func(a *group.Args) { a.ScalingMetric, a.ScalingTarget = "cpu", 0 }, "ScalingTarget 0"},
		"no subnets":      {func(a *group.Args) { a.Placements = nil }, "Placements, Image, InstanceType, SecurityGroupID and Role are required"},
		"surge too wide":  {func(a *group.Args) { a.MinHealthyPercentage, a.MaxHealthyPercentage = 50, 200 }, "at most 100 apart"},
		"boundary a role": {func(a *group.Args) { a.PermissionsBoundary = "arn:aws:iam::123456789012:role/x" }, `PermissionsBoundary "arn:aws:iam::123456789012:role/x" is not an IAM managed policy ARN`},
	} {
		rec, err := run(t, tc.mutate)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if n := len(rec.OfType(ltT)) + len(rec.OfType(asgT)); n > 0 {
			t.Errorf("%s: %d group resources registered before the error", name, n)
		}
	}
}

// The hosts may complete lifecycle actions and set health on their own
// group only.
func TestLifecycleStatementsNameTheGroup(t *testing.T) {
	st := group.LifecycleStatements("aws", "us-east-1", "123456789012", "webstack-dev-web")
	own := st[0]
	if !slices.Equal(own.Action, []string{"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"}) ||
		!slices.Equal(own.Resource, []string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/webstack-dev-web"}) {
		t.Errorf("own statement %+v", own)
	}
	if d := st[1]; !slices.Equal(d.Action, []string{"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"}) || !slices.Equal(d.Resource, []string{"*"}) {
		t.Errorf("discovery statement %+v", d)
	}
}
