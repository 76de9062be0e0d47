package infra

import (
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Images are the resolved machine images of the three host tiers.
type Images struct {
	LoadBalancer, Web, App host.Image
}

// lookups asks AWS what the settings depend on (the region's zones, the
// hosts' images) and reports every problem at once, before anything is
// registered.
func lookups(ctx *pulumi.Context, s *stacks.Settings) (Images, error) {
	var problems stacks.Problems
	state := "available"
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: &state,
		Filters: []aws.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	})
	if err != nil {
		return Images{}, err
	}
	if err := s.ResolveZones(zones.Names); err != nil {
		problems = append(problems, err.(stacks.Problems)...)
	}

	var images Images
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
	if len(problems) > 0 {
		return Images{}, problems
	}
	return images, nil
}
