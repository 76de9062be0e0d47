// Package monitoring watches a webstack site and tells someone when it
// hurts: one encrypted SNS topic per stack with its subscribers; the
// tiers' log groups with a retention, and the metric filters that turn the
// daemons' access lines into requests, errors and latency
// (package signals owns the formats, names and patterns); alarms on the
// site from outside (a Route 53 health check of the public URL), on each
// tier's golden signals and on the database; and one dashboard.
//
// It takes what it watches as inputs (group names, the database's
// identifier, the site's address), so another program can reuse it; it
// creates nothing on the hosts. The hosts' CloudWatch agent configuration
// is signals.AgentConfig, installed by each tier's bundle.
package monitoring

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// HealthCheckRegion is where Route 53 publishes its health checks'
// metrics: their alarm, and the topic it notifies, live there.
const HealthCheckRegion = "us-east-1"

// RetentionValues are the retention periods, in days, CloudWatch Logs
// accepts.
var RetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Args configures the monitoring of one site.
type Args struct {
	// Project and Stack name the metric namespace and log groups
	// (signals.Namespace, signals.LogGroupName). Required.
	Project, Stack string
	// Region is the stack's region (the dashboard's URL); Partition and
	// AccountID the account's (the topic key's policy). Required.
	Region, Partition, AccountID string
	// LogRetentionDays is the tiers' log groups' retention, one of
	// RetentionValues. Required.
	LogRetentionDays int
	// Groups are the Auto Scaling groups of the tiers that have hosts,
	// by tier (signals.Tiers). Required: one per tier.
	Groups map[signals.Tier]string

	// Alerting builds the topic, alarms, health check, metric filters and
	// dashboard; false keeps only the log groups (the hosts still ship
	// their logs).
	Alerting bool
	// Email and HTTPSEndpoints subscribe to the alarm topic. The
	// endpoints are handled as secrets (they may carry a token).
	Email, HTTPSEndpoints []string
	// DatabaseID is the RDS instance's identifier. Required with Alerting.
	DatabaseID pulumi.StringInput
	// Site is what the external health check requests. Required with
	// Alerting.
	Site Site
	// Thresholds are when the alarms fire.
	Thresholds Thresholds
	// HealthCheckProvider is an aws provider for HealthCheckRegion; nil
	// when Region is HealthCheckRegion (the resources' own provider).
	HealthCheckProvider pulumi.ProviderResource
}

// Site is the public URL the Route 53 health check requests: Address
// (the Elastic IP), with the Host header (and, with HTTPS, the SNI name)
// HostName, on Path; the page must contain SearchString unless it is "".
type Site struct {
	Address          pulumi.StringInput
	HostName         string
	HTTPS            bool
	Path             string
	SearchString     string
	IntervalSeconds  int // 10 or 30
	FailureThreshold int // 1 to 10
}

// Thresholds are when the alarms fire: beyond the threshold in
// DatapointsToAlarm of EvaluationPeriods periods of PeriodSeconds.
type Thresholds struct {
	PeriodSeconds, EvaluationPeriods, DatapointsToAlarm int
	ErrorRatePercent, LatencyP99Ms                      int
	CPUPercent, MemoryPercent, DiskPercent              int
	DatabaseCPUPercent, DatabaseFreeStorageGiB          int
	DatabaseFreeMemoryMiB, DatabaseConnections          int
}

// Monitoring is what New created.
type Monitoring struct {
	pulumi.ResourceState

	// LogGroups are the tiers' log groups, by tier.
	LogGroups map[signals.Tier]*cloudwatch.LogGroup
	// With Alerting: the topic every alarm notifies, the alarms by
	// name, the health check, and the dashboard.
	TopicArn       pulumi.StringOutput
	Alarms         map[string]*cloudwatch.MetricAlarm
	HealthCheckID  pulumi.StringOutput
	HealthCheckURL pulumi.StringOutput
	DashboardURL   pulumi.StringOutput
	Namespace      string
}

