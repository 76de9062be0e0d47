package apptier_test

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/apptier"
	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Two application servers as an Auto Scaling group over two zones, running
// a release from the bucket with the database's credentials from Secrets
// Manager, run here under the mocks. In a real program the subnets come
// from network.New, the security group from the firewall, the image from
// host.ResolveImage, the release and the agent from release.Build and the
// secret from database.New (see infra/build.go).
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		bucket, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		app, err := apptier.New(ctx, "app", apptier.Args{
			Args: group.Args{
				Placements: []group.Placement{
					{Zone: "eu-west-1a", SubnetID: pulumi.String("subnet-a").ToStringOutput()},
					{Zone: "eu-west-1b", SubnetID: pulumi.String("subnet-b").ToStringOutput()},
				},
				Image:        host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
				InstanceType: "t4g.small",
				MinSize:      2, MaxSize: 4, DesiredCapacity: 2,
			},
			VpcID:             pulumi.String("vpc-1"),
			Port:              8080,
			Release:           release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("b", 64)},
			Agent:             release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
			DatabaseSecretArn: pulumi.String("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"),
			Bucket:            bucket, Region: "eu-west-1", Partition: "aws", AccountID: "123456789012",
		})
		if err != nil {
			return err
		}
		fmt.Println("group", app.Group.Group, "port", app.Port)
		ctx.Export("appGroupArn", app.Group.Arn)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally("webstack:apptier:Tier"))
	// Output:
	// group example-dev-app port 8080
	// aws:autoscaling/group:Group 1
	// aws:ec2/launchTemplate:LaunchTemplate 1
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:iam/instanceProfile:InstanceProfile 1
	// aws:iam/role:Role 1
	// aws:iam/rolePolicy:RolePolicy 3
	// aws:s3/bucketObjectv2:BucketObjectv2 1
	// aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule 1
	// random:index/randomBytes:RandomBytes 1
	// webstack:apptier:Tier 1
	// webstack:group:Group 1
	// webstack:host:Role 1
}
