package monitoring_test

import (
	"fmt"

	"github.com/foobar/webstack/components/monitoring"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The monitoring of a site in us-east-1 (where Route 53's health check
// metrics live): the tiers' log groups and their metric filters, an
// encrypted alarm topic with one email subscriber, the alarms, the health
// check of the public URL and the dashboard, run here under the mocks. In
// a real program the groups come from the tiers, the database identifier
// from database.New and the address from loadbalancer.New (see
// infra/build.go).
func Example() {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		m, err := monitoring.New(ctx, "monitoring", monitoring.Args{
			Project: ctx.Project(), Stack: ctx.Stack(), Region: "us-east-1", Partition: "aws", AccountID: "123456789012",
			LogRetentionDays: 30,
			Groups: map[signals.Tier]string{
				signals.LoadBalancer: "example-dev-lb", signals.Web: "example-dev-web", signals.App: "example-dev-app",
			},
			Alerting: true, Email: []string{"oncall@example.org"},
			DatabaseID: pulumi.String("example-dev-database-0123abcd"),
			Site: monitoring.Site{
				Address: pulumi.String("203.0.113.7"), HostName: "www.example.org", Path: "/",
				IntervalSeconds: 30, FailureThreshold: 3,
			},
			Thresholds: monitoring.Thresholds{
				PeriodSeconds: 60, EvaluationPeriods: 5, DatapointsToAlarm: 3,
				ErrorRatePercent: 5, LatencyP99Ms: 2000, CPUPercent: 85, MemoryPercent: 90, DiskPercent: 85,
				DatabaseCPUPercent: 85, DatabaseFreeStorageGiB: 2, DatabaseFreeMemoryMiB: 128, DatabaseConnections: 80,
			},
		})
		if err != nil {
			return err
		}
		fmt.Println(len(monitoring.AlarmNames()), "alarms")
		ctx.Export("dashboardUrl", m.DashboardURL)
		return nil
	}, mocks.Options{Project: "example", Stack: "dev", Config: map[string]string{"aws:region": "us-east-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rec.Tally())
	// Output:
	// 19 alarms
	// aws:cloudwatch/dashboard:Dashboard 1
	// aws:cloudwatch/logGroup:LogGroup 3
	// aws:cloudwatch/logMetricFilter:LogMetricFilter 13
	// aws:cloudwatch/metricAlarm:MetricAlarm 19
	// aws:kms/key:Key 1
	// aws:route53/healthCheck:HealthCheck 1
	// aws:sns/topic:Topic 1
	// aws:sns/topicSubscription:TopicSubscription 1
	// webstack:monitoring:Monitoring 1
}
