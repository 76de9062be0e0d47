// Package network provides the VPC of a webstack: per availability zone a
// public, a private and a database subnet, an internet gateway, NAT gateways
// (none, single or one per AZ), route tables, the default security group
// stripped of its rules, VPC flow logs to CloudWatch Logs, an S3 gateway
// endpoint and interface endpoints for the AWS APIs the hosts call.
//
// Every resource is named by its tier and zone (network-private-us-east-1a),
// never by a list position, and subnet CIDRs come from Layout, which keys
// them by the zone's letter: adding a zone neither renames nor re-addresses
// the subnets of the others.
package network

import (
	"errors"
	"fmt"
	"slices"

	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NAT gateway strategies.
const (
	NATNone   = "none"   // private subnets have no route to the internet
	NATSingle = "single" // one NAT gateway, in the first zone
	NATPerAZ  = "perAz"  // one NAT gateway per zone: no zone depends on another
)

// Args configures a Network. Zero values take the documented defaults.
type Args struct {
	// Region is the AWS region (for endpoint service names). Required.
	Region string
	// Partition (aws, aws-cn, aws-us-gov) and AccountID of the stack's
	// account name ARNs in the flow-log role's trust policy and the S3
	// endpoint's policy. Required.
	Partition, AccountID string
	// Buckets are the S3 buckets the hosts read through the S3 gateway
	// endpoint besides the Amazon Linux 2023 package repositories: the
	// stack's own bucket (store.BucketName, known before anything is
	// created). The endpoint's policy allows s3:GetObject on these and
	// nothing else, so a host cannot copy data to another bucket through
	// it.
	Buckets []string
	// CIDR is the VPC's IPv4 block, /16 to /22 (default 10.0.0.0/16).
	CIDR string
	// AvailabilityZones to create subnets in, at least 2. Required.
	AvailabilityZones []string
	// NATGateways is none, single or perAz (default perAz).
	NATGateways string
	// FlowLogRetentionDays for the flow log group (default 90).
	FlowLogRetentionDays int
	// InterfaceEndpoints are the services (ec2, ssm, ...) to reach through
	// interface endpoints in the private subnets, with private DNS.
	InterfaceEndpoints []string
	// PermissionsBoundary is the ARN of a managed policy the flow logs'
	// role (the only IAM role the network makes) carries as its
	// permissions boundary. Optional ("": none).
	PermissionsBoundary string
}

// Subnet is one subnet of the network.
type Subnet struct {
	ID   pulumi.StringOutput
	Zone string
	CIDR string
}

// Network is the VPC component. Subnet lists are in AvailabilityZones order.
type Network struct {
	pulumi.ResourceState

	VpcID             pulumi.StringOutput
	CIDR              string
	AvailabilityZones []string
	// PublicSubnets route to the internet gateway (the load balancers),
	// PrivateSubnets to a NAT gateway if any (the hosts), IsolatedSubnets
	// nowhere out of the VPC (the database).
	PublicSubnets   []Subnet
	PrivateSubnets  []Subnet
	IsolatedSubnets []Subnet
	// EndpointSecurityGroupID guards the interface endpoints (443 from the VPC).
	EndpointSecurityGroupID pulumi.StringOutput
	// RouteTables are the subnets' route tables, for a caller's own routes
	// (a peering connection, a transit gateway, a VPN).
	RouteTables RouteTables
	// HostPrerequisites are what a host's first boot needs in place to
	// reach S3 (its bundle, the package repositories): the S3 gateway
	// endpoint and the subnets' route-table associations. Groups of hosts
	// depend on them (pulumi.DependsOn).
	HostPrerequisites []pulumi.Resource
}

// RouteTables are a network's route tables: one for the public subnets
// (default route to the internet gateway), one per zone for the private
// subnets (default route to a NAT gateway, if any), one for the database
// subnets (the VPC's local route only).
type RouteTables struct {
	Public   *ec2.RouteTable
	Private  map[string]*ec2.RouteTable // by zone
	Isolated *ec2.RouteTable
}

// SubnetIDs returns the ids of a list of subnets, in order.
func SubnetIDs(subnets []Subnet) pulumi.StringArray {
	ids := make(pulumi.StringArray, len(subnets))
	for i, s := range subnets {
		ids[i] = s.ID
	}
	return ids
}

func (a Args) withDefaults() Args {
	if a.CIDR == "" {
		a.CIDR = "10.0.0.0/16"
	}
	if a.NATGateways == "" {
		a.NATGateways = NATPerAZ
	}
	if a.FlowLogRetentionDays == 0 {
		a.FlowLogRetentionDays = 90
	}
	return a
}

func (a Args) validate() error {
	var errs []error
	if a.Region == "" {
		errs = append(errs, errors.New("network: Args.Region is required"))
	}
	in := inputs.New("network")
	in.Optional("Region", a.Region, inputs.Region)
	in.Check("Partition", a.Partition, inputs.Partition)
	in.Check("AccountID", a.AccountID, inputs.AccountID)
	for i, b := range a.Buckets {
		in.Check(fmt.Sprintf("Buckets[%d]", i), b, inputs.BucketName)
	}
	errs = append(errs, in.Err())
	if len(a.AvailabilityZones) < 2 {
		errs = append(errs, fmt.Errorf("network: Args.AvailabilityZones = %s: at least 2 zones are required", inputs.Show("AvailabilityZones", fmt.Sprint(a.AvailabilityZones))))
	}
	if !slices.Contains([]string{NATNone, NATSingle, NATPerAZ}, a.NATGateways) {
		errs = append(errs, fmt.Errorf("network: Args.NATGateways = %s: must be none, single or perAz", inputs.Show("NATGateways", a.NATGateways)))
	}
	if _, err := Layout(a.CIDR, a.AvailabilityZones); err != nil {
		errs = append(errs, err)
	}
	if err := iampolicy.CheckBoundary(a.PermissionsBoundary); err != nil {
		errs = append(errs, fmt.Errorf("network: Args.PermissionsBoundary = %w", err))
	}
	return errors.Join(errs...)
}

// RepositoryBucket is the S3 bucket holding a region's Amazon Linux 2023
// package repositories, which dnf reaches through the S3 gateway
// endpoint (AWS's AL2023 user guide names it for endpoint policies).
func RepositoryBucket(region string) string { return "al2023-repos-" + region + "-de612dc2" }

// EndpointService is the service name of an AWS service's interface
// endpoint in a region: ec2 → com.amazonaws.us-east-1.ec2.
func EndpointService(region, svc string) string {
	return fmt.Sprintf("com.amazonaws.%s.%s", region, svc)
}

// EndpointPolicy is the S3 gateway endpoint's policy: reading objects of
// the Amazon Linux 2023 repositories and of the stack's own buckets, and
// nothing else (no write, no other bucket).
func EndpointPolicy(partition, region string, buckets []string) string {
	objects := []string{iampolicy.ARN(partition, "s3", "", "", RepositoryBucket(region)+"/*")}
	for _, b := range buckets {
		objects = append(objects, iampolicy.ARN(partition, "s3", "", "", b+"/*"))
	}
	st := iampolicy.Allow("ReadPackagesAndTheStacksBucket", []string{"s3:GetObject"}, objects...)
	st.Principal = map[string]any{"AWS": "*"}
	return iampolicy.Document(st)
}

// FlowLogTrust is the flow-log role's trust policy: VPC Flow Logs may
// assume it only for flow logs of this account (aws:SourceAccount,
// aws:SourceArn), so that no other account's flow log can be made to
// write with it (the confused deputy).
func FlowLogTrust(partition, region, account string) string {
	return iampolicy.AssumeRoleFrom("vpc-flow-logs.amazonaws.com", account,
		iampolicy.ARN(partition, "ec2", region, account, "vpc-flow-log/*"))
}

// New creates the network.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Network, error) {
	args = args.withDefaults()
	if err := args.validate(); err != nil {
		return nil, err
	}
	layout, _ := Layout(args.CIDR, args.AvailabilityZones)

	n := &Network{CIDR: args.CIDR, AvailabilityZones: args.AvailabilityZones}
	if err := ctx.RegisterComponentResource("webstack:network:Network", name, n, opts...); err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, name: name, opts: []pulumi.ResourceOption{pulumi.Parent(n)}}

	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CIDR),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               b.tags("vpc"),
	}, b.opts...)
	if err != nil {
		return nil, err
	}
	n.VpcID = vpc.ID().ToStringOutput()

	// AWS's default security group allows all traffic between its members
	// and all egress; adopting it with no rules removes them.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default-sg", &ec2.DefaultSecurityGroupArgs{
		VpcId: n.VpcID,
		Tags:  b.tags("default-sg-no-rules"),
	}, b.opts...); err != nil {
		return nil, err
	}

	for _, z := range args.AvailabilityZones {
		for _, tier := range SubnetClasses {
			s, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-%s-%s", name, tier, z), &ec2.SubnetArgs{
				VpcId:            n.VpcID,
				AvailabilityZone: pulumi.String(z),
				CidrBlock:        pulumi.String(layout[z][tier].String()),
				// Nothing gets a public IP by itself: the load balancers'
				// address is an Elastic IP.
				MapPublicIpOnLaunch: pulumi.Bool(false),
				Tags:                b.tags(fmt.Sprintf("%s-%s", tier, z)),
			}, b.opts...)
			if err != nil {
				return nil, err
			}
			sub := Subnet{ID: s.ID().ToStringOutput(), Zone: z, CIDR: layout[z][tier].String()}
			switch tier {
			case Public:
				n.PublicSubnets = append(n.PublicSubnets, sub)
			case Private:
				n.PrivateSubnets = append(n.PrivateSubnets, sub)
			case Isolated:
				n.IsolatedSubnets = append(n.IsolatedSubnets, sub)
			}
		}
	}

	gatewayRouteTables, err := b.routing(n, args.NATGateways)
	if err != nil {
		return nil, err
	}
	if err := b.flowLogs(n, args); err != nil {
		return nil, err
	}
	if err := b.endpoints(n, args, gatewayRouteTables); err != nil {
		return nil, err
	}

	n.HostPrerequisites = b.ready
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":             n.VpcID,
		"availabilityZones": pulumi.ToStringArray(n.AvailabilityZones),
		"publicSubnetIds":   SubnetIDs(n.PublicSubnets),
		"privateSubnetIds":  SubnetIDs(n.PrivateSubnets),
		"databaseSubnetIds": SubnetIDs(n.IsolatedSubnets),
	})
}

