package infra

import (
	"sync"

	"github.com/foobar/webstack/components/apptier"
	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/monitoring"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Site is everything Build created, for callers and tests.
type Site struct {
	Settings     *stacks.Settings
	Facts        Facts
	Network      *network.Network
	Bucket       *store.Bucket
	LoadBalancer *loadbalancer.Cluster
	Web          *webtier.Tier
	App          *apptier.Tier
	Database     *database.Database
	Monitoring   *monitoring.Monitoring
	// Outputs are the stack outputs Program exports.
	Outputs pulumi.Map
}

// Build creates the whole site from validated settings.
func Build(ctx *pulumi.Context, s *stacks.Settings) (*Site, error) {
	// Lookups first: a zone or image that does not exist must stop the
	// program before anything is registered.
	facts, err := lookups(ctx, s)
	if err != nil {
		return nil, err
	}

	// A protected stack gets a destroy guard that depends on every resource
	// the program creates: record them as they are registered.
	var guarded *registered
	if s.Database.Protect {
		guarded = &registered{}
		if err := ctx.RegisterStackTransformation(guarded.record); err != nil {
			return nil, err
		}
	}

	// The tiers' firewalls were children of one firewall component before
	// each tier owned its own: keep them the same resources.
	if err := ctx.RegisterStackTransformation(firewallMoved(ctx)); err != nil {
		return nil, err
	}

	// One provider carries the common tags of every resource.
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:      pulumi.String(s.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(CommonTags(s))},
	})
	if err != nil {
		return nil, err
	}
	// The bucket's objects take at most store.MaxObjectTags tags, default
	// tags included: their provider carries only webstack's own tags
	// (ObjectTags), never the user's, so no setting of tags can break an
	// upload.
	objectProvider, err := aws.NewProvider(ctx, "aws-objects", &aws.ProviderArgs{
		Region:      pulumi.String(s.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(ObjectTags(s))},
	})
	if err != nil {
		return nil, err
	}
	withAWS := pulumi.Providers(provider)
	site := &Site{Settings: s, Facts: facts}
	volumeTags := CommonTags(s)

	// The stack's bucket's name is known before anything is created: the
	// network's S3 endpoint lets the hosts read it (and the package
	// repositories), nothing else.
	bucketName := store.BucketName(s.Project, s.Stack, facts.AccountID, s.Region)

	// The network the diagram lives in.
	site.Network, err = network.New(ctx, "network", network.Args{
		Region:               s.Region,
		Partition:            facts.Partition,
		AccountID:            facts.AccountID,
		Buckets:              []string{bucketName},
		CIDR:                 s.Network.CIDR,
		AvailabilityZones:    s.Network.AvailabilityZones,
		NATGateways:          s.Network.NATGateways,
		FlowLogRetentionDays: s.Network.FlowLogRetentionDays,
		InterfaceEndpoints:   s.Network.InterfaceEndpoints,
		PermissionsBoundary:  s.PermissionsBoundary,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	// The stack's bucket: the hosts' bundles and the application's releases.
	site.Bucket, err = store.New(ctx, "store", store.Args{
		Name:      bucketName,
		Partition: facts.Partition,
		// The bucket holds only what the program writes again on the next
		// up (bundles and releases), and its old versions: destroy may
		// empty it. (A protected stack refuses destroy anyway.)
		ForceDestroy:   true,
		ObjectProvider: objectProvider,
		// Only the deploying principal writes it: whoever else could
		// write a bundle could at most have it refused by the hosts.
		Writers: facts.Writers,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	// The boxes, built from the back of the diagram to the front.
	dbArgs := s.Database.ComponentArgs()
	dbArgs.SubnetIDs = network.SubnetIDs(site.Network.IsolatedSubnets)
	dbArgs.VpcID = site.Network.VpcID
	dbArgs.Administrators = facts.SecretReaders
	// The operating system's metrics, each minute (docs/MONITORING.md).
	dbArgs.EnhancedMonitoring = &database.EnhancedMonitoring{
		IntervalSeconds: 60, Partition: facts.Partition, Region: s.Region, AccountID: facts.AccountID,
		PermissionsBoundary: s.PermissionsBoundary,
	}
	site.Database, err = database.New(ctx, "database", dbArgs, withAWS)
	if err != nil {
		return nil, err
	}

	// The hosts of each tier are an Auto Scaling group; each tier's agents
	// discover the group behind it, so the tiers are told its name.
	site.App, err = apptier.New(ctx, "app", apptier.Args{
		Args:  hosts(s, s.App.Host, s.App.Capacity, facts.App, site.Network.PrivateSubnets, site.Network.HostPrerequisites, volumeTags),
		VpcID: site.Network.VpcID, Port: s.App.Port, Release: facts.Release, Agent: facts.Agent(facts.App), DatabaseSecretArn: site.Database.SecretArn,
		Bucket: site.Bucket, Region: s.Region, Partition: facts.Partition, AccountID: facts.AccountID,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	// Only the application servers (and the deployer) may read the
	// database's credentials.
	if err := site.Database.RestrictSecret(ctx, "database-credentials", site.App.Role.RoleArn); err != nil {
		return nil, err
	}

	site.Web, err = webtier.New(ctx, "web", webtier.Args{
		Args:  hosts(s, s.Web.Host, s.Web.Capacity, facts.Web, site.Network.PrivateSubnets, site.Network.HostPrerequisites, volumeTags),
		VpcID: site.Network.VpcID, Port: s.Web.Port, SiteName: s.SiteName(), AppGroup: site.App.Group.Group, AppPort: s.App.Port,
		Agent:  facts.Agent(facts.Web),
		Bucket: site.Bucket, Region: s.Region, Partition: facts.Partition, AccountID: facts.AccountID,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	site.LoadBalancer, err = loadbalancer.New(ctx, "lb", loadbalancer.Args{
		Subnets: site.Network.PublicSubnets, VpcID: site.Network.VpcID, ClientCIDRs: s.LoadBalancer.AllowedCIDRs,
		Image: facts.LoadBalancer, InstanceType: s.LoadBalancer.InstanceType,
		RootVolumeGiB: s.LoadBalancer.RootVolumeGiB, Tags: volumeTags, PermissionsBoundary: s.PermissionsBoundary,
		Bucket: site.Bucket, Region: s.Region, Partition: facts.Partition, AccountID: facts.AccountID,
		WebGroup: site.Web.Group.Group, WebPort: s.Web.Port,
		SiteName: s.SiteName(), CertificateSecret: s.LoadBalancer.CertificateSecret,
		HostedZoneID: s.DNS.HostedZoneID, Agent: facts.Agent(facts.LoadBalancer),
		Administrators: facts.SecretReaders, DependsOn: site.Network.HostPrerequisites,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	// The arrows of the diagram: each tier reachable only from the one
	// before it, on the port it serves.
	for _, arrow := range []struct {
		to, from *firewall.Connections
		why      string
	}{
		{site.Web.Connections, site.LoadBalancer.Connections, "HTTP and health checks from the load balancers"},
		{site.App.Connections, site.Web.Connections, "HTTP from the web servers"},
		{site.Database.Connections, site.App.Connections, "database connections from the application servers"},
	} {
		if err := arrow.to.AllowDefaultPortFrom(arrow.from, arrow.why); err != nil {
			return nil, err
		}
	}

	// Who is told when the site hurts, and what the hosts' logs become.
	site.Monitoring, err = watch(ctx, s, site, facts, provider)
	if err != nil {
		return nil, err
	}

	if guarded != nil {
		if err := guardDestroy(ctx, guarded.all()); err != nil {
			return nil, err
		}
	}
	site.Outputs = outputs(site)
	return site, nil
}

// destroyGuard stands in front of the whole site: a protected resource that
// depends on every resource of the stack. pulumi destroy deletes
// dependents first, so it must delete the guard before anything else, is
// refused, and stops with nothing deleted: a protected stack is never half
// destroyed (without it, destroy would delete the load balancers, servers
// and network and stop only at the protected database). docs/OPERATIONS.md
// says how to take such a stack down on purpose.
type destroyGuard struct{ pulumi.ResourceState }

func guardDestroy(ctx *pulumi.Context, everything []pulumi.Resource) error {
	g := &destroyGuard{}
	if err := ctx.RegisterComponentResource("webstack:index:DestroyGuard", "destroy-guard", g,
		pulumi.Protect(true), pulumi.DependsOn(everything)); err != nil {
		return err
	}
	return ctx.RegisterResourceOutputs(g, pulumi.Map{})
}

// registered records the custom resources the program creates (providers
// aside). Depending on a component is not enough: the SDK expands it to
// the children registered so far, and a child whose inputs are still
// being computed (a bundle naming the instances' addresses) is not yet
// among them.
type registered struct {
	mu        sync.Mutex
	resources []pulumi.Resource
}

func (r *registered) record(a *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	_, custom := a.Resource.(pulumi.CustomResource)
	_, provider := a.Resource.(pulumi.ProviderResource)
	if custom && !provider {
		r.mu.Lock()
		r.resources = append(r.resources, a.Resource)
		r.mu.Unlock()
	}
	return nil // no change
}

func (r *registered) all() []pulumi.Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pulumi.Resource(nil), r.resources...)
}

// outputs are the stack's exports: everything an operator or another
// stack needs, never a password.
func outputs(site *Site) pulumi.Map {
	lb := site.LoadBalancer
	out := pulumi.Map{
		"url":               lb.URL,
		"publicIp":          lb.PublicIP,
		"vpcId":             site.Network.VpcID,
		"availabilityZones": pulumi.ToStringArray(site.Network.AvailabilityZones),
		"publicSubnetIds":   network.SubnetIDs(site.Network.PublicSubnets),
		"privateSubnetIds":  network.SubnetIDs(site.Network.PrivateSubnets),
		"databaseSubnetIds": network.SubnetIDs(site.Network.IsolatedSubnets),
		"bucket":            pulumi.String(site.Bucket.Name),
		"databaseEndpoint":  site.Database.Endpoint,
		"databasePort":      site.Database.Port,
		"databaseName":      pulumi.String(site.Database.Name),
		"databaseSecretArn": site.Database.SecretArn,
		"loadBalancerGroup": pulumi.String(lb.Group.Group),
		"webServerGroup":    pulumi.String(site.Web.Group.Group),
		"appServerGroup":    pulumi.String(site.App.Group.Group),
		"appRelease":        pulumi.String(site.Facts.Release.SHA256),
	}
	if m := site.Monitoring; site.Settings.Monitoring.Enabled {
		out["alarmTopicArn"] = m.TopicArn
		out["healthCheckId"] = m.HealthCheckID
		out["healthCheckStatusUrl"] = m.HealthCheckURL
		out["dashboardUrl"] = m.DashboardURL
	}
	return out
}

// hosts is a tier's group as its settings, the lookups and the network
// describe it; its role carries the stack's permissions boundary.
func hosts(s *stacks.Settings, h stacks.Host, c stacks.Capacity, img host.Image, subnets []network.Subnet, ready []pulumi.Resource, tags map[string]string) group.Args {
	placements := make([]group.Placement, len(subnets))
	for i, sub := range subnets {
		placements[i] = group.Placement{Zone: sub.Zone, SubnetID: sub.ID}
	}
	return group.Args{
		Placements: placements, Image: img, InstanceType: h.InstanceType, RootVolumeGiB: h.RootVolumeGiB,
		Tags: tags, PermissionsBoundary: s.PermissionsBoundary,
		MinSize: c.Min, MaxSize: c.Max, DesiredCapacity: c.Desired,
		ScalingMetric: c.Scaling.Metric, ScalingTarget: c.Scaling.Target,
		DependsOn: ready,
	}
}

// CommonTags are the tags every taggable resource carries: the user's tags
// plus Project, Environment and ManagedBy.
func CommonTags(s *stacks.Settings) map[string]string {
	tags := map[string]string{}
	for k, v := range s.Tags {
		tags[k] = v
	}
	for k, v := range ObjectTags(s) {
		tags[k] = v
	}
	return tags
}

// ObjectTags are the default tags of the bucket's objects: Project,
// Environment and ManagedBy only (S3 objects take at most 10 tags; the
// user's tags would not fit).
func ObjectTags(s *stacks.Settings) map[string]string {
	return map[string]string{"Project": s.Project, "Environment": string(s.Environment), "ManagedBy": "pulumi"}
}

// watch builds the site's monitoring: the tiers' log groups always; with
// webstack:monitoring.enabled, the alarm topic, the alarms, the external
// health check of the public URL and the dashboard.
func watch(ctx *pulumi.Context, s *stacks.Settings, site *Site, facts Facts, provider pulumi.ProviderResource) (*monitoring.Monitoring, error) {
	m, a := s.Monitoring, s.Monitoring.Alarms
	args := monitoring.Args{
		Project: s.Project, Stack: s.Stack, Region: s.Region, Partition: facts.Partition, AccountID: facts.AccountID,
		LogRetentionDays: m.LogRetentionDays,
		Groups: map[signals.Tier]string{
			signals.LoadBalancer: site.LoadBalancer.Group.Group, signals.Web: site.Web.Group.Group, signals.App: site.App.Group.Group,
		},
		Alerting: m.Enabled, Email: m.Email, HTTPSEndpoints: m.HTTPSEndpoints,
		DatabaseID: site.Database.Instance.Identifier,
		Site: monitoring.Site{
			Address: site.LoadBalancer.PublicIP, HostName: s.SiteName(), HTTPS: s.LoadBalancer.CertificateSecret != "",
			Path: m.HealthCheck.Path, SearchString: m.HealthCheck.SearchString,
			IntervalSeconds: m.HealthCheck.IntervalSeconds, FailureThreshold: m.HealthCheck.FailureThreshold,
		},
		Thresholds: monitoring.Thresholds{
			PeriodSeconds: a.PeriodSeconds, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
			ErrorRatePercent: a.ErrorRatePercent, LatencyP99Ms: a.LatencyP99Ms,
			CPUPercent: a.CPUPercent, MemoryPercent: a.MemoryPercent, DiskPercent: a.DiskPercent,
			DatabaseCPUPercent: a.DatabaseCPUPercent, DatabaseFreeStorageGiB: a.DatabaseFreeStorageGiB,
			DatabaseFreeMemoryMiB: a.DatabaseFreeMemoryMiB, DatabaseConnections: a.DatabaseConnections,
		},
	}
	if m.Enabled && s.Region != monitoring.HealthCheckRegion {
		// Route 53's health check metrics are in us-east-1 only.
		p, err := aws.NewProvider(ctx, "aws-"+monitoring.HealthCheckRegion, &aws.ProviderArgs{
			Region:      pulumi.String(monitoring.HealthCheckRegion),
			DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(CommonTags(s))},
		})
		if err != nil {
			return nil, err
		}
		args.HealthCheckProvider = p
	}
	return monitoring.New(ctx, "monitoring", args, pulumi.Providers(provider))
}
