package stacks

// Defaults returns the settings a stack gets for every field its stack file
// does not set. This is the only place defaults live; Pulumi.yaml declares
// the same values (a test keeps the two equal).
//
// The defaults are the safe ones: highly available, protected and private.
// Cheaper environments relax them explicitly in their stack file, so a
// forgotten setting errs on the side of production.
func Defaults() Settings {
	host := Host{InstanceType: "t4g.small", RootVolumeGiB: 16}
	capacity := Capacity{Min: 2, Max: 4, Desired: 2, Scaling: Scaling{Target: 60}}
	return Settings{
		Network: Network{
			CIDR:    "10.0.0.0/16",
			ZoneIDs: []string{},
			// Nothing the stack runs needs the internet: the AWS APIs it
			// calls have endpoints, the packages come through S3.
			NATGateways:          NATNone,
			FlowLogRetentionDays: 90,
			InterfaceEndpoints:   []string{"autoscaling", "ec2", "logs", "monitoring", "secretsmanager", "ssm", "ssmmessages"},
		},
		LoadBalancer: LoadBalancer{
			Host:             host,
			AllowedCIDRs:     []string{"0.0.0.0/0"},
			AllowedIPv6CIDRs: []string{},
		},
		Web: Web{Host: host, Capacity: capacity, Port: 80},
		App: App{Host: host, Capacity: capacity, Port: 8080},
		Database: Database{
			Engine:                 Postgres,
			EngineVersion:          "16",
			InstanceClass:          "db.t4g.medium",
			AllocatedStorageGiB:    20,
			MaxAllocatedStorageGiB: 100,
			MultiAZ:                true,
			ApplyImmediately:       false,
			LogRetentionDays:       90,
			BackupRetentionDays:    14,
			BackupWindow:           "03:00-04:00",
			MaintenanceWindow:      "sun:04:30-sun:05:30",
			DeletionProtection:     true,
			FinalSnapshotPrefix:    "webstack-final",
			Protect:                true,
			Name:                   "webstack",
			Username:               "webstack",
			PerformanceInsights:    true,
		},
		DNS:        DNS{Domain: "foobar.com"},
		Operators:  Operators{Deploy: []string{}, Preview: []string{}},
		Monitoring: DefaultMonitoring(),
		Tags:       map[string]string{},
	}
}