// builder holds what every child resource of the network shares.
type builder struct {
	ctx  *pulumi.Context
	name string
	opts []pulumi.ResourceOption
	// ready collects Network.HostPrerequisites.
	ready []pulumi.Resource
}

func (b *builder) tags(suffix string) pulumi.StringMap { return names.Tags(b.ctx, b.name+"-"+suffix) }

func (b *builder) child(suffix string) string { return b.name + "-" + suffix }

// routing creates the internet gateway, NAT gateways and route tables, and
// returns the route tables an S3 gateway endpoint belongs in (public and
// private; the database subnets stay without any route out of the VPC).
func (b *builder) routing(n *Network, nat string) (pulumi.StringArray, error) {
	ctx := b.ctx
	igw, err := ec2.NewInternetGateway(ctx, b.child("igw"), &ec2.InternetGatewayArgs{
		VpcId: n.VpcID, Tags: b.tags("igw"),
	}, b.opts...)
	if err != nil {
		return nil, err
	}

	public, err := ec2.NewRouteTable(ctx, b.child("public"), &ec2.RouteTableArgs{VpcId: n.VpcID, Tags: b.tags("public")}, b.opts...)
	if err != nil {
		return nil, err
	}
	if _, err := ec2.NewRoute(ctx, b.child("public-default"), &ec2.RouteArgs{
		RouteTableId: public.ID(), DestinationCidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID(),
	}, b.opts...); err != nil {
		return nil, err
	}
	for _, s := range n.PublicSubnets {
		if err := b.associate("public-"+s.Zone, s, public); err != nil {
			return nil, err
		}
	}
	gatewayTables := pulumi.StringArray{public.ID()}
	n.RouteTables = RouteTables{Public: public, Private: map[string]*ec2.RouteTable{}}

	// NAT gateways live in public subnets; single uses the first zone's.
	natByZone := map[string]*ec2.NatGateway{}
	for i, s := range n.PublicSubnets {
		if nat == NATNone || (nat == NATSingle && i > 0) {
			break
		}
		eip, err := ec2.NewEip(ctx, b.child("nat-"+s.Zone), &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: b.tags("nat-" + s.Zone)}, b.opts...)
		if err != nil {
			return nil, err
		}
		gw, err := ec2.NewNatGateway(ctx, b.child("nat-"+s.Zone), &ec2.NatGatewayArgs{
			AllocationId: eip.AllocationId, SubnetId: s.ID, Tags: b.tags("nat-" + s.Zone),
		}, append(b.opts, pulumi.DependsOn([]pulumi.Resource{igw}))...)
		if err != nil {
			return nil, err
		}
		natByZone[s.Zone] = gw
	}

	// One private route table per zone, so that a zone's traffic leaves
	// through its own NAT gateway (or the single one).
	for _, s := range n.PrivateSubnets {
		rt, err := ec2.NewRouteTable(ctx, b.child("private-"+s.Zone), &ec2.RouteTableArgs{VpcId: n.VpcID, Tags: b.tags("private-" + s.Zone)}, b.opts...)
		if err != nil {
			return nil, err
		}
		gw := natByZone[s.Zone]
		if nat == NATSingle {
			gw = natByZone[n.PublicSubnets[0].Zone]
		}
		if gw != nil {
			if _, err := ec2.NewRoute(ctx, b.child("private-"+s.Zone+"-default"), &ec2.RouteArgs{
				RouteTableId: rt.ID(), DestinationCidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: gw.ID(),
			}, b.opts...); err != nil {
				return nil, err
			}
		}
		if err := b.associate("private-"+s.Zone, s, rt); err != nil {
			return nil, err
		}
		gatewayTables = append(gatewayTables, rt.ID())
		n.RouteTables.Private[s.Zone] = rt
	}

	// The database subnets share a table with only the VPC's local route.
	db, err := ec2.NewRouteTable(ctx, b.child("database"), &ec2.RouteTableArgs{VpcId: n.VpcID, Tags: b.tags("database")}, b.opts...)
	if err != nil {
		return nil, err
	}
	n.RouteTables.Isolated = db
	for _, s := range n.IsolatedSubnets {
		if err := b.associate("database-"+s.Zone, s, db); err != nil {
			return nil, err
		}
	}
	return gatewayTables, nil
}

