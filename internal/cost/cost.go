// Package cost estimates a stack's monthly cost drivers from the resources
// its program registers (as the recording mocks see them): the hosts of
// each Auto Scaling group, the database, the NAT gateways, the interface
// endpoints, the public IPv4 addresses and the secrets. make plan prints
// the table at the top of each stack's plan, so that a reviewer reads what
// a pull request costs beside what it changes.
//
// Prices are us-east-1 on-demand list prices in USD (AWS's EC2, RDS and
// VPC pricing pages; checked 2026-11), 730 hours a month. Other regions
// differ, and usage-based charges (data processed by NAT gateways and
// endpoints, data out to the internet, logs ingested) are named without a
// figure. An instance type or database class without a known price is
// listed as such, never guessed.
package cost

import (
	"fmt"
	"sort"
	"strings"

	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/mocks"
)

// HoursPerMonth is AWS's billing month.
const HoursPerMonth = 730

// Unit prices, us-east-1, on demand, USD.
const (
	NATGatewayHourly    = 0.045 // per NAT gateway, plus $0.045/GB processed
	EndpointHourlyPerAZ = 0.01  // per interface endpoint per zone, plus $0.01/GB
	PublicIPv4Hourly    = 0.005 // per public IPv4 address, attached or not (since 2024-02)
	EBSGP3PerGBMonth    = 0.08  // EC2 root volumes
	RDSGP3PerGBMonth    = 0.115 // RDS gp2/gp3 storage, per copy (Multi-AZ: two)
	SecretMonthly       = 0.40  // per Secrets Manager secret
	// Monitoring (CloudWatch, Route 53 and KMS pricing pages).
	AlarmMetricMonthly       = 0.10 // per metric a standard-resolution alarm reads
	CustomMetricMonthly      = 0.30 // per custom metric (the first 10,000)
	DashboardMonthly         = 3.00 // per dashboard beyond the account's first three
	HealthCheckMonthly       = 0.50 // per Route 53 health check of an AWS endpoint
	HealthCheckOptionMonthly = 1.00 // per optional feature: HTTPS, string matching, latency, 10 s interval
	KMSKeyMonthly            = 1.00 // per customer managed key
)

// EC2Hourly are Linux instance prices.
var EC2Hourly = map[string]float64{
	"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672, "t4g.xlarge": 0.1344,
	"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664,
	"m7g.medium": 0.0408, "m7g.large": 0.0816, "m7g.xlarge": 0.1632,
	"m6g.medium": 0.0385, "m6g.large": 0.077, "m6g.xlarge": 0.154,
	"c7g.medium": 0.0363, "c7g.large": 0.0725, "c7g.xlarge": 0.145,
	"m6i.large": 0.096, "m7i.large": 0.1008, "c6i.large": 0.085,
}

// RDSHourly are Single-AZ database instance prices (Multi-AZ runs a
// standby: twice). The burstable classes cost the same for PostgreSQL and
// MySQL.
var RDSHourly = map[string]float64{
	"db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129,
	"db.t3.micro": 0.018, "db.t3.small": 0.036, "db.t3.medium": 0.072,
}

// Line is one cost driver.
type Line struct {
	Driver   string // what costs: "web servers", "NAT gateways"
	Quantity string // how much of it: "2 × t4g.small (min 2, max 4), 16 GB gp3 each"
	// Monthly is the cost at the quantity the stack runs (a group's
	// desired capacity); Max at a group's maximum (else Monthly).
	Monthly, Max float64
	// Unpriced says why Monthly is not known (an instance type without a
	// price here); Usage names the charges that depend on traffic.
	Unpriced, Usage string
}

// Estimate is a stack's cost drivers.
type Estimate struct {
	Region string
	Lines  []Line
}

// Total sums the priced lines: at the stacks' desired capacities, and with
// every group at its maximum.
func (e Estimate) Total() (monthly, atMax float64) {
	for _, l := range e.Lines {
		monthly += l.Monthly
		atMax += l.Max
	}
	return monthly, atMax
}