func (a *Args) validate() error {
	var errs []error
	if a.Project == "" || a.Stack == "" {
		errs = append(errs, errors.New("monitoring: Args.Project and Args.Stack are required (they name the metric namespace and log groups)"))
	}
	if a.Region == "" || a.Partition == "" || a.AccountID == "" {
		errs = append(errs, errors.New("monitoring: Args.Region, Args.Partition and Args.AccountID are required"))
	}
	if !slices.Contains(RetentionValues, a.LogRetentionDays) {
		errs = append(errs, fmt.Errorf("monitoring: Args.LogRetentionDays = %d: must be one of %v (the values CloudWatch Logs accepts)", a.LogRetentionDays, RetentionValues))
	}
	for _, t := range signals.Tiers {
		if a.Groups[t] == "" {
			errs = append(errs, fmt.Errorf("monitoring: Args.Groups[%s] is required: the %s tier's Auto Scaling group", t, t))
		}
	}
	for t := range a.Groups {
		if !slices.Contains(signals.Tiers, t) {
			errs = append(errs, fmt.Errorf("monitoring: Args.Groups[%s]: not a tier; tiers are %v", t, signals.Tiers))
		}
	}
	if !a.Alerting {
		return errors.Join(errs...)
	}
	for i, e := range a.Email {
		if !strings.Contains(e, "@") || strings.ContainsAny(e, " \t") {
			errs = append(errs, fmt.Errorf("monitoring: Args.Email[%d] = %q: must be an email address", i, e))
		}
	}
	for i, e := range a.HTTPSEndpoints {
		if u, err := url.Parse(e); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("monitoring: Args.HTTPSEndpoints[%d] (hidden: it may carry a token): must be an https:// URL", i))
		}
	}
	if a.DatabaseID == nil {
		errs = append(errs, errors.New("monitoring: Args.DatabaseID is required with Alerting"))
	}
	s := a.Site
	if s.Address == nil || s.HostName == "" {
		errs = append(errs, errors.New("monitoring: Args.Site.Address and Args.Site.HostName are required with Alerting: the health check requests them"))
	}
	if !strings.HasPrefix(s.Path, "/") {
		errs = append(errs, fmt.Errorf("monitoring: Args.Site.Path = %q: must start with /", s.Path))
	}
	if len(s.SearchString) > 255 {
		errs = append(errs, fmt.Errorf("monitoring: Args.Site.SearchString: %d characters, Route 53 takes at most 255", len(s.SearchString)))
	}
	if s.IntervalSeconds != 10 && s.IntervalSeconds != 30 {
		errs = append(errs, fmt.Errorf("monitoring: Args.Site.IntervalSeconds = %d: must be 10 or 30", s.IntervalSeconds))
	}
	if s.FailureThreshold < 1 || s.FailureThreshold > 10 {
		errs = append(errs, fmt.Errorf("monitoring: Args.Site.FailureThreshold = %d: must be 1 to 10", s.FailureThreshold))
	}
	th := a.Thresholds
	if th.PeriodSeconds < 60 || th.PeriodSeconds%60 != 0 {
		errs = append(errs, fmt.Errorf("monitoring: Args.Thresholds.PeriodSeconds = %d: must be a multiple of 60", th.PeriodSeconds))
	}
	if th.EvaluationPeriods < 1 || th.DatapointsToAlarm < 1 || th.DatapointsToAlarm > th.EvaluationPeriods {
		errs = append(errs, fmt.Errorf("monitoring: Args.Thresholds: DatapointsToAlarm = %d, EvaluationPeriods = %d: need 1 <= DatapointsToAlarm <= EvaluationPeriods", th.DatapointsToAlarm, th.EvaluationPeriods))
	} else if th.PeriodSeconds*th.EvaluationPeriods > 86400 {
		errs = append(errs, fmt.Errorf("monitoring: Args.Thresholds: PeriodSeconds × EvaluationPeriods = %d s: at most one day", th.PeriodSeconds*th.EvaluationPeriods))
	}
	for _, v := range []struct {
		name string
		val  int
	}{
		{"ErrorRatePercent", th.ErrorRatePercent}, {"LatencyP99Ms", th.LatencyP99Ms}, {"CPUPercent", th.CPUPercent},
		{"MemoryPercent", th.MemoryPercent}, {"DiskPercent", th.DiskPercent}, {"DatabaseCPUPercent", th.DatabaseCPUPercent},
		{"DatabaseFreeStorageGiB", th.DatabaseFreeStorageGiB}, {"DatabaseFreeMemoryMiB", th.DatabaseFreeMemoryMiB},
		{"DatabaseConnections", th.DatabaseConnections},
	} {
		if v.val < 1 {
			errs = append(errs, fmt.Errorf("monitoring: Args.Thresholds.%s = %d: must be at least 1", v.name, v.val))
		}
	}
	if a.Region != HealthCheckRegion && a.HealthCheckProvider == nil {
		errs = append(errs, fmt.Errorf("monitoring: Args.HealthCheckProvider is required in %s: Route 53 publishes health check metrics in %s only, so the site-down alarm and its topic live there", a.Region, HealthCheckRegion))
	}
	return errors.Join(errs...)
}

// New creates the monitoring of a site.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	m := &Monitoring{LogGroups: map[signals.Tier]*cloudwatch.LogGroup{}, Alarms: map[string]*cloudwatch.MetricAlarm{},
		Namespace: signals.Namespace(args.Project, args.Stack)}
	if err := ctx.RegisterComponentResource("webstack:monitoring:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(m)
	for _, tier := range signals.Tiers {
		g, err := cloudwatch.NewLogGroup(ctx, name+"-"+string(tier), &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(signals.LogGroupName(args.Project, args.Stack, tier)),
			RetentionInDays: pulumi.Int(args.LogRetentionDays),
			Tags:            names.Tags(ctx, name+"-"+string(tier)),
		}, child)
		if err != nil {
			return nil, err
		}
		m.LogGroups[tier] = g
	}
	outputs := pulumi.Map{}
	if args.Alerting {
		if err := m.alerting(ctx, name, args, child); err != nil {
			return nil, err
		}
		outputs["topicArn"], outputs["healthCheckId"], outputs["dashboardUrl"] = m.TopicArn, m.HealthCheckID, m.DashboardURL
	}
	return m, ctx.RegisterResourceOutputs(m, outputs)
}

