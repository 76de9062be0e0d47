package monitoring

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The alarms, by name (docs/MONITORING.md has a runbook line for each).
const (
	SiteDown           = "site-down"
	LBErrorRate        = "lb-5xx-rate"
	LBNoServer         = "lb-no-web-server"
	LBLatency          = "lb-latency-p99"
	LBMasters          = "lb-vrrp-masters"
	AppErrorRate       = "app-5xx-rate"
	DatabaseCPU        = "database-cpu"
	DatabaseStorage    = "database-free-storage"
	DatabaseMemory     = "database-freeable-memory"
	DatabaseConnection = "database-connections"
)

// TierAlarm is the name of a tier's saturation alarm: cpu, memory or disk.
func TierAlarm(tier signals.Tier, what string) string { return string(tier) + "-" + what }

// RunbookAnchor is the anchor of an alarm's section in docs/MONITORING.md:
// the tiers' saturation alarms share one section per kind.
func RunbookAnchor(alarm string) string {
	for _, what := range []string{"cpu", "memory", "disk"} {
		if strings.HasSuffix(alarm, "-"+what) && !strings.HasPrefix(alarm, "database-") {
			var parts []string
			for _, t := range signals.Tiers {
				parts = append(parts, TierAlarm(t, what))
			}
			return strings.Join(parts, "-")
		}
	}
	return alarm
}

// AlarmNames lists every alarm New creates with alerting on.
func AlarmNames() []string {
	n := []string{SiteDown, LBErrorRate, LBNoServer, LBLatency, LBMasters, AppErrorRate}
	for _, t := range signals.Tiers {
		n = append(n, TierAlarm(t, "cpu"), TierAlarm(t, "memory"), TierAlarm(t, "disk"))
	}
	return append(n, DatabaseCPU, DatabaseStorage, DatabaseMemory, DatabaseConnection)
}

// metricRef is one metric an alarm reads.
type metricRef struct {
	namespace, name, stat string
	dims                  pulumi.StringMapInput
}

// alarmSpec is one alarm: a metric (or a rate of two counts) beyond a
// threshold.
type alarmSpec struct {
	name, help string
	metric     metricRef
	// rate, if set, alarms on 100 × errors / requests of the namespace's
	// counts instead of metric.
	rate *[2]string
	// masters, if set, alarms on how far the pair's LBMasters average is
	// from one half (one MASTER of two nodes), over masterPeriod.
	masters   bool
	op        string
	threshold float64
	// missing is how missing data counts (default notBreaching: no
	// traffic is no error).
	missing string
}

