// Package loadbalancer provides the diagram's load-balancer cluster: two
// HAProxy hosts, lb1 and lb2, in public subnets of two zones, with
// keepalived speaking unicast VRRP between their private addresses and one
// Elastic IP held by whichever node is MASTER.
//
// A node that becomes MASTER takes the Elastic IP with
// `aws ec2 associate-address --allow-reassociation` (its role may call only
// that, on this address and these two nodes). The preemption choice is
// nopreempt: a recovered node does not take the address back, which would
// cost a second move. The files the nodes run (haproxy.cfg,
// keepalived.conf, scripts) are rendered by package lbconf and delivered as
// bundles (package host); secrets (the stats and VRRP passwords, the TLS
// certificate) stay in Secrets Manager, readable by this role only, and are
// written to root-only files on the nodes.
package loadbalancer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/host"
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

// Args configures the cluster.
type Args struct {
	// Subnets are public subnets; lb1 goes to the first and lb2 to the
	// second, which must be in another zone. Required.
	Subnets []network.Subnet
	// SecurityGroupID of the load-balancer tier. Required.
	SecurityGroupID pulumi.StringInput
	// Image, InstanceType and RootVolumeGiB of the nodes.
	Image         host.Image
	InstanceType  string
	RootVolumeGiB int
	// VolumeTags tag the nodes' root volumes.
	VolumeTags map[string]string
	// Bucket delivers the nodes' bundles. Required.
	Bucket *store.Bucket
	// Region and AccountID name ARNs in the role's policy. Required.
	Region, AccountID string
	// WebServers are HAProxy's backends, WebPort their port. Required.
	WebServers []host.Endpoint
	WebPort    int
	// SiteName is the site's host name (health-check Host header, URL).
	SiteName string
	// CertificateSecret is a Secrets Manager secret (name or ARN) holding
	// the site's PEM; empty serves plain HTTP.
	CertificateSecret string
	// HostedZoneID, when set, gets an A record SiteName → the Elastic IP.
	HostedZoneID string
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
	secretsScript = libexec + "/lb-secrets"
)

// Cluster is the load-balancer pair and its Elastic IP.
type Cluster struct {
	pulumi.ResourceState

	Nodes []*host.Host
	Role  *host.Role
	EIP   *ec2.Eip
	// PublicIP is the Elastic IP; URL the site's address through it.
	PublicIP, URL pulumi.StringOutput
	// SecretArn is the secret holding the stats and VRRP passwords.
	SecretArn pulumi.StringOutput
	// Bundles are the nodes' bundles (scripts), for inspection.
	Bundles []pulumi.StringOutput
}

func (a Args) validate() error {
	var errs []error
	if len(a.Subnets) < 2 || a.Subnets[0].Zone == a.Subnets[1].Zone {
		errs = append(errs, errors.New("loadbalancer: Args.Subnets needs two public subnets in different zones"))
	}
	if a.SecurityGroupID == nil || a.Bucket == nil || a.Region == "" || a.AccountID == "" || a.InstanceType == "" || a.Image.ID == "" {
		errs = append(errs, errors.New("loadbalancer: SecurityGroupID, Bucket, Region, AccountID, InstanceType and Image are required"))
	}
	if len(a.WebServers) == 0 || a.WebPort < 1 || a.WebPort > 65535 {
		errs = append(errs, fmt.Errorf("loadbalancer: Args.WebServers (%d) and WebPort (%d): at least one server and a TCP port", len(a.WebServers), a.WebPort))
	}
	if a.SiteName == "" {
		errs = append(errs, errors.New("loadbalancer: Args.SiteName is required"))
	}
	return errors.Join(errs...)
}

// UserData is a node's user data: packages and the bundle agent.
func UserData(node string, index int, region, bucket string) (cloudinit.UserData, error) {
	doc, err := host.Bootstrap(host.BootstrapArgs{
		Host: node, Tier: "lb", Index: index, Region: region, Bucket: bucket,
		BundleKey: store.BundleKey(node), Packages: []string{"haproxy", "keepalived"},
	}).Render()
	if err != nil {
		return cloudinit.UserData{}, err
	}
	return cloudinit.Encode(doc)
}