// Of estimates the cost of the resources a program registered.
func Of(resources []*mocks.Resource) Estimate {
	var e Estimate
	byID := map[string]*mocks.Resource{}
	count := map[string]int{}
	for _, r := range resources {
		if r.ID != "" {
			byID[r.ID] = r
		}
		count[r.Type]++
		if r.Type == "pulumi:providers:aws" && e.Region == "" {
			e.Region = r.Str("region")
		}
	}
	var groups []Line
	for _, r := range resources {
		switch r.Type {
		case "aws:autoscaling/group:Group":
			groups = append(groups, group(r, byID[r.Str("launchTemplate.id")]))
		case "aws:rds/instance:Instance":
			e.Lines = append(e.Lines, database(r))
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Driver < groups[j].Driver })
	e.Lines = append(groups, e.Lines...)

	hourly := func(driver, quantity string, n int, price float64, usage string) {
		if n > 0 {
			m := float64(n) * price * HoursPerMonth
			e.Lines = append(e.Lines, Line{Driver: driver, Quantity: quantity, Monthly: m, Max: m, Usage: usage})
		}
	}
	nat := count["aws:ec2/natGateway:NatGateway"]
	hourly("NAT gateways", fmt.Sprintf("%d", nat), nat, NATGatewayHourly, "$0.045/GB processed")
	enis := 0
	var endpoints []string
	for _, r := range resources {
		if r.Type == "aws:ec2/vpcEndpoint:VpcEndpoint" && r.Str("vpcEndpointType") == "Interface" {
			enis += len(r.Strings("subnetIds"))
			name := r.Str("serviceName")
			endpoints = append(endpoints, name[strings.LastIndex(name, ".")+1:])
		}
	}
	sort.Strings(endpoints)
	hourly("interface endpoints", fmt.Sprintf("%d in %d zone-placements (%s)", len(endpoints), enis, strings.Join(endpoints, ", ")), enis, EndpointHourlyPerAZ, "$0.01/GB processed")
	ips := count["aws:ec2/eip:Eip"]
	hourly("public IPv4 addresses", plural(ips, "Elastic IP"), ips, PublicIPv4Hourly, "")
	if n := count["aws:secretsmanager/secret:Secret"]; n > 0 {
		m := float64(n) * SecretMonthly
		e.Lines = append(e.Lines, Line{Driver: "secrets", Quantity: fmt.Sprintf("%d", n), Monthly: m, Max: m})
	}
	if count["aws:ec2/flowLog:FlowLog"] > 0 || count["aws:cloudwatch/logGroup:LogGroup"] > 0 {
		e.Lines = append(e.Lines, Line{Driver: "logs", Quantity: plural(count["aws:cloudwatch/logGroup:LogGroup"], "log group"), Usage: "$0.50/GB ingested, $0.03/GB-month stored"})
	}
	if line, ok := monitoring(resources, count); ok {
		e.Lines = append(e.Lines, line)
	}
	e.Lines = append(e.Lines, Line{Driver: "data out to the internet", Usage: "$0.09/GB after the first 100 GB a month"})
	return e
}

// group is an Auto Scaling group's hosts, priced from its launch template.
func group(g, lt *mocks.Resource) Line {
	l := Line{Driver: g.Name + " hosts"}
	desired, lo, hi := g.Int("desiredCapacity"), g.Int("minSize"), g.Int("maxSize")
	if desired == 0 {
		desired = lo
	}
	if lt == nil {
		l.Quantity = fmt.Sprintf("%d hosts (min %d, max %d)", desired, lo, hi)
		l.Unpriced = "launch template not found"
		return l
	}
	typ := lt.Str("instanceType")
	disk := lt.Int("blockDeviceMappings.0.ebs.volumeSize")
	l.Quantity = fmt.Sprintf("%d × %s (min %d, max %d), %d GB gp3 each", desired, typ, lo, hi, disk)
	price, ok := EC2Hourly[typ]
	if !ok {
		l.Unpriced = "no price here for " + typ
		return l
	}
	each := price*HoursPerMonth + float64(disk)*EBSGP3PerGBMonth
	l.Monthly, l.Max = float64(desired)*each, float64(hi)*each
	return l
}

// database is the RDS instance: its class, doubled for Multi-AZ, and its
// storage.
func database(r *mocks.Resource) Line {
	class, storage, multi := r.Str("instanceClass"), r.Int("allocatedStorage"), r.Bool("multiAz")
	copies, deploy := 1, "Single-AZ"
	if multi {
		copies, deploy = 2, "Multi-AZ"
	}
	l := Line{Driver: "database", Quantity: fmt.Sprintf("%s %s %s, %d GB", r.Str("engine"), class, deploy, storage)}
	price, ok := RDSHourly[class]
	if !ok {
		l.Unpriced = "no price here for " + class
		return l
	}
	l.Monthly = float64(copies) * (price*HoursPerMonth + float64(storage)*RDSGP3PerGBMonth)
	l.Max = l.Monthly
	return l
}