func alarmSpecs(a Args, ns string) []alarmSpec {
	th := a.Thresholds
	own := func(name, stat string) metricRef { return metricRef{namespace: ns, name: name, stat: stat} }
	specs := []alarmSpec{
		{name: LBErrorRate, help: "more than the threshold's percent of the site's answers are 5xx (dashboard: which cause)",
			rate: &[2]string{signals.LB5xx, signals.LBRequests}, op: "GreaterThanThreshold", threshold: float64(th.ErrorRatePercent)},
		{name: LBNoServer, help: "HAProxy answered 503 itself: no web server was up",
			metric: own(signals.LBNoServer, "Sum"), op: "GreaterThanThreshold", threshold: 0},
		{name: LBLatency, help: "the 99th percentile of the load balancers' time per request is above the threshold (ms)",
			metric: own(signals.LBLatency, "p99"), op: "GreaterThanThreshold", threshold: float64(th.LatencyP99Ms)},
		{name: LBMasters, help: "the load-balancer pair has not one keepalived MASTER of two nodes: none (nobody takes the Elastic IP), both (they fight over it) or one node alone (no standby)",
			masters: true, op: "GreaterThanThreshold", threshold: 0.2},
		{name: AppErrorRate, help: "more than the threshold's percent of the application's answers are 5xx (503: the database is unreachable)",
			rate: &[2]string{signals.App5xx, signals.AppRequests}, op: "GreaterThanThreshold", threshold: float64(th.ErrorRatePercent)},
	}
	for _, t := range signals.Tiers {
		group := pulumi.StringMap{signals.GroupDimension: pulumi.String(a.Groups[t])}
		specs = append(specs,
			alarmSpec{name: TierAlarm(t, "cpu"), help: fmt.Sprintf("the %s tier's average CPU is above the threshold (percent)", t),
				metric: metricRef{"AWS/EC2", "CPUUtilization", "Average", group}, op: "GreaterThanThreshold", threshold: float64(th.CPUPercent)},
			alarmSpec{name: TierAlarm(t, "memory"), help: fmt.Sprintf("a %s host's memory use is above the threshold (percent)", t),
				metric: metricRef{ns, signals.HostMemory, "Maximum", group}, op: "GreaterThanThreshold", threshold: float64(th.MemoryPercent)},
			alarmSpec{name: TierAlarm(t, "disk"), help: fmt.Sprintf("a %s host's root disk is fuller than the threshold (percent)", t),
				metric: metricRef{ns, signals.HostDisk, "Maximum", group}, op: "GreaterThanThreshold", threshold: float64(th.DiskPercent)},
		)
	}
	db := pulumi.StringMap{"DBInstanceIdentifier": a.DatabaseID}
	rds := func(name, stat string) metricRef { return metricRef{"AWS/RDS", name, stat, db} }
	return append(specs,
		alarmSpec{name: DatabaseCPU, help: "the database's CPU is above the threshold (percent)",
			metric: rds("CPUUtilization", "Average"), op: "GreaterThanThreshold", threshold: float64(th.DatabaseCPUPercent)},
		alarmSpec{name: DatabaseStorage, help: "the database has less free storage than the threshold",
			metric: rds("FreeStorageSpace", "Minimum"), op: "LessThanThreshold", threshold: float64(th.DatabaseFreeStorageGiB) * (1 << 30), missing: "breaching"},
		alarmSpec{name: DatabaseMemory, help: "the database has less freeable memory than the threshold",
			metric: rds("FreeableMemory", "Minimum"), op: "LessThanThreshold", threshold: float64(th.DatabaseFreeMemoryMiB) * (1 << 20), missing: "breaching"},
		alarmSpec{name: DatabaseConnection, help: "the database has more connections than the threshold",
			metric: rds("DatabaseConnections", "Maximum"), op: "GreaterThanThreshold", threshold: float64(th.DatabaseConnections)},
	)
}

// masterPeriod is the LBMasters alarm's period: five of each node's
// once-a-minute lines, so that one late or early line moves the average
// little.
const masterPeriod = 300

// newAlarm creates one alarm that notifies topic on ALARM and on OK.
func newAlarm(ctx *pulumi.Context, prefix string, s alarmSpec, th Thresholds, topic pulumi.StringOutput, opts ...pulumi.ResourceOption) (*cloudwatch.MetricAlarm, error) {
	missing := s.missing
	if missing == "" {
		missing = "notBreaching"
	}
	args := &cloudwatch.MetricAlarmArgs{
		Name:               pulumi.String(names.Tag(ctx, s.name)),
		AlarmDescription:   pulumi.String(s.help + ". Runbook: docs/MONITORING.md#" + RunbookAnchor(s.name)),
		ComparisonOperator: pulumi.String(s.op), Threshold: pulumi.Float64(s.threshold),
		EvaluationPeriods: pulumi.Int(th.EvaluationPeriods), DatapointsToAlarm: pulumi.Int(th.DatapointsToAlarm),
		TreatMissingData: pulumi.String(missing),
		AlarmActions:     pulumi.Array{topic}, OkActions: pulumi.Array{topic},
		Tags: names.Tags(ctx, prefix+"-"+s.name),
	}
	if s.rate != nil {
		ns := signals.Namespace(ctx.Project(), ctx.Stack())
		q := func(id, name string) cloudwatch.MetricAlarmMetricQueryArgs {
			return cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String(id), Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String(ns), MetricName: pulumi.String(name), Stat: pulumi.String("Sum"), Period: pulumi.Int(th.PeriodSeconds)}}
		}
		args.MetricQueries = cloudwatch.MetricAlarmMetricQueryArray{
			q("errors", s.rate[0]), q("requests", s.rate[1]),
			cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("rate"), Label: pulumi.String("5xx percent"),
				Expression: pulumi.String("IF(requests > 0, 100 * errors / requests, 0)"), ReturnData: pulumi.Bool(true)},
		}
	} else if s.masters {
		// Each node says once a minute whether it is MASTER: over five
		// minutes the pair's average is one half, a third during a roll
		// (three nodes); 0 or 1 is no MASTER, two, or a node alone.
		args.MetricQueries = cloudwatch.MetricAlarmMetricQueryArray{
			cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("masters"), Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String(signals.Namespace(ctx.Project(), ctx.Stack())), MetricName: pulumi.String(signals.LBMasters),
				Stat: pulumi.String("Average"), Period: pulumi.Int(masterPeriod)}},
			cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("offHalf"), Label: pulumi.String("distance of the MASTER share from one half"),
				Expression: pulumi.String("ABS(masters - 0.5)"), ReturnData: pulumi.Bool(true)},
		}
	} else {
		args.Namespace, args.MetricName = pulumi.String(s.metric.namespace), pulumi.String(s.metric.name)
		args.Dimensions, args.Period = s.metric.dims, pulumi.Int(th.PeriodSeconds)
		if len(s.metric.stat) > 1 && s.metric.stat[0] == 'p' {
			args.ExtendedStatistic = pulumi.String(s.metric.stat)
			// A quiet minute's few requests say little about p99.
			args.EvaluateLowSampleCountPercentiles = pulumi.String("ignore")
		} else {
			args.Statistic = pulumi.String(s.metric.stat)
		}
		if s.metric.namespace == "AWS/Route53" {
			args.Period = pulumi.Int(60)
		}
	}
	return cloudwatch.NewMetricAlarm(ctx, prefix+"-"+s.name, args, opts...)
}