// New creates the cluster.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	// The nodes' names, bundle keys and hosts derive from the cluster's
	// name (lb: lb1 and lb2), so two clusters coexist in one program.
	nodes := lbconf.ClusterNodes(name)
	userData := make([]cloudinit.UserData, len(nodes))
	for i, n := range nodes {
		ud, err := UserData(n.Name, i, args.Region, args.Bucket.Name)
		if err != nil {
			return nil, err
		}
		userData[i] = ud
	}

	c := &Cluster{}
	if err := ctx.RegisterComponentResource("webstack:loadbalancer:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(c)

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

	// The role: read its own bundles and secrets. AssociateAddress is added
	// below, once the address and the nodes exist.
	certARN := secretARN(args.Region, args.AccountID, args.CertificateSecret)
	var bundleARNs []string
	for _, n := range nodes {
		bundleARNs = append(bundleARNs, args.Bucket.ObjectArn(store.BundleKey(n.Name)))
	}
	c.Role, err = host.NewRole(ctx, name+"-role", host.RoleArgs{
		Description: "webstack load balancers: read their bundles and secrets",
		Policy: iampolicy.FromARNs(pulumi.StringArray{secret.Arn}, func(arns []string) []iampolicy.Statement {
			secrets := arns
			if certARN != "" {
				secrets = append(secrets, certARN)
			}
			return []iampolicy.Statement{
				iampolicy.Allow("ReadBundles", []string{"s3:GetObject"}, bundleARNs...),
				iampolicy.Allow("ReadSecrets", []string{"secretsmanager:GetSecretValue"}, secrets...),
			}
		}),
	}, child)
	if err != nil {
		return nil, err
	}

	for i, n := range nodes {
		h, err := host.New(ctx, n.Name, host.Args{
			Image: args.Image, InstanceType: args.InstanceType,
			Zone: args.Subnets[i].Zone, SubnetID: args.Subnets[i].ID,
			SecurityGroupIDs: pulumi.StringArray{args.SecurityGroupID},
			InstanceProfile:  c.Role.ProfileName,
			UserData:         userData[i],
			// User data is only the bootstrap; it changes with webstack
			// itself, not with configuration: replace the node then.
			ReplaceOnUserDataChange: true,
			RootVolumeGiB:           args.RootVolumeGiB,
			VolumeTags:              args.VolumeTags,
		}, child)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, h)
	}

	// The Elastic IP starts on lb1; from then on keepalived moves it, and
	// Pulumi must not move it back (ignoreChanges on the association).
	c.EIP, err = ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{
		Domain:   pulumi.String("vpc"),
		Instance: c.Nodes[0].ID,
		Tags:     names.Tags(ctx, name+"-eip"),
	}, child, pulumi.IgnoreChanges([]string{"instance", "networkInterface", "associateWithPrivateIp"}))
	if err != nil {
		return nil, err
	}
	c.PublicIP = c.EIP.PublicIp
	c.URL = pulumi.Sprintf("http://%s/", c.EIP.PublicIp)
	if args.CertificateSecret != "" {
		c.URL = pulumi.Sprintf("https://%s/", args.SiteName)
	}

	// Taking over the address: AssociateAddress on this address, these two
	// nodes and their network interfaces, nothing else.
	takeoverARNs := pulumi.StringArray{c.EIP.Arn}
	for _, h := range c.Nodes {
		takeoverARNs = append(takeoverARNs, h.Arn,
			pulumi.Sprintf("arn:aws:ec2:%s:%s:network-interface/%s", args.Region, args.AccountID, h.Instance.PrimaryNetworkInterfaceId))
	}
	if err := c.Role.AddPolicy(ctx, name+"-takeover", iampolicy.FromARNs(takeoverARNs, func(arns []string) []iampolicy.Statement {
		return []iampolicy.Statement{iampolicy.Allow("TakeOverTheElasticIP", []string{"ec2:AssociateAddress"}, arns...)}
	})); err != nil {
		return nil, err
	}

	// Each node's bundle: HAProxy in front of the web servers, keepalived
	// toward the other node.
	webIPs := host.PrivateIPs(args.WebServers)
	for i, n := range nodes {
		self, peer := c.Nodes[i], c.Nodes[1-i]
		bundle := pulumi.All(webIPs, self.PrivateIP, peer.PrivateIP, c.EIP.AllocationId, secret.Arn).ApplyT(func(v []any) (string, error) {
			b, err := Bundle(BundleArgs{
				Node: n.Name, Priority: n.Priority,
				SelfIP: v[1].(string), PeerIP: v[2].(string),
				WebServers: servers(args.WebServers, v[0].([]string), args.WebPort),
				SiteName:   args.SiteName, Region: args.Region,
				AllocationID: v[3].(string), SecretArn: v[4].(string),
				CertificateSecret: args.CertificateSecret,
			})
			if err != nil {
				return "", err
			}
			return b.Script()
		}).(pulumi.StringOutput)
		c.Bundles = append(c.Bundles, bundle)
		if _, err := args.Bucket.PutText(name+"-"+n.Name+"-bundle", store.BundleKey(n.Name), bundle); err != nil {
			return nil, err
		}
	}

	if args.HostedZoneID != "" {
		if _, err := route53.NewRecord(ctx, name+"-www", &route53.RecordArgs{
			ZoneId:  pulumi.String(args.HostedZoneID),
			Name:    pulumi.String(args.SiteName),
			Type:    pulumi.String("A"),
			Ttl:     pulumi.Int(60),
			Records: pulumi.StringArray{c.EIP.PublicIp},
		}, child); err != nil {
			return nil, err
		}
	}

	outs := pulumi.Map{"publicIp": c.PublicIP, "url": c.URL}
	for _, h := range c.Nodes {
		outs[h.Name+"InstanceId"] = h.ID
		outs[h.Name+"PrivateIp"] = h.PrivateIP
	}
	return c, ctx.RegisterResourceOutputs(c, outs)
}

// secretARN turns a secret's name into an ARN pattern IAM accepts (Secrets
// Manager appends 6 random characters to names).
func secretARN(region, account, nameOrARN string) string {
	switch {
	case nameOrARN == "":
		return ""
	case strings.HasPrefix(nameOrARN, "arn:"):
		return nameOrARN
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-??????", region, account, nameOrARN)
}

func servers(eps []host.Endpoint, ips []string, port int) []lbconf.Server {
	out := make([]lbconf.Server, len(eps))
	for i, e := range eps {
		out[i] = lbconf.Server{Name: e.Name, Address: ips[i], Port: port}
	}
	return out
}
