package host

import (
	"fmt"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Placement is a subnet a host may go to.
type Placement struct {
	Zone     string
	SubnetID pulumi.StringInput
}

// Fleet is what a tier says about its hosts: how many, where, on what.
// The web and application tiers embed it in their Args.
type Fleet struct {
	// Count hosts, at least 1.
	Count int
	// Placements are the tier's subnets in zone order; host i goes to
	// placement i mod len(Placements), so hosts spread over the zones.
	Placements []Placement
	// Image, InstanceType, RootVolumeGiB and VolumeTags of every host.
	Image         Image
	InstanceType  string
	RootVolumeGiB int
	VolumeTags    map[string]string
	// SecurityGroupID of the tier.
	SecurityGroupID pulumi.StringInput
}

// Validate reports what a tier's fleet lacks, naming the tier.
func (f Fleet) Validate(tier string) error {
	if f.Count < 1 || len(f.Placements) == 0 || f.Image.ID == "" || f.InstanceType == "" || f.SecurityGroupID == nil {
		return fmt.Errorf("%s: the fleet needs Count ≥ 1 (got %d), placements (%d), an image, an instance type and a security group", tier, f.Count, len(f.Placements))
	}
	return nil
}

// FleetArgs describes the identical hosts of one tier.
type FleetArgs struct {
	Fleet
	// Name names the hosts <Name>1 … <Name>N: the tier component's name,
	// so that two tiers of one kind coexist. Tier is the kind (web, app)
	// the hosts are told.
	Name, Tier string
	// Role the hosts share.
	Role *Role
	// Region, Bucket and BundleKey locate the tier's bundle; Packages are
	// installed on first boot.
	Region, Bucket, BundleKey string
	Packages                  []string
	// ReplaceOnUserDataChange: see Args.
	ReplaceOnUserDataChange bool
}

// HostName is the name of a group's i-th host (0-based): web1, web2.
func HostName(group string, i int) string { return fmt.Sprintf("%s%d", group, i+1) }

// UserData renders the user data of the fleet's i-th host.
func (a FleetArgs) UserData(i int) (cloudinit.UserData, error) {
	doc, err := Bootstrap(BootstrapArgs{
		Host: HostName(a.Name, i), Tier: a.Tier, Index: i,
		Region: a.Region, Bucket: a.Bucket, BundleKey: a.BundleKey, Packages: a.Packages,
	}).Render()
	if err != nil {
		return cloudinit.UserData{}, err
	}
	return cloudinit.Encode(doc)
}

// NewFleet creates the tier's hosts, spread over its placements.
func NewFleet(ctx *pulumi.Context, args FleetArgs, opts ...pulumi.ResourceOption) ([]*Host, error) {
	if err := args.Validate("host: fleet " + args.Tier); err != nil {
		return nil, err
	}
	if args.Role == nil {
		return nil, fmt.Errorf("host: fleet %s needs a role", args.Tier)
	}
	var hosts []*Host
	for i := 0; i < args.Count; i++ {
		ud, err := args.UserData(i)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", HostName(args.Name, i), err)
		}
		p := args.Placements[i%len(args.Placements)]
		h, err := New(ctx, HostName(args.Name, i), Args{
			Image: args.Image, InstanceType: args.InstanceType,
			Zone: p.Zone, SubnetID: p.SubnetID,
			SecurityGroupIDs:        pulumi.StringArray{args.SecurityGroupID},
			InstanceProfile:         args.Role.ProfileName,
			UserData:                ud,
			ReplaceOnUserDataChange: args.ReplaceOnUserDataChange,
			RootVolumeGiB:           args.RootVolumeGiB,
			VolumeTags:              args.VolumeTags,
		}, opts...)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// Members is what a tier component holds of its hosts; the web and
// application tiers embed it.
type Members struct {
	Hosts []*Host
	Role  *Role
	// Bundle is the script the hosts run (see Bundle).
	Bundle pulumi.StringOutput
}

// Endpoints are the tier's hosts as the tier before it sees them.
func (m Members) Endpoints() []Endpoint { return Endpoints(m.Hosts) }

// Endpoints returns the hosts' names and addresses.
func Endpoints(hosts []*Host) []Endpoint {
	out := make([]Endpoint, len(hosts))
	for i, h := range hosts {
		out[i] = h.Endpoint()
	}
	return out
}

// PrivateIPs collects endpoints' private addresses, in order.
func PrivateIPs(eps []Endpoint) pulumi.StringArrayOutput {
	ips := make(pulumi.StringArray, len(eps))
	for i, e := range eps {
		ips[i] = e.PrivateIP
	}
	return ips.ToStringArrayOutput()
}
