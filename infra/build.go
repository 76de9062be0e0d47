package infra

import (
	"sort"

	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Site is everything Build created, for callers and tests.
type Site struct {
	Settings *stacks.Settings
	Network  *network.Network
	Firewall *firewall.Tiers
	// Outputs are the stack outputs Program exports.
	Outputs pulumi.Map
}

// Build creates the whole site from validated settings.
func Build(ctx *pulumi.Context, s *stacks.Settings) (*Site, error) {
	// Lookups first: a zone or image that does not exist must stop the
	// program before anything is registered.
	images, err := lookups(ctx, s)
	if err != nil {
		return nil, err
	}
	_ = images

	// One provider carries the common tags of every resource.
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:      pulumi.String(s.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(CommonTags(s))},
	})
	if err != nil {
		return nil, err
	}
	withAWS := pulumi.Providers(provider)
	site := &Site{Settings: s}

	// The network the diagram lives in.
	site.Network, err = network.New(ctx, "network", network.Args{
		Region:               s.Region,
		CIDR:                 s.Network.CIDR,
		AvailabilityZones:    s.Network.AvailabilityZones,
		NATGateways:          s.Network.NATGateways,
		FlowLogRetentionDays: s.Network.FlowLogRetentionDays,
		InterfaceEndpoints:   s.Network.InterfaceEndpoints,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	// The arrows: each tier reachable only from the one before it.
	site.Firewall, err = firewall.NewTiers(ctx, "firewall", firewall.TiersArgs{
		VpcID:           site.Network.VpcID,
		ClientCIDRs:     s.LoadBalancer.AllowedCIDRs,
		ClientIPv6CIDRs: s.LoadBalancer.AllowedIPv6CIDRs,
		WebPort:         s.Web.Port,
		AppPort:         s.App.Port,
		DatabasePort:    s.Database.DatabasePort(),
	}, withAWS)
	if err != nil {
		return nil, err
	}

	site.Outputs = pulumi.Map{
		"vpcId":             site.Network.VpcID,
		"availabilityZones": pulumi.ToStringArray(site.Network.AvailabilityZones),
		"publicSubnetIds":   network.SubnetIDs(site.Network.PublicSubnets),
		"privateSubnetIds":  network.SubnetIDs(site.Network.PrivateSubnets),
		"databaseSubnetIds": network.SubnetIDs(site.Network.DatabaseSubnets),
	}
	return site, nil
}

// CommonTags are the tags every taggable resource carries: the user's tags
// plus Project, Environment and ManagedBy.
func CommonTags(s *stacks.Settings) map[string]string {
	tags := map[string]string{}
	for k, v := range s.Tags {
		tags[k] = v
	}
	tags["Project"] = s.Project
	tags["Environment"] = string(s.Environment)
	tags["ManagedBy"] = "pulumi"
	return tags
}

func sortedKeys(m pulumi.Map) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