func (b *builder) associate(name string, s Subnet, rt *ec2.RouteTable) error {
	a, err := ec2.NewRouteTableAssociation(b.ctx, b.child(name), &ec2.RouteTableAssociationArgs{
		SubnetId: s.ID, RouteTableId: rt.ID(),
	}, b.opts...)
	if err == nil {
		b.ready = append(b.ready, a)
	}
	return err
}

// flowLogs sends the VPC's flow logs (accepted and rejected) to a log group;
// its role carries the permissions boundary, if any.
func (b *builder) flowLogs(n *Network, args Args) error {
	ctx := b.ctx
	group, err := cloudwatch.NewLogGroup(ctx, b.child("flow-logs"), &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(args.FlowLogRetentionDays),
		Tags:            b.tags("flow-logs"),
	}, b.opts...)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, b.child("flow-logs"), &iam.RoleArgs{
		Description:         pulumi.String("Lets VPC Flow Logs write to the webstack flow log group"),
		AssumeRolePolicy:    pulumi.String(FlowLogTrust(args.Partition, args.Region, args.AccountID)),
		PermissionsBoundary: iampolicy.Boundary(args.PermissionsBoundary),
		Tags:                b.tags("flow-logs"),
	}, b.opts...)
	if err != nil {
		return err
	}
	policy, err := iam.NewRolePolicy(ctx, b.child("flow-logs"), &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: iampolicy.FromARNs(pulumi.StringArray{group.Arn}, func(arns []string) []iampolicy.Statement {
			return []iampolicy.Statement{iampolicy.Allow("WriteFlowLogs",
				[]string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
				arns[0], arns[0]+":*")}
		}),
	}, b.opts...)
	if err != nil {
		return err
	}
	// The flow log waits for its role's policy: created with only the
	// role, its first deliveries would be denied until the policy exists.
	_, err = ec2.NewFlowLog(ctx, b.child("flow-logs"), &ec2.FlowLogArgs{
		VpcId:                  n.VpcID,
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String("cloud-watch-logs"),
		LogDestination:         group.Arn,
		IamRoleArn:             role.Arn,
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   b.tags("flow-logs"),
	}, append(b.opts, pulumi.DependsOn([]pulumi.Resource{policy}))...)
	return err
}

