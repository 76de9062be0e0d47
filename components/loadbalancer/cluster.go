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
	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/components/loadbalancer/lbconf"
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
	// VpcID is the VPC of the pair's own security group
	// (Cluster.Connections): HTTP (and HTTPS with a CertificateSecret) from
	// ClientCIDRs, VRRP between the nodes, HTTPS out. Required.
	VpcID pulumi.StringInput
	// ClientCIDRs are the IPv4 blocks that may reach the site (default:
	// everyone, 0.0.0.0/0). The VPC is IPv4-only: IPv6 blocks are refused.
	ClientCIDRs []string
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
	if a.VpcID == nil || a.Bucket == nil || a.Region == "" || a.Partition == "" || a.AccountID == "" || a.InstanceType == "" || a.Image.ID == "" {
		errs = append(errs, errors.New("loadbalancer: VpcID, Bucket, Region, Partition, AccountID, InstanceType and Image are required"))
	}
	if err := firewall.CheckIPv4("loadbalancer: Args.ClientCIDRs", a.ClientCIDRs); err != nil {
		errs = append(errs, err)
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
	errs = append(errs, group.HostsArgs{Args: a.group(), Agent: a.Agent, VpcID: a.VpcID, Port: lbconf.HTTPPort}.Validate("loadbalancer"))
	return errors.Join(errs...)
}

// openFirewall opens the pair's firewall to what it serves: HTTP from the
// clients, HTTPS only when it holds a certificate, and VRRP between the
// nodes only (keepalived's election; docs/LOADBALANCER.md).
func (b *builder) openFirewall() error {
	a := b.args
	clients := a.ClientCIDRs
	if clients == nil {
		clients = []string{"0.0.0.0/0"}
	}
	lb := b.c.Connections
	if err := lb.AllowFromCIDRs(clients, firewall.TCP(lbconf.HTTPPort), "HTTP from clients (redirected to HTTPS when TLS is on)"); err != nil {
		return err
	}
	if a.CertificateSecret != "" {
		if err := lb.AllowFromCIDRs(clients, firewall.TCP(lbconf.HTTPSPort), "HTTPS from clients"); err != nil {
			return err
		}
	}
	return lb.AllowFrom(lb.Group, firewall.VRRP, "keepalived VRRP between the two load balancers")
}

// group is the pair's group.
func (a Args) group() group.Args {
	return group.Args{
		Placements: placements(a.Subnets), Image: a.Image, InstanceType: a.InstanceType,
		RootVolumeGiB: a.RootVolumeGiB, Tags: a.Tags,
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
	b := &builder{ctx: ctx, name: name, args: args, c: c, child: pulumi.Parent(c), names: group.NamesOf(ctx, name)}
	for _, step := range []func() error{
		b.secrets,        // the stats and VRRP passwords, in a secret
		b.address,        // the Elastic IP the MASTER takes
		b.hosts,          // the pair: its bundle, role, firewall and group
		b.openFirewall,   // HTTP(S) from the clients, VRRP between the nodes
		b.restrictSecret, // only the nodes and the administrators read it
		b.record,         // the site's DNS record, if there is a zone
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"publicIp": c.PublicIP, "url": c.URL, "group": pulumi.String(b.names.Group)})
}

// builder carries what New's steps share.
type builder struct {
	ctx    *pulumi.Context
	name   string
	args   Args
	c      *Cluster
	child  pulumi.ResourceOption
	names  group.Names
	secret *secretsmanager.Secret
}

// secrets makes HAProxy's stats password and keepalived's VRRP password
// (keepalived reads 8 characters) and keeps them in one secret.
func (b *builder) secrets() error {
	ctx, name := b.ctx, b.name
	stats, err := random.NewRandomPassword(ctx, name+"-stats-password", &random.RandomPasswordArgs{Length: pulumi.Int(32), Special: pulumi.Bool(false)}, b.child)
	if err != nil {
		return err
	}
	vrrp, err := random.NewRandomPassword(ctx, name+"-vrrp-password", &random.RandomPasswordArgs{Length: pulumi.Int(8), Special: pulumi.Bool(false)}, b.child)
	if err != nil {
		return err
	}
	b.secret, err = secretsmanager.NewSecret(ctx, name+"-secrets", &secretsmanager.SecretArgs{
		Description:          pulumi.String("webstack load balancers: HAProxy stats and VRRP passwords"),
		RecoveryWindowInDays: pulumi.Int(7),
		Tags:                 names.Tags(ctx, name+"-secrets"),
	}, b.child)
	if err != nil {
		return err
	}
	if _, err := secretsmanager.NewSecretVersion(ctx, name+"-secrets", &secretsmanager.SecretVersionArgs{
		SecretId:     b.secret.ID(),
		SecretString: pulumi.Sprintf(`{"statsPassword":%q,"vrrpPassword":%q}`, stats.Result, vrrp.Result),
	}, b.child); err != nil {
		return err
	}
	b.c.SecretArn = b.secret.Arn
	return nil
}

