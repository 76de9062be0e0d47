package group

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/store"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// HostsArgs describes a tier's hosts: the group, and what every host of it
// runs (packages, the agent, the tier's bundle) with which permissions.
type HostsArgs struct {
	// Args is the group (its Role, UserData and SecurityGroupID are made
	// here: leave them empty).
	Args
	// VpcID is the VPC of the tier's own security group, which NewHosts
	// makes (Hosts.Connections): its members may open HTTPS connections
	// out, and nothing reaches them until the program allows it
	// (Connections.AllowDefaultPortFrom). Port is the port they serve on;
	// FirewallDescription describes the group. Required.
	VpcID               pulumi.StringInput
	Port                int
	FirewallDescription string
	// Tier is the kind of host: lb, web or app.
	Tier string
	// Packages to install at first boot (haproxy, nginx, ...).
	Packages []string
	// Bucket holds the bundle and the releases; Region, Partition and
	// AccountID name ARNs.
	Bucket                       *store.Bucket
	Region, Partition, AccountID string
	// Agent is the webstack-agent release for the hosts' architecture.
	Agent release.Artifact
	// Bundle is the tier's bundle script (host.Bundle.Script); it runs the
	// agent with the files of AgentBundle.
	Bundle pulumi.StringInput
	// BundleDependsOn are resources the bundle names, which must exist
	// before it is published (a release in the bucket).
	BundleDependsOn []pulumi.Resource
	// Immutable makes every change of the bundle a change of the launch
	// template, so that it rolls through the group (new hosts ready
	// before old ones go) instead of being applied to running hosts: for
	// services that cannot reload without dropping requests (the
	// application). Otherwise running hosts apply a new bundle in place
	// (HAProxy and nginx reload gracefully).
	Immutable bool
	// RoleDescription says what the hosts do; Policy is the tier's own
	// inline policy (besides reading its bundle and releases and running
	// the agent), or nil.
	RoleDescription string
	Policy          pulumi.StringInput
	// Shipping, if set, is what the hosts ship to CloudWatch (the bundle
	// carries the agent's configuration: host.Bundle.Ship): the hosts
	// install the agent and may write their tier's log group and metrics
	// only.
	Shipping *host.Shipping
	// Signer signs the bundle; its public key is pinned in the hosts'
	// user data. Nil: the group makes its own (<name>-signing-key).
	Signer *host.Signer
}

// Hosts is a tier's group of hosts.
type Hosts struct {
	*Group
	// Connections is the tier's firewall: its security group and port.
	Connections *firewall.Connections
	Role        *host.Role
	// Bundle is the script the hosts run; BundleKey where it is; Signed
	// the object there (the signed envelope, host.Seal).
	Bundle    pulumi.StringOutput
	BundleKey pulumi.StringOutput
	Signed    pulumi.StringOutput
	// Signer signed it; Serial is its serial.
	Signer *host.Signer
	Serial pulumi.IntOutput
}

// SerialParameterName is the SSM parameter whose version is the serial of
// a group's bundle: /webstack/<group>/bundle-sha256.
func SerialParameterName(group string) string { return "/webstack/" + group + "/bundle-sha256" }

// Validate reports what the group's arguments and the agent lack, before a
// tier registers anything: NewHosts makes the role and the user data.
func (a HostsArgs) Validate(name string) error {
	var errs []error
	if a.Agent.SHA256 == "" || a.Agent.Path == "" {
		errs = append(errs, fmt.Errorf("group %s: Agent is required (release.Build of ./agent)", name))
	}
	// What reaches the hosts' env file, cloud-config and role policy.
	in := inputs.New("group " + name)
	in.Account(a.Region, a.Partition, a.AccountID)
	in.Optional("Tier", a.Tier, inputs.GroupName)
	for i, p := range a.Packages {
		in.Check("Packages["+strconv.Itoa(i)+"]", p, inputs.PackageName)
	}
	errs = append(errs, in.Err())
	if a.VpcID == nil {
		errs = append(errs, fmt.Errorf("group %s: VpcID is required (the tier's own security group)", name))
	}
	if a.SecurityGroupID != nil {
		errs = append(errs, fmt.Errorf("group %s: SecurityGroupID must be empty: the tier makes its own security group (Connections) in VpcID", name))
	}
	if a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("group %s: Port = %d: must be a TCP port", name, a.Port))
	}
	return errors.Join(append(errs, a.Args.validate(name, true))...)
}

// AgentKey is where a tier's agent release lives in the bucket.
func AgentKey(name, sha256 string) string { return store.ReleaseKey(name, "agent-"+sha256) }