// Render prints the estimate as an aligned table with a total.
func (e Estimate) Render() string {
	var b strings.Builder
	rows := [][4]string{{"driver", "quantity", "$/month", "at max"}}
	for _, l := range e.Lines {
		m, x := money(l.Monthly), money(l.Max)
		switch {
		case l.Unpriced != "":
			m, x = "?", "?"
		case l.Monthly == 0 && l.Usage != "":
			m, x = "usage", "usage"
		}
		q := l.Quantity
		if l.Usage != "" {
			q = strings.TrimPrefix(q+"; "+l.Usage, "; ")
		}
		if l.Unpriced != "" {
			q += " (" + l.Unpriced + ")"
		}
		rows = append(rows, [4]string{l.Driver, q, m, x})
	}
	monthly, atMax := e.Total()
	rows = append(rows, [4]string{"total", "priced lines", money(monthly), money(atMax)})
	w := [4]int{}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s  %-*s  %*s  %*s\n", w[0], r[0], w[1], r[1], w[2], r[2], w[3], r[3])
	}
	region := e.Region
	if region == "" {
		region = "the default region"
	}
	note := "us-east-1 on-demand list prices"
	if region != "us-east-1" {
		note += " (this stack runs in " + region + ": expect different figures)"
	}
	fmt.Fprintf(&b, "(%s, %d h a month; usage-based charges named, not counted: internal/cost)\n", note, HoursPerMonth)
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func money(f float64) string { return fmt.Sprintf("%.2f", f) }

// monitoring is the alarms (each metric they read), the custom metrics
// (one per metric filter, and the hosts' agents' per tier: see
// hostMetricsPerGroup), the dashboard, the health checks with their
// options, and the alarm topics' keys. SNS email deliveries of the first
// 1,000 a month are free.
func monitoring(resources []*mocks.Resource, count map[string]int) (Line, bool) {
	alarmMetrics := 0
	var checks float64
	for _, r := range resources {
		switch r.Type {
		case "aws:cloudwatch/metricAlarm:MetricAlarm":
			n := 0
			if q, ok := r.In("metricQueries").([]any); ok {
				for _, e := range q {
					if m, ok := e.(map[string]any); ok && m["metric"] != nil {
						n++
					}
				}
			}
			alarmMetrics += max(n, 1)
		case "aws:route53/healthCheck:HealthCheck":
			checks += HealthCheckMonthly + HealthCheckOptionMonthly // latency is measured
			typ := r.Str("type")
			if strings.HasPrefix(typ, "HTTPS") {
				checks += HealthCheckOptionMonthly
			}
			if strings.HasSuffix(typ, "_STR_MATCH") {
				checks += HealthCheckOptionMonthly
			}
			if r.Int("requestInterval") == 10 {
				checks += HealthCheckOptionMonthly
			}
		}
	}
	filters := count["aws:cloudwatch/logMetricFilter:LogMetricFilter"]
	custom := filters
	if filters > 0 {
		custom += hostMetricsPerGroup * count["aws:autoscaling/group:Group"]
	}
	dashboards, keys := count["aws:cloudwatch/dashboard:Dashboard"], count["aws:kms/key:Key"]
	if alarmMetrics+custom+dashboards+keys == 0 && checks == 0 {
		return Line{}, false
	}
	m := float64(alarmMetrics)*AlarmMetricMonthly + float64(custom)*CustomMetricMonthly +
		float64(dashboards)*DashboardMonthly + checks + float64(keys)*KMSKeyMonthly
	return Line{
		Driver: "monitoring",
		Quantity: fmt.Sprintf("%d alarm metrics, %d custom metrics, %s, %s, %s", alarmMetrics, custom,
			plural(count["aws:route53/healthCheck:HealthCheck"], "health check"), plural(dashboards, "dashboard"), plural(keys, "KMS key")),
		Monthly: m, Max: m,
		Usage: "dashboards: the account's first 3 are free; logs ingested are under logs",
	}, true
}

// hostMetricsPerGroup are the custom metrics the CloudWatch agent of one
// group's hosts publishes: memory, connections, and disk twice (with its
// path and file system, and aggregated by group).
var hostMetricsPerGroup = len(signals.HostMetrics) + 1