// TopicKeyPolicy is the alarm topic's KMS key policy: the account
// administers it; CloudWatch (whose alarms publish to the topic) may use
// it for this account's alarms only. AWS's managed alias/aws/sns key does
// not allow CloudWatch, so alarms could not publish to a topic encrypted
// with it.
func TopicKeyPolicy(partition, account string) string {
	return iampolicy.Document(
		iampolicy.Statement{Sid: "AccountAdministers", Effect: "Allow",
			Principal: map[string]any{"AWS": iampolicy.ARN(partition, "iam", "", account, "root")},
			Action:    []string{"kms:*"}, Resource: []string{"*"}},
		iampolicy.Statement{Sid: "CloudWatchAlarmsPublish", Effect: "Allow",
			Principal: map[string]any{"Service": "cloudwatch.amazonaws.com"},
			Action:    []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"StringEquals": {"aws:SourceAccount": account}}},
	)
}

// newTopic creates the encrypted alarm topic and its subscriptions.
func newTopic(ctx *pulumi.Context, name string, a Args, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	partition, account := a.partitionAccount()
	key, err := kms.NewKey(ctx, name+"-alarms", &kms.KeyArgs{
		Description:          pulumi.String("webstack " + a.Project + "-" + a.Stack + ": the alarm topic's messages"),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
		Policy:               pulumi.String(TopicKeyPolicy(partition, account)),
		Tags:                 names.Tags(ctx, name+"-alarms"),
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	topic, err := sns.NewTopic(ctx, name+"-alarms", &sns.TopicArgs{
		Name:           pulumi.String(names.Tag(ctx, "alarms")),
		DisplayName:    pulumi.String("webstack " + a.Project + "-" + a.Stack + " alarms"),
		KmsMasterKeyId: key.Arn,
		Tags:           names.Tags(ctx, name+"-alarms"),
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	for i, e := range a.Email {
		if _, err := sns.NewTopicSubscription(ctx, fmt.Sprintf("%s-alarms-email-%d", name, i), &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(e),
		}, opts...); err != nil {
			return pulumi.StringOutput{}, err
		}
	}
	for i, e := range a.HTTPSEndpoints {
		if _, err := sns.NewTopicSubscription(ctx, fmt.Sprintf("%s-alarms-https-%d", name, i), &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("https"),
			// A webhook's URL may carry a token: a secret in the state
			// and the plans.
			Endpoint: pulumi.ToSecret(pulumi.String(e)).(pulumi.StringOutput),
		}, opts...); err != nil {
			return pulumi.StringOutput{}, err
		}
	}
	return topic.Arn, nil
}
