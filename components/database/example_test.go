package database_test

import (
	"fmt"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runExample runs one database under the mocks and prints what it creates.
func runExample(args database.Args) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		db, err := database.New(ctx, "db", args)
		if err != nil {
			return err
		}
		fmt.Println(db.Name)
		ctx.Export("endpoint", db.Endpoint)
		ctx.Export("secretArn", db.SecretArn)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally())
}

// A PostgreSQL database in two private subnets: encrypted, TLS forced by
// its parameter group, its credentials generated into a Secrets Manager
// secret that only the named administrators (and, later, the application
// servers' role) may read.
func Example_postgres() {
	runExample(database.Args{
		Engine: database.Postgres, EngineVersion: "16", InstanceClass: "db.t4g.micro",
		BackupRetentionDays: 7, BackupWindow: "03:00-04:00", MaintenanceWindow: "sun:04:30-sun:05:30",
		SubnetIDs:      pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		VpcID:          pulumi.String("vpc-1"),
		Administrators: []string{"arn:aws:iam::123456789012:role/deploy"},
	})
	// Output:
	// webstack
	// aws:cloudwatch/logGroup:LogGroup 2
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:rds/instance:Instance 1
	// aws:rds/parameterGroup:ParameterGroup 1
	// aws:rds/subnetGroup:SubnetGroup 1
	// aws:secretsmanager/secret:Secret 1
	// aws:secretsmanager/secretVersion:SecretVersion 1
	// random:index/randomId:RandomId 1
	// random:index/randomPassword:RandomPassword 1
	// webstack:database:Database 1
}

// The same for MySQL, Multi-AZ and protected the way a production
// database is: deletion protection, a final snapshot, Performance Insights.
func Example_mysql() {
	runExample(database.Args{
		Engine: database.MySQL, EngineVersion: "8.0", InstanceClass: "db.t4g.medium",
		MultiAZ: true, DeletionProtection: true, Protect: true, PerformanceInsights: true,
		BackupRetentionDays: 14, BackupWindow: "03:00-04:00", MaintenanceWindow: "sun:04:30-sun:05:30",
		SubnetIDs:      pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		VpcID:          pulumi.String("vpc-1"),
		Administrators: []string{"arn:aws:iam::123456789012:role/deploy"},
	})
	// Output:
	// webstack
	// aws:cloudwatch/logGroup:LogGroup 2
	// aws:ec2/securityGroup:SecurityGroup 1
	// aws:rds/instance:Instance 1
	// aws:rds/parameterGroup:ParameterGroup 1
	// aws:rds/subnetGroup:SubnetGroup 1
	// aws:secretsmanager/secret:Secret 1
	// aws:secretsmanager/secretVersion:SecretVersion 1
	// random:index/randomId:RandomId 1
	// random:index/randomPassword:RandomPassword 1
	// webstack:database:Database 1
}
