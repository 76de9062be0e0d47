package infra

import (
	"fmt"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Facts are what the program learns before creating anything: the
// account and its partition, who may write the bucket, the hosts' images,
// the application release and the agent's release for each architecture
// the hosts use.
type Facts struct {
	AccountID, Partition string
	// Deployer is the ARN of the principal running the program (as
	// GetCallerIdentity names it).
	Deployer string
	// Writers may write the bucket's objects: webstack:operators.deploy,
	// or the principal running the program. SecretReaders may read the
	// secrets' values besides the hosts: the writers and
	// webstack:operators.preview. Both are principals' ARNs (a role
	// session stands for its role: inputs.PrincipalArns).
	Writers, SecretReaders []string
	LoadBalancer, Web, App host.Image
	Release                release.Artifact
	// Agents are the webstack agent built for each architecture (arm64,
	// x86_64) a tier uses.
	Agents map[string]release.Artifact
}

// Agent is the agent's release for an image's architecture.
func (f Facts) Agent(img host.Image) release.Artifact { return f.Agents[img.Architecture] }

// lookups asks AWS what the settings depend on (the region's zones, the
// hosts' images) and reports every problem at once, before anything is
// registered.
func lookups(ctx *pulumi.Context, s *stacks.Settings) (Facts, error) {
	var problems stacks.Problems
	region, lookupProblems, err := regionZones(ctx, s)
	if err != nil {
		return Facts{}, err
	}
	problems = append(problems, lookupProblems...)
	if len(lookupProblems) == 0 {
		if err := s.ResolveZones(region); err != nil {
			problems = append(problems, err.(stacks.Problems)...)
		}
	}
	problems = append(problems, databaseOffering(ctx, s)...)

	caller, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{})
	if err != nil {
		return Facts{}, err
	}
	partition, err := aws.GetPartition(ctx, &aws.GetPartitionArgs{})
	if err != nil {
		return Facts{}, err
	}
	images := Facts{
		AccountID: caller.AccountId, Partition: partition.Partition, Agents: map[string]release.Artifact{},
		Deployer: caller.Arn,
	}
	if p := boundaryElsewhere(s.PermissionsBoundary, images.Partition, images.AccountID); p != "" {
		problems = append(problems, stacks.Problem{Key: s.Project + ":permissionsBoundary", Value: s.PermissionsBoundary, Message: p})
	}
	if p := operators(ctx, s, caller.Arn, &images); p != nil {
		problems = append(problems, *p)
	}
	latest := map[string]host.Image{} // one lookup per architecture
	for _, tier := range []struct {
		key  string
		spec stacks.Host
		dst  *host.Image
	}{
		{"loadBalancer", s.LoadBalancer.Host, &images.LoadBalancer},
		{"web", s.Web.Host, &images.Web},
		{"app", s.App.Host, &images.App},
	} {
		arch, _ := stacks.Architecture(tier.spec.InstanceType)
		if img, ok := latest[arch]; ok && tier.spec.AMI == "" {
			*tier.dst = img
			continue
		}
		img, err := host.ResolveImage(ctx, tier.spec.InstanceType, tier.spec.AMI)
		if err != nil {
			problems = append(problems, stacks.Problem{Key: s.Project + ":" + tier.key + ".ami", Value: tier.spec.AMI, Message: err.Error()})
			continue
		}
		if img.Latest {
			latest[arch] = img
		}
		*tier.dst = img
	}
	if len(problems) == 0 {
		images.Release, err = appRelease(s, images.App.Architecture)
		if err != nil {
			problems = append(problems, stacks.Problem{Key: s.Project + ":app.artifact", Value: s.App.Artifact, Message: err.Error()})
		}
		for _, img := range []host.Image{images.LoadBalancer, images.Web, images.App} {
			if _, built := images.Agents[img.Architecture]; built {
				continue
			}
			agent, err := buildProgram("./agent", img.Architecture)
			if err != nil {
				return Facts{}, err
			}
			images.Agents[img.Architecture] = agent
		}
	}
	if len(problems) > 0 {
		return Facts{}, problems
	}
	return images, nil
}