// address makes the Elastic IP: the MASTER node associates it with
// itself, so Pulumi never associates it, nor undoes keepalived's
// association.
func (b *builder) address() error {
	var err error
	c := b.c
	c.EIP, err = ec2.NewEip(b.ctx, b.name+"-eip", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   names.Tags(b.ctx, b.name+"-eip"),
	}, b.child, pulumi.IgnoreChanges([]string{"instance", "networkInterface", "associateWithPrivateIp"}))
	if err != nil {
		return err
	}
	c.PublicIP = c.EIP.PublicIp
	c.URL = pulumi.Sprintf("http://%s/", c.EIP.PublicIp)
	if b.args.CertificateSecret != "" {
		c.URL = pulumi.Sprintf("https://%s/", b.args.SiteName)
	}
	return nil
}

// hosts makes the pair's group of hosts, with its bundle and its role.
func (b *builder) hosts() error {
	args, c := b.args, b.c
	ship := host.Shipping{Project: b.ctx.Project(), Stack: b.ctx.Stack(), Tier: signals.LoadBalancer, Group: b.names.Group}
	bundle := pulumi.All(c.EIP.AllocationId, c.EIP.PublicIp, b.secret.Arn).ApplyT(func(v []any) (string, error) {
		bundle, err := Bundle(BundleArgs{
			Names: b.names, Region: args.Region, AllocationID: v[0].(string), Address: v[1].(string), SecretArn: v[2].(string),
			CertificateSecret: args.CertificateSecret, SiteName: args.SiteName,
			WebGroup: args.WebGroup, WebPort: args.WebPort,
			AgentKey: group.AgentKey(b.name, args.Agent.SHA256), AgentSHA256: args.Agent.SHA256,
		})
		if err != nil {
			return "", err
		}
		if err := bundle.Ship(ship); err != nil {
			return "", err
		}
		return bundle.Script()
	}).(pulumi.StringOutput)
	var err error
	c.Hosts, err = group.NewHosts(b.ctx, b.name, c, group.HostsArgs{
		Args: args.group(), VpcID: args.VpcID, Port: lbconf.HTTPPort,
		FirewallDescription: "webstack load balancers (HAProxy): HTTP and HTTPS from clients",
		Tier:                "lb", Packages: []string{"haproxy", "keepalived"}, Shipping: &ship,
		Bucket: args.Bucket, Region: args.Region, Partition: args.Partition, AccountID: args.AccountID,
		Agent: args.Agent, Bundle: bundle,
		RoleDescription: "webstack load balancers: read their bundle, releases and secrets; take over the Elastic IP; run their agent",
		Policy:          b.policy(),
	})
	return err
}

// policy is the nodes' own: read their secrets, and take over the Elastic
// IP onto a node of this group (tagged by its launch template), nothing
// else.
func (b *builder) policy() pulumi.StringOutput {
	args := b.args
	certARN := secretARN(args.Partition, args.Region, args.AccountID, args.CertificateSecret)
	ec2ARN := func(kind string) string {
		return fmt.Sprintf("arn:%s:ec2:%s:%s:%s/*", args.Partition, args.Region, args.AccountID, kind)
	}
	return iampolicy.FromARNs(pulumi.StringArray{b.secret.Arn, b.c.EIP.Arn}, func(arns []string) []iampolicy.Statement {
		secrets := arns[:1]
		if certARN != "" {
			secrets = append(secrets, certARN)
		}
		onto := iampolicy.Allow("TakeOverTheElasticIPOntoANode", []string{"ec2:AssociateAddress"}, ec2ARN("instance"), ec2ARN("network-interface"))
		onto.Condition = map[string]map[string]any{"StringEquals": {"aws:ResourceTag/" + group.GroupTag: b.names.Group}}
		return []iampolicy.Statement{
			iampolicy.Allow("ReadSecrets", []string{"secretsmanager:GetSecretValue"}, secrets...),
			iampolicy.Allow("TakeOverTheElasticIP", []string{"ec2:AssociateAddress"}, arns[1]),
			onto,
		}
	})
}

// restrictSecret lets only the nodes and the administrators read the
// passwords, whatever other IAM policies of the account allow.
func (b *builder) restrictSecret() error {
	readers := pulumi.StringArray{b.c.Hosts.Role.RoleArn}
	for _, a := range iampolicy.ReadersOf(b.args.Administrators) {
		readers = append(readers, pulumi.String(a))
	}
	_, err := secretsmanager.NewSecretPolicy(b.ctx, b.name+"-secrets", &secretsmanager.SecretPolicyArgs{
		SecretArn:         b.secret.Arn,
		Policy:            readers.ToStringArrayOutput().ApplyT(iampolicy.OnlyReaders).(pulumi.StringOutput),
		BlockPublicPolicy: pulumi.Bool(true),
	}, b.child)
	return err
}

// record points the site's name at the Elastic IP, when a hosted zone is
// given.
func (b *builder) record() error {
	if b.args.HostedZoneID == "" {
		return nil
	}
	_, err := route53.NewRecord(b.ctx, b.name+"-www", &route53.RecordArgs{
		ZoneId:  pulumi.String(b.args.HostedZoneID),
		Name:    pulumi.String(b.args.SiteName),
		Type:    pulumi.String("A"),
		Ttl:     pulumi.Int(60),
		Records: pulumi.StringArray{b.c.EIP.PublicIp},
		// A record that exists already (another stack's, or made by hand)
		// is not taken over: creating it fails instead.
		AllowOverwrite: pulumi.Bool(false),
	}, b.child)
	return err
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