// NewHosts creates a tier's hosts, as children of parent: the role, the
// agent's release and the bundle in the bucket, and the group.
func NewHosts(ctx *pulumi.Context, name string, parent pulumi.Resource, args HostsArgs) (*Hosts, error) {
	errs := []error{args.Validate(name)}
	if args.Bucket == nil || args.Region == "" || args.Partition == "" || args.AccountID == "" || args.Bundle == nil {
		errs = append(errs, fmt.Errorf("group %s: Bucket, Region, Partition, AccountID and Bundle are required", name))
	}
	if args.Bucket != nil {
		in := inputs.New("group " + name)
		in.Check("Bucket.Name", args.Bucket.Name, inputs.BucketName)
		errs = append(errs, in.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(parent)
	names := NamesOf(ctx, name)
	b := args.Bucket

	// The tier's firewall: HTTPS out only; what may reach it, the program
	// says.
	conn, err := firewall.NewConnections(ctx, name, args.VpcID, firewall.TCP(args.Port), args.FirewallDescription, child)
	if err != nil {
		return nil, err
	}
	if err := conn.AllowHTTPSOut(); err != nil {
		return nil, err
	}

	agent, err := b.PutFile(name+"-agent", AgentKey(name, args.Agent.SHA256), args.Agent.Path)
	if err != nil {
		return nil, err
	}
	bundle := args.Bundle.ToStringOutput()
	signer := args.Signer
	if signer == nil {
		if signer, err = host.NewSigner(ctx, name+"-signing-key", child); err != nil {
			return nil, err
		}
	}
	// The serial a host compares with the one it applied last, so that an
	// older signed bundle is refused. A content-addressed bundle's key pins
	// its content: its serial is 0. A bundle applied in place counts its
	// changes with an SSM parameter holding its SHA-256: the parameter's
	// version goes up by one exactly when the bundle changes, and stays
	// put (no diff) while it does not.
	bundleKey := pulumi.String(store.BundleKey(name)).ToStringOutput()
	serial := pulumi.Int(0).ToIntOutput()
	if args.Immutable {
		bundleKey = bundle.ApplyT(func(s string) string { return store.ImmutableBundleKey(name, s) }).(pulumi.StringOutput)
	} else {
		counter, err := ssm.NewParameter(ctx, name+"-bundle-serial", &ssm.ParameterArgs{
			Name:        pulumi.String(SerialParameterName(names.Group)),
			Description: pulumi.String("SHA-256 of the " + name + " hosts' bundle; its version is the bundle's serial (webstack-sync refuses a lower one)"),
			Type:        pulumi.String("String"),
			Tier:        pulumi.String("Standard"),
			Tags:        pulumi.StringMap{"Name": pulumi.String(names.Group + "-bundle-serial")},
			// Value, not InsecureValue: the provider marks the version
			// unknown in a preview only when Value changes.
			Value: bundle.ApplyT(func(s string) string {
				sum := sha256.Sum256([]byte(s))
				return hex.EncodeToString(sum[:])
			}).(pulumi.StringOutput),
		}, child)
		if err != nil {
			return nil, err
		}
		serial = counter.Version
	}
	signed := signer.Seal(bundleKey, serial, bundle)
	if _, err := b.PutObject(name+"-bundle", bundleKey, signed, pulumi.DependsOn(append([]pulumi.Resource{agent}, args.BundleDependsOn...))); err != nil {
		return nil, err
	}

	bundles := b.ObjectArn(store.BundleKey(name))
	if args.Immutable {
		bundles = b.ObjectArn(store.BundlePrefix(name) + "*")
	}
	statements := append([]iampolicy.Statement{
		iampolicy.Allow("ReadBundleAndReleases", []string{"s3:GetObject"}, bundles, b.ObjectArn(store.ReleaseKey(name, "*"))),
	}, LifecycleStatements(args.Partition, args.Region, args.AccountID, names.Group)...)
	packages := args.Packages
	if args.Shipping != nil {
		statements = append(statements, host.ShippingStatements(args.Partition, args.Region, args.AccountID, *args.Shipping)...)
		packages = append(append([]string(nil), packages...), host.ShippingPackages...)
	}
	role, err := host.NewRole(ctx, name+"-role", host.RoleArgs{
		Description:         args.RoleDescription,
		PermissionsBoundary: args.PermissionsBoundary,
		Policy:              pulumi.String(iampolicy.Document(statements...)),
	}, child)
	if err != nil {
		return nil, err
	}
	if args.Policy != nil {
		if err := role.AddPolicy(ctx, name+"-tier", args.Policy); err != nil {
			return nil, err
		}
	}

	userData := pulumi.All(bundleKey, signer.PublicKey).ApplyT(func(v []any) (string, error) {
		ba := host.BootstrapArgs{
			Group: names.Group, Tier: args.Tier, Region: args.Region, Bucket: b.Name, BundleKey: v[0].(string),
			Packages: packages, PublicKey: v[1].(string),
		}
		if err := ba.Validate(); err != nil {
			return "", err
		}
		doc, err := host.Bootstrap(ba).Render()
		if err != nil {
			return "", err
		}
		ud, err := cloudinit.Encode(doc)
		if err != nil {
			return "", err
		}
		return ud.Base64OrEncode(), nil
	}).(pulumi.StringOutput)

	ga := args.Args
	ga.Role = role
	ga.SecurityGroupID = conn.ID
	ga.UserData = cloudinit.UserData{}
	g, err := newGroup(ctx, name, ga, userData, child)
	if err != nil {
		return nil, err
	}
	return &Hosts{Group: g, Connections: conn, Role: role, Bundle: bundle, BundleKey: bundleKey, Signed: signed, Signer: signer, Serial: serial}, nil
}