// databaseOffering asks RDS what only it knows, at preview time: that the
// region has a version of the engine's major (its parameter group family),
// and that it offers the instance class for that version with gp3
// storage. A refusal names the setting and carries RDS's own words.
func databaseOffering(ctx *pulumi.Context, s *stacks.Settings) stacks.Problems {
	d := s.Database
	key := func(field string) string { return s.Project + ":database." + field }
	family := database.Family(d.Engine, d.EngineVersion)
	version, err := rds.GetEngineVersion(ctx, &rds.GetEngineVersionArgs{Engine: d.Engine, ParameterGroupFamily: &family})
	if err != nil {
		return stacks.Problems{{Key: key("engineVersion"), Value: d.EngineVersion, Message: fmt.Sprintf(
			"RDS in %s has no %s %s (parameter group family %s): %v", s.Region, d.Engine, d.EngineVersion, family, err)}}
	}
	storage := "gp3"
	if _, err := rds.GetOrderableDbInstance(ctx, &rds.GetOrderableDbInstanceArgs{
		Engine: d.Engine, EngineVersion: &version.Version, InstanceClass: &d.InstanceClass, StorageType: &storage,
	}); err != nil {
		return stacks.Problems{{Key: key("instanceClass"), Value: d.InstanceClass, Message: fmt.Sprintf(
			"RDS in %s does not offer this class for %s %s with gp3 storage: %v", s.Region, d.Engine, version.Version, err)}}
	}
	return nil
}

