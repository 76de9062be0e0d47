package network_test

import (
	"fmt"

	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// A VPC over two zones with no NAT gateway (the hosts reach AWS through
// the endpoints), run here under the mocks: what it creates, the subnets a
// caller places its tiers in, and a route of the caller's own (to an
// office network through a transit gateway) in each private route table.
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		net, err := network.New(ctx, "site", network.Args{
			Region: "eu-west-1", Partition: "aws", AccountID: "123456789012",
			AvailabilityZones:  []string{"eu-west-1a", "eu-west-1b"},
			NATGateways:        network.NATNone,
			InterfaceEndpoints: []string{"ec2", "secretsmanager"},
			Buckets:            []string{"site-bucket"},
		})
		if err != nil {
			return err
		}
		for _, s := range net.PrivateSubnets {
			fmt.Println("private", s.Zone, s.CIDR)
		}
		for _, zone := range net.AvailabilityZones {
			if _, err := ec2.NewRoute(ctx, "office-"+zone, &ec2.RouteArgs{
				RouteTableId:         net.RouteTables.Private[zone].ID(),
				DestinationCidrBlock: pulumi.String("192.168.0.0/16"),
				TransitGatewayId:     pulumi.String("tgw-0123456789abcdef0"),
			}); err != nil {
				return err
			}
		}
		ctx.Export("vpcId", net.VpcID)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally())
	// Output:
	// private eu-west-1a 10.0.0.0/20
	// private eu-west-1b 10.0.16.0/20
	// aws:cloudwatch/logGroup:LogGroup 1
	// aws:ec2/defaultSecurityGroup:DefaultSecurityGroup 1
	// aws:ec2/flowLog:FlowLog 1
	// aws:ec2/internetGateway:InternetGateway 1
	// aws:ec2/route:Route 3
	// aws:ec2/routeTable:RouteTable 4
	// aws:ec2/routeTableAssociation:RouteTableAssociation 6
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:ec2/subnet:Subnet 6
	// aws:ec2/vpc:Vpc 1
	// aws:ec2/vpcEndpoint:VpcEndpoint 3
	// aws:iam/role:Role 1
	// aws:iam/rolePolicy:RolePolicy 1
	// aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule 1
	// webstack:network:Network 1
}
