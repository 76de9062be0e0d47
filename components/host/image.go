package host

import (
	"fmt"

	"github.com/foobar/webstack/components/instancetype"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Image is the machine image a host boots.
type Image struct {
	// ID is the AMI id.
	ID string
	// Architecture is arm64 or x86_64.
	Architecture string
	// Latest is true when the image is "the latest Amazon Linux 2023",
	// looked up on every run: hosts then ignore later changes of it, so a
	// newer image never replaces running hosts by surprise.
	Latest bool
	// RootDevice is the image's root device name (known for a pinned
	// image; Amazon Linux 2023's is /dev/xvda).
	RootDevice string
}

// LatestParameter is the public SSM parameter holding the latest Amazon Linux
// 2023 image of an architecture.
func LatestParameter(arch string) string {
	return "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-" + arch
}

// ResolveImage finds the image for an instance type: the pinned AMI if one
// is given (its architecture must match the instance type's), else the
// latest Amazon Linux 2023 of the instance type's architecture. It only
// reads (no resource is registered), so programs can call it before
// creating anything.
func ResolveImage(ctx *pulumi.Context, instanceType, pinnedAMI string, opts ...pulumi.InvokeOption) (Image, error) {
	arch, err := instancetype.Architecture(instanceType)
	if err != nil {
		return Image{}, err
	}
	if pinnedAMI == "" {
		p, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: LatestParameter(arch)}, opts...)
		if err != nil {
			return Image{}, fmt.Errorf("looking up the latest Amazon Linux 2023 (%s): %w", arch, err)
		}
		return Image{ID: p.Value, Architecture: arch, Latest: true}, nil
	}
	ami, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
		Filters: []ec2.GetAmiFilter{{Name: "image-id", Values: []string{pinnedAMI}}},
	}, opts...)
	if err != nil {
		return Image{}, fmt.Errorf("image not found in the region: %w", err)
	}
	if ami.Architecture != arch {
		return Image{}, fmt.Errorf("the image is %s but instance type %s is %s; pick an image or instance type of the same architecture", ami.Architecture, instanceType, arch)
	}
	return Image{ID: pinnedAMI, Architecture: arch, RootDevice: ami.RootDeviceName}, nil
}
