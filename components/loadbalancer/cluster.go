// Package loadbalancer provides the diagram's load-balancer cluster: two
// HAProxy nodes in public subnets of two zones, with keepalived speaking
// unicast VRRP between them and one Elastic IP held by whichever node is
// MASTER.
//
// The pair is an Auto Scaling group of exactly two (package group): a node
// that dies is replaced, and a change of the nodes (a new image, instance
// type or bootstrap) replaces one node at a time, the new one ready before
// the old one goes (min healthy 100 %, max healthy 150 %), so both are
// never down at once. A node's agent (internal/hostagent) keeps
// keepalived's peers (the other nodes of the group, also while a
// replacement joins) and HAProxy's backends (the web servers in service)
// current; it starts keepalived only once its node is in service, and a
// leaving node stops keepalived first, so the peer takes the address
// before the node goes.
//
// A node that becomes MASTER takes the Elastic IP with
// `aws ec2 associate-address --allow-reassociation` (its role may call it
// only on this address and on instances and network interfaces of this
// group). The preemption choice is nopreempt: a recovered node does not
// take the address back, which would cost a second move. The files the
// nodes run (haproxy.cfg, the agent's keepalived parameters, scripts) are
// rendered by package lbconf and delivered as one bundle (package host);
// secrets (the stats and VRRP passwords, the TLS certificate) stay in
// Secrets Manager, readable by this role only (the passwords' secret has a
// resource policy denying every other principal but Args.Administrators),
// and are written to root-only files on the nodes.
package loadbalancer

