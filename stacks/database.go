package stacks

import "github.com/foobar/webstack/components/database"

// ComponentArgs are the database component's arguments these settings
// describe: the one mapping from webstack:database to database.Args, which
// the program completes with the wiring (subnets, VPC, administrators,
// monitoring) and validation checks with the component's own rules.
func (d Database) ComponentArgs() database.Args {
	return database.Args{
		Engine: d.Engine, EngineVersion: d.EngineVersion, InstanceClass: d.InstanceClass,
		AllocatedStorageGiB: d.AllocatedStorageGiB, MaxAllocatedStorageGiB: d.MaxAllocatedStorageGiB,
		MultiAZ: d.MultiAZ, ApplyImmediately: d.ApplyImmediately, LogRetentionDays: d.LogRetentionDays,
		BackupRetentionDays: d.BackupRetentionDays,
		BackupWindow:        d.BackupWindow, MaintenanceWindow: d.MaintenanceWindow,
		DeletionProtection: d.DeletionProtection, SkipFinalSnapshot: d.SkipFinalSnapshot,
		FinalSnapshotPrefix: d.FinalSnapshotPrefix, Protect: d.Protect,
		Name: d.Name, Username: d.Username, Port: d.DatabasePort(),
		PerformanceInsights: d.PerformanceInsights,
	}
}
