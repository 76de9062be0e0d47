package loadbalancer_test

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The pair of HAProxy + keepalived nodes over two public subnets, holding
// one Elastic IP and balancing the web servers' group
// "example-dev-web" on port 80, plain HTTP (no CertificateSecret) and no
// DNS record, run here under the mocks. In a real program the subnets come
// from network.New, the security group from the firewall, the image from
// host.ResolveImage and the agent from release.Build (see infra/build.go).
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		bucket, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		lb, err := loadbalancer.New(ctx, "lb", loadbalancer.Args{
			Subnets: []network.Subnet{
				{ID: pulumi.String("subnet-a").ToStringOutput(), Zone: "eu-west-1a"},
				{ID: pulumi.String("subnet-b").ToStringOutput(), Zone: "eu-west-1b"},
			},
			VpcID:        pulumi.String("vpc-1"),
			Image:        host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
			InstanceType: "t4g.small",
			Bucket:       bucket, Region: "eu-west-1", Partition: "aws", AccountID: "123456789012",
			WebGroup: "example-dev-web", WebPort: 80, SiteName: "www.example.org",
			Agent:          release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
			Administrators: []string{"arn:aws:iam::123456789012:role/deploy"},
		})
		if err != nil {
			return err
		}
		fmt.Println("group", lb.Group.Group)
		ctx.Export("url", lb.URL)
		ctx.Export("publicIp", lb.PublicIP)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally("webstack:loadbalancer:Cluster"))
	// Output:
	// group example-dev-lb
	// aws:autoscaling/group:Group 1
	// aws:ec2/eip:Eip 1
	// aws:ec2/launchTemplate:LaunchTemplate 1
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:iam/instanceProfile:InstanceProfile 1
	// aws:iam/role:Role 1
	// aws:iam/rolePolicy:RolePolicy 3
	// aws:secretsmanager/secret:Secret 1
	// aws:secretsmanager/secretPolicy:SecretPolicy 1
	// aws:secretsmanager/secretVersion:SecretVersion 1
	// aws:ssm/parameter:Parameter 1
	// aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule 2
	// aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule 2
	// random:index/randomBytes:RandomBytes 1
	// random:index/randomPassword:RandomPassword 2
	// webstack:group:Group 1
	// webstack:host:Role 1
	// webstack:loadbalancer:Cluster 1
}