import (
	"errors"
	"fmt"
	"github.com/foobar/webstack/components/monitoring/signals"
	"strings"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Nodes is the size of the pair.
const Nodes = 2

// Args configures the cluster.
type Args struct {
	// DependsOn are what the nodes need before the first one boots (the
	// network's S3 endpoint and route-table associations:
	// network.Network.HostPrerequisites); see group.Args.DependsOn.
	DependsOn []pulumi.Resource
	// Subnets are public subnets of at least two zones. Required.
	Subnets []network.Subnet
	// SecurityGroupID of the load-balancer tier. Required.
	SecurityGroupID pulumi.StringInput
	// Image, InstanceType and RootVolumeGiB of the nodes.
	Image         host.Image
	InstanceType  string
	RootVolumeGiB int
	// Tags tag the nodes, their volumes and network interfaces.
	Tags map[string]string
	// PermissionsBoundary is the ARN of a managed policy the nodes' role
	// carries as its permissions boundary. Optional ("": none).
	PermissionsBoundary string
	// Bucket delivers the nodes' bundle. Required.
	Bucket *store.Bucket
	// Region, Partition and AccountID name ARNs in the role's policy.
	// Required.
	Region, Partition, AccountID string
	// WebGroup is the web servers' group (group.Names.Group), whose hosts
	// in service are HAProxy's backends; WebPort their port. Required.
	WebGroup string
	WebPort  int
	// SiteName is the site's host name (health-check Host header, URL).
	SiteName string
	// CertificateSecret is a Secrets Manager secret (name or ARN) holding
	// the site's PEM; empty serves plain HTTP.
	CertificateSecret string
	// HostedZoneID, when set, gets an A record SiteName → the Elastic IP.
	HostedZoneID string
	// Agent is the webstack agent's release. Required.
	Agent release.Artifact
	// Administrators are the IAM principals (role, user or root ARNs, or
	// the role session ARN GetCallerIdentity returns, which stands for its
	// role) that may read the cluster's secret
	// besides the nodes' role: the principal that deploys the stack, whose
	// Pulumi reads the value on refresh. At least one. Required.
	Administrators []string
}

// Paths on the nodes.
const (
	libexec       = "/usr/local/libexec/webstack"
	envFile       = "/etc/webstack/lb.env"
	localInclude  = "/etc/keepalived/local.conf"
	haproxyConfig = "/etc/haproxy/haproxy.cfg"
	secretsEnv    = "/etc/haproxy/secrets.env"
	certFile      = "/etc/haproxy/certs/site.pem"
	checkScript   = libexec + "/lb-check"
	takeover      = libexec + "/lb-takeover"
	keepAddress   = libexec + "/lb-keep-address"
	secretsScript = libexec + "/lb-secrets"
	haproxyCheck  = libexec + "/haproxy-check"
	backendFile   = "/etc/haproxy/conf.d/be_web.cfg"
	keepalivedCfg = "/etc/keepalived/keepalived.conf"
)

// Cluster is the load-balancer pair and its Elastic IP.
type Cluster struct {
	pulumi.ResourceState
	// Hosts is the pair's group.
	*group.Hosts
	EIP *ec2.Eip
	// PublicIP is the Elastic IP; URL the site's address through it.
	PublicIP, URL pulumi.StringOutput
	// SecretArn is the secret holding the stats and VRRP passwords.
	SecretArn pulumi.StringOutput
}

func (a Args) validate() error {
	var errs []error
	zones := map[string]bool{}
	for _, s := range a.Subnets {
		zones[s.Zone] = true
	}
	if len(zones) < 2 {
		errs = append(errs, errors.New("loadbalancer: Args.Subnets needs public subnets in at least two zones"))
	}
	if a.SecurityGroupID == nil || a.Bucket == nil || a.Region == "" || a.Partition == "" || a.AccountID == "" || a.InstanceType == "" || a.Image.ID == "" {
		errs = append(errs, errors.New("loadbalancer: SecurityGroupID, Bucket, Region, Partition, AccountID, InstanceType and Image are required"))
	}
	if a.WebGroup == "" || a.WebPort < 1 || a.WebPort > 65535 {
		errs = append(errs, fmt.Errorf("loadbalancer: Args.WebGroup (%s) and WebPort (%d): the web servers' group and a TCP port", inputs.Show("WebGroup", a.WebGroup), a.WebPort))
	}
	if a.SiteName == "" {
		errs = append(errs, errors.New("loadbalancer: Args.SiteName is required"))
	}
	// What reaches the nodes' files (lb.env, which the scripts source;
	// haproxy.cfg; the agent's configuration) must be plain names.
	in := inputs.New("loadbalancer")
	in.Account(a.Region, a.Partition, a.AccountID)
	in.Optional("SiteName", a.SiteName, inputs.HostName)
	in.Optional("CertificateSecret", a.CertificateSecret, inputs.SecretID)
	in.Optional("WebGroup", a.WebGroup, inputs.GroupName)
	errs = append(errs, in.Err())
	if len(a.Administrators) == 0 {
		errs = append(errs, errors.New("loadbalancer: Args.Administrators is required: the deploying principal's ARN, or the secret's policy would lock Pulumi out of it"))
	}
	for i, p := range a.Administrators {
		if !iampolicy.ValidPrincipal(p) {
			errs = append(errs, fmt.Errorf("loadbalancer: Args.Administrators[%d] = %s: must be %s", i, inputs.Show("Administrators", p), inputs.PrincipalPattern.Allowed()))
		}
	}
	errs = append(errs, group.HostsArgs{Args: a.group(), Agent: a.Agent}.Validate("loadbalancer"))
	return errors.Join(errs...)
}

// group is the pair's group.
func (a Args) group() group.Args {
	return group.Args{
		Placements: placements(a.Subnets), Image: a.Image, InstanceType: a.InstanceType,
		RootVolumeGiB: a.RootVolumeGiB, Tags: a.Tags, SecurityGroupID: a.SecurityGroupID,
		PermissionsBoundary: a.PermissionsBoundary, MinSize: Nodes, MaxSize: Nodes, DesiredCapacity: Nodes,
		// One node at a time: a third node joins, is ready, then an old
		// one leaves.
		MinHealthyPercentage: 100, MaxHealthyPercentage: 150,
		DependsOn: a.DependsOn,
	}
}

// New creates the cluster.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("webstack:loadbalancer:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(c)
	groupNames := group.NamesOf(ctx, name)

	// Passwords: HAProxy's stats page, and VRRP (keepalived reads 8 characters).
	stats, err := random.NewRandomPassword(ctx, name+"-stats-password", &random.RandomPasswordArgs{Length: pulumi.Int(32), Special: pulumi.Bool(false)}, child)
	if err != nil {
		return nil, err
	}
	vrrp, err := random.NewRandomPassword(ctx, name+"-vrrp-password", &random.RandomPasswordArgs{Length: pulumi.Int(8), Special: pulumi.Bool(false)}, child)
	if err != nil {
		return nil, err
	}
	secret, err := secretsmanager.NewSecret(ctx, name+"-secrets", &secretsmanager.SecretArgs{
		Description:          pulumi.String("webstack load balancers: HAProxy stats and VRRP passwords"),
		RecoveryWindowInDays: pulumi.Int(7),
		Tags:                 names.Tags(ctx, name+"-secrets"),
	}, child)
	if err != nil {
		return nil, err
	}
	if _, err := secretsmanager.NewSecretVersion(ctx, name+"-secrets", &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: pulumi.Sprintf(`{"statsPassword":%q,"vrrpPassword":%q}`, stats.Result, vrrp.Result),
	}, child); err != nil {
		return nil, err
	}
	c.SecretArn = secret.Arn

	// The Elastic IP: the MASTER node associates it with itself, so Pulumi
	// never associates it, nor undoes keepalived's association.
	c.EIP, err = ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   names.Tags(ctx, name+"-eip"),
	}, child, pulumi.IgnoreChanges([]string{"instance", "networkInterface", "associateWithPrivateIp"}))
	if err != nil {
		return nil, err
	}
	c.PublicIP = c.EIP.PublicIp
	c.URL = pulumi.Sprintf("http://%s/", c.EIP.PublicIp)
	if args.CertificateSecret != "" {
		c.URL = pulumi.Sprintf("https://%s/", args.SiteName)
	}

	ship := host.Shipping{Project: ctx.Project(), Stack: ctx.Stack(), Tier: signals.LoadBalancer, Group: groupNames.Group}
	bundle := pulumi.All(c.EIP.AllocationId, c.EIP.PublicIp, secret.Arn).ApplyT(func(v []any) (string, error) {
		b, err := Bundle(BundleArgs{
			Names: groupNames, Region: args.Region, AllocationID: v[0].(string), Address: v[1].(string), SecretArn: v[2].(string),
			CertificateSecret: args.CertificateSecret, SiteName: args.SiteName,
			WebGroup: args.WebGroup, WebPort: args.WebPort,
			AgentKey: group.AgentKey(name, args.Agent.SHA256), AgentSHA256: args.Agent.SHA256,
		})
		if err != nil {
			return "", err
		}
		if err := b.Ship(ship); err != nil {
			return "", err
		}
		return b.Script()
	}).(pulumi.StringOutput)

	// The role: read its secrets, and take over the Elastic IP onto a node
	// of this group (tagged by its launch template), nothing else.
	certARN := secretARN(args.Partition, args.Region, args.AccountID, args.CertificateSecret)
	ec2ARN := func(kind string) string {
		return fmt.Sprintf("arn:%s:ec2:%s:%s:%s/*", args.Partition, args.Region, args.AccountID, kind)
	}
	policy := iampolicy.FromARNs(pulumi.StringArray{secret.Arn, c.EIP.Arn}, func(arns []string) []iampolicy.Statement {
		secrets := arns[:1]
		if certARN != "" {
			secrets = append(secrets, certARN)
		}
		onto := iampolicy.Allow("TakeOverTheElasticIPOntoANode", []string{"ec2:AssociateAddress"}, ec2ARN("instance"), ec2ARN("network-interface"))
		onto.Condition = map[string]map[string]any{"StringEquals": {"aws:ResourceTag/" + group.GroupTag: groupNames.Group}}
		return []iampolicy.Statement{
			iampolicy.Allow("ReadSecrets", []string{"secretsmanager:GetSecretValue"}, secrets...),
			iampolicy.Allow("TakeOverTheElasticIP", []string{"ec2:AssociateAddress"}, arns[1]),
			onto,
		}
	})

	c.Hosts, err = group.NewHosts(ctx, name, c, group.HostsArgs{
		Args: args.group(),
		Tier: "lb", Packages: []string{"haproxy", "keepalived"}, Shipping: &ship,
		Bucket: args.Bucket, Region: args.Region, Partition: args.Partition, AccountID: args.AccountID,
		Agent: args.Agent, Bundle: bundle,
		RoleDescription: "webstack load balancers: read their bundle, releases and secrets; take over the Elastic IP; run their agent",
		Policy:          policy,
	})
	if err != nil {
		return nil, err
	}
	// Only the nodes and the administrators may read the passwords, whatever
	// other IAM policies of the account allow.
	readers := pulumi.StringArray{c.Hosts.Role.RoleArn}
	for _, a := range iampolicy.ReadersOf(args.Administrators) {
		readers = append(readers, pulumi.String(a))
	}
	if _, err := secretsmanager.NewSecretPolicy(ctx, name+"-secrets", &secretsmanager.SecretPolicyArgs{
		SecretArn:         secret.Arn,
		Policy:            readers.ToStringArrayOutput().ApplyT(iampolicy.OnlyReaders).(pulumi.StringOutput),
		BlockPublicPolicy: pulumi.Bool(true),
	}, child); err != nil {
		return nil, err
	}

	if args.HostedZoneID != "" {
		if _, err := route53.NewRecord(ctx, name+"-www", &route53.RecordArgs{
			ZoneId:  pulumi.String(args.HostedZoneID),
			Name:    pulumi.String(args.SiteName),
			Type:    pulumi.String("A"),
			Ttl:     pulumi.Int(60),
			Records: pulumi.StringArray{c.EIP.PublicIp},
			// A record that exists already (another stack's, or made by
			// hand) is not taken over: creating it fails instead.
			AllowOverwrite: pulumi.Bool(false),
		}, child); err != nil {
			return nil, err
		}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"publicIp": c.PublicIP, "url": c.URL, "group": pulumi.String(groupNames.Group)})
}

// placements are the public subnets the pair spreads over.
func placements(subnets []network.Subnet) []group.Placement {
	out := make([]group.Placement, len(subnets))
	for i, s := range subnets {
		out[i] = group.Placement{Zone: s.Zone, SubnetID: s.ID}
	}
	return out
}

// secretARN turns a secret's name into an ARN pattern IAM accepts (Secrets
// Manager appends 6 random characters to names).
func secretARN(partition, region, account, nameOrARN string) string {
	switch {
	case nameOrARN == "":
		return ""
	case strings.HasPrefix(nameOrARN, "arn:"):
		return nameOrARN
	}
	return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", partition, region, account, nameOrARN)
}
