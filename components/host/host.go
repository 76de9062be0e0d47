// Package host provides the hardened EC2 host every tier of webstack runs
// on, and what a host runs:
//
//   - Image: Amazon Linux 2023 of the instance type's architecture, or a
//     pinned AMI (ResolveImage).
//   - Role: an instance profile with AmazonSSMManagedInstanceCore and the
//     tier's own least-privilege policy (NewRole).
//   - New: the instance: IMDSv2 only (hop limit 1), an encrypted gp3 root
//     volume, no key pair, no public IP, detailed monitoring.
//   - Bootstrap: the user data, rendered as #cloud-config: packages and
//     the webstack-sync agent, nothing else.
//   - Bundle: everything that changes (configuration files, scripts, the
//     release to run) is a bundle in the stack's bucket. The agent applies
//     a host's bundle at boot and whenever it changes, checks it with the
//     real programs (haproxy -c, nginx -t) and reloads without downtime, so
//     routine changes never replace a host.
package host

import (
	"errors"
	"fmt"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures one host.
type Args struct {
	// Image to boot (ResolveImage). Required.
	Image Image
	// InstanceType, e.g. t4g.small. Required.
	InstanceType string
	// Zone and SubnetID place the host. Required.
	Zone     string
	SubnetID pulumi.StringInput
	// SecurityGroupIDs of the host's tier. Required.
	SecurityGroupIDs pulumi.StringArrayInput
	// InstanceProfile is the name of the tier's instance profile. Required.
	InstanceProfile pulumi.StringInput
	// UserData from Bootstrap, encoded (cloudinit.Encode). Required.
	UserData cloudinit.UserData
	// ReplaceOnUserDataChange replaces the host when its user data changes.
	// With false, the change waits for the next replacement (cloud-init runs
	// user data on first boot only, so stopping and starting the instance
	// would not apply it anyway).
	ReplaceOnUserDataChange bool
	// RootVolumeGiB is the size of the encrypted gp3 root volume (default 16).
	RootVolumeGiB int
	// VolumeTags tag the root volume (the provider's default tags do not
	// reach volumes created with the instance).
	VolumeTags map[string]string
}

// Host is one EC2 instance.
type Host struct {
	pulumi.ResourceState

	// Name is the host's name (web1), Zone its availability zone.
	Name, Zone string
	Instance   *ec2.Instance
	// ID, Arn and PrivateIP of the instance.
	ID, Arn, PrivateIP pulumi.StringOutput
}

// Endpoint is a host as its clients see it: a name and a private address.
type Endpoint struct {
	Name      string
	Zone      string
	PrivateIP pulumi.StringOutput
}

// Endpoint returns the host's name and address.
func (h *Host) Endpoint() Endpoint {
	return Endpoint{Name: h.Name, Zone: h.Zone, PrivateIP: h.PrivateIP}
}

func (a Args) validate(name string) error {
	var errs []error
	if a.Image.ID == "" {
		errs = append(errs, fmt.Errorf("host %s: Args.Image is required", name))
	}
	if a.InstanceType == "" || a.Zone == "" || a.SubnetID == nil || a.SecurityGroupIDs == nil || a.InstanceProfile == nil {
		errs = append(errs, fmt.Errorf("host %s: InstanceType, Zone, SubnetID, SecurityGroupIDs and InstanceProfile are required", name))
	}
	if a.UserData.Text == "" && a.UserData.Base64 == "" {
		errs = append(errs, fmt.Errorf("host %s: Args.UserData is required (see Bootstrap)", name))
	}
	if a.UserData.Size > cloudinit.MaxUserData {
		errs = append(errs, fmt.Errorf("host %s: user data is %d bytes, over EC2's %d", name, a.UserData.Size, cloudinit.MaxUserData))
	}
	return errors.Join(errs...)
}

// New creates a hardened host.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Host, error) {
	if err := args.validate(name); err != nil {
		return nil, err
	}
	if args.RootVolumeGiB == 0 {
		args.RootVolumeGiB = 16
	}
	h := &Host{Name: name, Zone: args.Zone}
	if err := ctx.RegisterComponentResource("webstack:host:Host", name, h, opts...); err != nil {
		return nil, err
	}

	volumeTags := pulumi.StringMap{"Name": pulumi.String(names.Tag(ctx, name+"-root"))}
	for k, v := range args.VolumeTags {
		volumeTags[k] = pulumi.String(v)
	}
	instanceArgs := &ec2.InstanceArgs{
		Ami:                      pulumi.String(args.Image.ID),
		InstanceType:             pulumi.String(args.InstanceType),
		AvailabilityZone:         pulumi.String(args.Zone),
		SubnetId:                 args.SubnetID,
		VpcSecurityGroupIds:      args.SecurityGroupIDs,
		IamInstanceProfile:       args.InstanceProfile,
		AssociatePublicIpAddress: pulumi.Bool(false),
		// IMDSv2 only, one hop: a process in a container on the host
		// cannot reach the instance's credentials.
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
			InstanceMetadataTags:    pulumi.String("disabled"),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(args.RootVolumeGiB),
			Encrypted:           pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true),
			Tags:                volumeTags,
		},
		Monitoring:              pulumi.Bool(true),
		UserDataReplaceOnChange: pulumi.Bool(args.ReplaceOnUserDataChange),
		Tags:                    names.Tags(ctx, name),
	}
	if args.UserData.Base64 != "" {
		instanceArgs.UserDataBase64 = pulumi.String(args.UserData.Base64)
	} else {
		instanceArgs.UserData = pulumi.String(args.UserData.Text)
	}
	instanceOpts := []pulumi.ResourceOption{pulumi.Parent(h)}
	if args.Image.Latest {
		// "Latest" moves when AWS publishes a new image; a running host
		// keeps the image it booted. Pin settings' ami to roll images.
		instanceOpts = append(instanceOpts, pulumi.IgnoreChanges([]string{"ami"}))
	}
	inst, err := ec2.NewInstance(ctx, name, instanceArgs, instanceOpts...)
	if err != nil {
		return nil, err
	}
	h.Instance = inst
	h.ID, h.Arn, h.PrivateIP = inst.ID().ToStringOutput(), inst.Arn, inst.PrivateIp
	return h, ctx.RegisterResourceOutputs(h, pulumi.Map{
		"instanceId": h.ID,
		"privateIp":  h.PrivateIP,
		"zone":       pulumi.String(h.Zone),
	})
}