// endpoints creates the S3 gateway endpoint (packages, artifacts and
// configuration come from S3 without NAT; its policy lets only those
// through) and the interface endpoints.
func (b *builder) endpoints(n *Network, args Args, gatewayTables pulumi.StringArray) error {
	ctx := b.ctx
	s3, err := ec2.NewVpcEndpoint(ctx, b.child("s3"), &ec2.VpcEndpointArgs{
		VpcId:           n.VpcID,
		ServiceName:     pulumi.Sprintf("com.amazonaws.%s.s3", args.Region),
		VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds:   gatewayTables,
		Policy:          pulumi.String(EndpointPolicy(args.Partition, args.Region, args.Buckets)),
		Tags:            b.tags("s3"),
	}, b.opts...)
	if err != nil {
		return err
	}
	b.ready = append(b.ready, s3)

	sg, err := firewall.NewGroup(ctx, b.child("endpoints"), "endpoints", n.VpcID,
		"webstack VPC interface endpoints: HTTPS from inside the VPC", b.opts...)
	if err != nil {
		return err
	}
	n.EndpointSecurityGroupID = sg.ID
	if err := sg.AllowFromCIDRs([]string{n.CIDR}, firewall.TCP(443), "HTTPS to AWS APIs from hosts in the VPC"); err != nil {
		return err
	}
	for _, svc := range args.InterfaceEndpoints {
		if _, err := ec2.NewVpcEndpoint(ctx, b.child("endpoint-"+svc), &ec2.VpcEndpointArgs{
			VpcId:             n.VpcID,
			ServiceName:       pulumi.String(EndpointService(args.Region, svc)),
			VpcEndpointType:   pulumi.String("Interface"),
			PrivateDnsEnabled: pulumi.Bool(true),
			SubnetIds:         SubnetIDs(n.PrivateSubnets),
			SecurityGroupIds:  pulumi.StringArray{sg.ID},
			Tags:              b.tags("endpoint-" + svc),
		}, b.opts...); err != nil {
			return err
		}
	}
	return nil
}