// regionZones are the region's available zones (no opt-in zones), each
// with the instance types and interface endpoint services of the stack it
// does not offer: in us-east-1 one physical zone has no Graviton (t4g)
// instances, and some endpoint services miss some zones.
//
// An instance type no zone of the region offers (a typo, a size that does
// not exist) and an endpoint service the region does not have are
// problems of their own settings, not of the zones.
func regionZones(ctx *pulumi.Context, s *stacks.Settings) ([]stacks.Zone, stacks.Problems, error) {
	state := "available"
	azs, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: &state,
		Filters: []aws.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if len(azs.Names) != len(azs.ZoneIds) {
		return nil, nil, fmt.Errorf("getAvailabilityZones: %d names but %d zone IDs", len(azs.Names), len(azs.ZoneIds))
	}
	var types []string
	for _, t := range []string{s.LoadBalancer.InstanceType, s.Web.InstanceType, s.App.InstanceType} {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	// Which of the stack's instance types each zone offers, by zone ID.
	locType := "availability-zone-id"
	offers, err := ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
		LocationType: &locType,
		Filters: []ec2.GetInstanceTypeOfferingsFilter{
			{Name: "instance-type", Values: types},
			{Name: "location", Values: azs.ZoneIds},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	offered := map[string]bool{} // zone ID + "/" + instance type, and the type alone
	for i, loc := range offers.Locations {
		if i < len(offers.InstanceTypes) {
			offered[loc+"/"+offers.InstanceTypes[i]] = true
			offered[offers.InstanceTypes[i]] = true
		}
	}
	var problems stacks.Problems
	archOf := map[string][]string{} // instance type: the architectures EC2 reports
	for _, tier := range []struct {
		key string
		typ string
	}{{"loadBalancer", s.LoadBalancer.InstanceType}, {"web", s.Web.InstanceType}, {"app", s.App.InstanceType}} {
		key := s.Project + ":" + tier.key + ".instanceType"
		if !offered[tier.typ] {
			problems = append(problems, stacks.Problem{Key: key, Value: tier.typ, Message: fmt.Sprintf(
				"is offered in no available zone of region %s (aws ec2 describe-instance-type-offerings --location-type availability-zone-id): not an EC2 instance type, or not sold in this region", s.Region)})
			continue
		}
		// The image and the agent are chosen by the architecture the
		// name implies (stacks.Architecture); EC2 says which it is.
		if _, asked := archOf[tier.typ]; !asked {
			it, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: tier.typ})
			if err != nil {
				return nil, nil, fmt.Errorf("looking up instance type %s (%s): %w", tier.typ, key, err)
			}
			archOf[tier.typ] = it.SupportedArchitectures
		}
		if guess, _ := stacks.Architecture(tier.typ); !slices.Contains(archOf[tier.typ], guess) {
			problems = append(problems, stacks.Problem{Key: key, Value: tier.typ, Message: fmt.Sprintf(
				"runs %s (ec2 DescribeInstanceTypes), not %s, the architecture webstack builds images and programs for from its name; choose an x86_64 or arm64 (Graviton) Linux instance type",
				strings.Join(archOf[tier.typ], ", "), guess)})
		}
	}
	// Which zones (by name) each interface endpoint service is offered in.
	endpointZones := map[string][]string{}
	for i, svc := range s.Network.InterfaceEndpoints {
		name := network.EndpointService(s.Region, svc)
		kind := "Interface"
		es, err := ec2.LookupVpcEndpointService(ctx, &ec2.LookupVpcEndpointServiceArgs{ServiceName: &name, ServiceType: &kind})
		if err != nil {
			problems = append(problems, stacks.Problem{Key: fmt.Sprintf("%s:network.interfaceEndpoints[%d]", s.Project, i), Value: svc, Message: fmt.Sprintf(
				"region %s has no interface endpoint service %s (aws ec2 describe-vpc-endpoint-services lists them): a misspelt service, or one without an interface endpoint", s.Region, name)})
			continue
		}
		endpointZones[svc] = es.AvailabilityZones
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	zones := make([]stacks.Zone, len(azs.Names))
	for i, name := range azs.Names {
		z := stacks.Zone{ID: azs.ZoneIds[i], Name: name}
		for _, t := range types {
			if !offered[z.ID+"/"+t] {
				z.Missing = append(z.Missing, "instance type "+t)
			}
		}
		for _, svc := range s.Network.InterfaceEndpoints {
			if !slices.Contains(endpointZones[svc], name) {
				z.Missing = append(z.Missing, "endpoint service "+svc)
			}
		}
		zones[i] = z
	}
	return zones, nil, nil
}

// boundaryElsewhere says what is wrong with a permissions boundary of
// another partition or account than the stack's ("" if nothing): IAM
// would refuse it, after the first resources exist.
func boundaryElsewhere(arn, partition, account string) string {
	if arn == "" {
		return ""
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "" // stacks.Validate reports the form
	}
	if parts[1] != partition || (parts[4] != account && parts[4] != "aws") {
		return fmt.Sprintf("must be a policy of this stack's account, arn:%s:iam::%s:policy/NAME (the credentials' account and partition)", partition, account)
	}
	return ""
}

// operators fills in who may write the bucket (webstack:operators.deploy,
// or the caller) and who may read the secrets (those and
// operators.preview), relative entries expanded into the credentials'
// account. An update by a caller that is not a writer is refused: the
// bucket policy would deny it the objects it writes, half-way through.
// A preview writes nothing, so it only warns, and says so when the caller
// could not read the secrets either (preview --refresh would fail).
func operators(ctx *pulumi.Context, s *stacks.Settings, callerArn string, f *Facts) *stacks.Problem {
	expand := func(list []string) []string {
		out := make([]string, len(list))
		for i, p := range list {
			out[i] = inputs.ExpandPrincipal(p, f.Partition, f.AccountID)
		}
		return out
	}
	f.Writers = expand(s.Operators.Deploy)
	if len(f.Writers) == 0 {
		f.Writers = []string{callerArn}
	}
	f.SecretReaders = append(append([]string{}, f.Writers...), expand(s.Operators.Preview)...)
	if inputs.Covers(f.Writers, callerArn) {
		return nil
	}
	key := s.Project + ":operators.deploy"
	msg := fmt.Sprintf("does not include %s, which runs this program: the bucket policy would deny it the objects an update writes; add it (a role session: its role, e.g. role/<name>)", callerArn)
	if ctx.DryRun() {
		if !inputs.Covers(f.SecretReaders, callerArn) {
			msg += "; nor does " + s.Project + ":operators.preview, so the secrets' policies deny it their values (preview --refresh)"
		}
		_ = ctx.Log.Warn(key+": "+msg, nil)
		return nil
	}
	return &stacks.Problem{Key: key, Value: s.Operators.Deploy, Message: msg}
}

// appRelease is the application the hosts run: the user's executable, or the
// default application built from app/ for the hosts' architecture.
func appRelease(s *stacks.Settings, arch string) (release.Artifact, error) {
	if s.App.Artifact != "" {
		return release.FileArtifact(s.App.Artifact)
	}
	return buildProgram("./app", arch)
}

// buildProgram builds a program of this module for the hosts'
// architecture (release.Build, cached in .build/).
func buildProgram(pkg, arch string) (release.Artifact, error) {
	root, err := release.ModuleRoot()
	if err != nil {
		return release.Artifact{}, err
	}
	return release.Build(release.BuildArgs{ModuleDir: root, Package: pkg, Arch: arch})
}
