// Package bluegreen is a Pulumi program that uses every webstack component
// twice in one stack: a blue and a green site, each with its own network,
// database, application servers, web servers and load-balancer cluster
// (every tier with its own firewall), sharing one bucket. It shows that the components can be reused
// (every child's name, bucket key and host name derives from the name the
// caller gives), and the tests prove it: under the mocks (infra's tests)
// and under the real engine (make test-engine), which refuses two
// resources with the same URN.
//
// Run it as your own program's body: pulumi.Run(bluegreen.Program), with
// aws:region set.
package bluegreen

import (
	"github.com/foobar/webstack/components/apptier"
	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Colors are the two sites.
var Colors = []string{"blue", "green"}

// Program builds both sites.
func Program(ctx *pulumi.Context) error {
	region := config.New(ctx, "aws").Get("region")
	if region == "" {
		region = "us-east-1"
	}
	account, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{})
	if err != nil {
		return err
	}
	// Only the deploying principal (a role session: its role) may write
	// the bucket's objects.
	writers := []string{account.Arn}
	const instanceType = "t4g.small"
	image, err := host.ResolveImage(ctx, instanceType, "")
	if err != nil {
		return err
	}
	root, err := release.ModuleRoot()
	if err != nil {
		return err
	}
	app, err := release.Build(release.BuildArgs{ModuleDir: root, Package: "./app", Arch: image.Architecture})
	if err != nil {
		return err
	}
	agent, err := release.Build(release.BuildArgs{ModuleDir: root, Package: "./agent", Arch: image.Architecture})
	if err != nil {
		return err
	}
	partition, err := aws.GetPartition(ctx, &aws.GetPartitionArgs{})
	if err != nil {
		return err
	}
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{Region: pulumi.String(region)})
	if err != nil {
		return err
	}
	withAWS := pulumi.Providers(provider)

	// One bucket for both: their bundle and release keys must not collide.
	bucketName := store.BucketName(ctx.Project(), ctx.Stack(), account.AccountId, region)
	bucket, err := store.New(ctx, "store", store.Args{
		Name: bucketName, Partition: partition.Partition, ForceDestroy: true,
		Writers: writers,
	}, withAWS)
	if err != nil {
		return err
	}
	zones := []string{region + "a", region + "b"}
	for _, color := range Colors {
		net, err := network.New(ctx, "network-"+color, network.Args{
			Region: region, Partition: partition.Partition, AccountID: account.AccountId, Buckets: []string{bucketName},
			AvailabilityZones: zones, NATGateways: network.NATNone,
			InterfaceEndpoints: []string{"autoscaling", "ec2", "secretsmanager"},
		}, withAWS)
		if err != nil {
			return err
		}
		db, err := database.New(ctx, "database-"+color, database.Args{
			Engine: database.Postgres, EngineVersion: "16", InstanceClass: "db.t4g.micro",
			AllocatedStorageGiB: 20, BackupRetentionDays: 1, SkipFinalSnapshot: true,
			SubnetIDs: network.SubnetIDs(net.IsolatedSubnets), VpcID: net.VpcID,
			Administrators: []string{account.Arn},
		}, withAWS)
		if err != nil {
			return err
		}
		hosts := func() group.Args {
			var placements []group.Placement
			for _, s := range net.PrivateSubnets {
				placements = append(placements, group.Placement{Zone: s.Zone, SubnetID: s.ID})
			}
			return group.Args{Placements: placements, Image: image, InstanceType: instanceType, MinSize: 2, MaxSize: 4, DesiredCapacity: 2}
		}
		apps, err := apptier.New(ctx, "app-"+color, apptier.Args{
			Args: hosts(), VpcID: net.VpcID, Port: 8080, Release: app, Agent: agent, DatabaseSecretArn: db.SecretArn,
			Bucket: bucket, Region: region, Partition: partition.Partition, AccountID: account.AccountId,
		}, withAWS)
		if err != nil {
			return err
		}
		if err := db.RestrictSecret(ctx, "database-"+color+"-credentials", apps.Role.RoleArn); err != nil {
			return err
		}
		site := color + ".foobar.com"
		web, err := webtier.New(ctx, "web-"+color, webtier.Args{
			Args: hosts(), VpcID: net.VpcID, Port: 80, SiteName: site, AppGroup: apps.Group.Group, AppPort: 8080, Agent: agent,
			Bucket: bucket, Region: region, Partition: partition.Partition, AccountID: account.AccountId,
		}, withAWS)
		if err != nil {
			return err
		}
		lb, err := loadbalancer.New(ctx, "lb-"+color, loadbalancer.Args{
			Subnets: net.PublicSubnets, VpcID: net.VpcID, Image: image, InstanceType: instanceType,
			Bucket: bucket, Region: region, Partition: partition.Partition, AccountID: account.AccountId, Agent: agent,
			WebGroup: web.Group.Group, WebPort: 80, SiteName: site, Administrators: []string{account.Arn},
		}, withAWS)
		if err != nil {
			return err
		}
		// The arrows of the diagram, each tier reachable only from the one
		// before it.
		if err := web.Connections.AllowDefaultPortFrom(lb.Connections, "HTTP from the load balancers"); err != nil {
			return err
		}
		if err := apps.Connections.AllowDefaultPortFrom(web.Connections, "HTTP from the web servers"); err != nil {
			return err
		}
		if err := db.Connections.AllowDefaultPortFrom(apps.Connections, "database connections from the application servers"); err != nil {
			return err
		}
		ctx.Export(color+"Url", lb.URL)
	}
	return nil
}