func (m *Monitoring) alerting(ctx *pulumi.Context, name string, args Args, child pulumi.ResourceOption) error {
	// The metric filters: every metric signals defines, on its tier's group.
	for _, metric := range signals.Metrics {
		tr := &cloudwatch.LogMetricFilterMetricTransformationArgs{
			Name: pulumi.String(metric.Name), Namespace: pulumi.String(m.Namespace),
			Value: pulumi.String(metric.Value), Unit: pulumi.String(string(metric.Unit)),
		}
		if metric.Value == "1" {
			// A count is 0, not missing, in a minute of lines that do
			// not match: error rates stay defined.
			tr.DefaultValue = pulumi.String("0")
		}
		if _, err := cloudwatch.NewLogMetricFilter(ctx, name+"-"+metric.Name, &cloudwatch.LogMetricFilterArgs{
			Name: pulumi.String(metric.Name), LogGroupName: m.LogGroups[metric.Tier].Name,
			Pattern: pulumi.String(metric.Pattern), MetricTransformation: tr,
		}, child); err != nil {
			return err
		}
	}

	topic, err := newTopic(ctx, name, args, child)
	if err != nil {
		return err
	}
	m.TopicArn = topic
	for _, spec := range alarmSpecs(args, m.Namespace) {
		a, err := newAlarm(ctx, name, spec, args.Thresholds, topic, child)
		if err != nil {
			return err
		}
		m.Alarms[spec.name] = a
	}

	// The site from outside: Route 53's checkers request the public URL.
	s := args.Site
	hcType, port := "HTTP", 80
	if s.HTTPS {
		hcType, port = "HTTPS", 443
	}
	hc := &route53.HealthCheckArgs{
		Type: pulumi.String(hcType), IpAddress: s.Address, Fqdn: pulumi.String(s.HostName), Port: pulumi.Int(port),
		ResourcePath: pulumi.String(s.Path), RequestInterval: pulumi.Int(s.IntervalSeconds),
		FailureThreshold: pulumi.Int(s.FailureThreshold), MeasureLatency: pulumi.Bool(true),
		Tags: names.Tags(ctx, name+"-site"),
	}
	if s.HTTPS {
		hc.EnableSni = pulumi.Bool(true)
	}
	if s.SearchString != "" {
		hc.Type, hc.SearchString = pulumi.String(hcType+"_STR_MATCH"), pulumi.String(s.SearchString)
	}
	check, err := route53.NewHealthCheck(ctx, name+"-site", hc, child)
	if err != nil {
		return err
	}
	m.HealthCheckID = check.ID().ToStringOutput()
	m.HealthCheckURL = pulumi.Sprintf("https://console.aws.amazon.com/route53/healthchecks/home#/details/%s", check.ID())
	siteTopic, siteOpts := topic, []pulumi.ResourceOption{child}
	if args.Region != HealthCheckRegion {
		// The health check's alarm must be in us-east-1, and an alarm
		// notifies a topic of its own region: a second topic there.
		gopts := []pulumi.ResourceOption{child, pulumi.Provider(args.HealthCheckProvider)}
		siteTopic, err = newTopic(ctx, name+"-"+HealthCheckRegion, args, gopts...)
		if err != nil {
			return err
		}
		siteOpts = gopts
	}
	siteDown, err := newAlarm(ctx, name, alarmSpec{
		name: SiteDown, help: "the site does not answer from outside: Route 53's checkers fail on the public URL",
		metric: metricRef{namespace: "AWS/Route53", name: "HealthCheckStatus", stat: "Minimum",
			dims: pulumi.StringMap{"HealthCheckId": check.ID()}},
		op: "LessThanThreshold", threshold: 1, missing: "breaching",
	}, args.Thresholds, siteTopic, siteOpts...)
	if err != nil {
		return err
	}
	m.Alarms[SiteDown] = siteDown

	dashName := DashboardName(args.Project, args.Stack)
	var arns pulumi.StringArray
	for _, n := range AlarmNames() {
		arns = append(arns, m.Alarms[n].Arn)
	}
	body := pulumi.All(args.DatabaseID, check.ID(), arns).ApplyT(func(v []any) (string, error) {
		var alarmArns []string
		for _, a := range v[2].([]string) {
			alarmArns = append(alarmArns, a)
		}
		return Dashboard(DashboardInputs{
			Region: args.Region, Namespace: m.Namespace, Groups: args.Groups,
			DatabaseID: v[0].(string), HealthCheckID: string(v[1].(pulumi.ID)), AlarmArns: alarmArns,
		})
	}).(pulumi.StringOutput)
	if _, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(dashName), DashboardBody: body,
	}, child); err != nil {
		return err
	}
	m.DashboardURL = pulumi.String(fmt.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards/dashboard/%s", args.Region, args.Region, dashName)).ToStringOutput()
	return nil
}

// DashboardName is the stack's dashboard's name.
func DashboardName(project, stack string) string { return project + "-" + stack }

func (a Args) partitionAccount() (string, string) { return a.Partition, a.AccountID }
