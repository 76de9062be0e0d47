package webtier_test

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Two nginx web servers as an Auto Scaling group over two zones, in front
// of the application servers' group "example-dev-app" on port 8080, run
// here under the mocks. In a real program the subnets come from
// network.New, the security group from the firewall, the image from
// host.ResolveImage and the agent from release.Build (see infra/build.go).
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		bucket, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		web, err := webtier.New(ctx, "web", webtier.Args{
			Args: group.Args{
				Placements: []group.Placement{
					{Zone: "eu-west-1a", SubnetID: pulumi.String("subnet-a").ToStringOutput()},
					{Zone: "eu-west-1b", SubnetID: pulumi.String("subnet-b").ToStringOutput()},
				},
				Image:        host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
				InstanceType: "t4g.small",
				MinSize:      2, MaxSize: 4, DesiredCapacity: 2,
			},
			VpcID: pulumi.String("vpc-1"), Port: 80, SiteName: "www.example.org", AppGroup: "example-dev-app", AppPort: 8080,
			Agent:  release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
			Bucket: bucket, Region: "eu-west-1", Partition: "aws", AccountID: "123456789012",
		})
		if err != nil {
			return err
		}
		fmt.Println("group", web.Group.Group, "port", web.Port)
		ctx.Export("webGroupArn", web.Group.Arn)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally("webstack:webtier:Tier"))
	// Output:
	// group example-dev-web port 80
	// aws:autoscaling/group:Group 1
	// aws:ec2/launchTemplate:LaunchTemplate 1
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:iam/instanceProfile:InstanceProfile 1
	// aws:iam/role:Role 1
	// aws:iam/rolePolicy:RolePolicy 2
	// aws:ssm/parameter:Parameter 1
	// aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule 1
	// random:index/randomBytes:RandomBytes 1
	// webstack:group:Group 1
	// webstack:host:Role 1
	// webstack:webtier:Tier 1
}
