package monitoring_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Every alarm's description links to its runbook entry: docs/MONITORING.md
// has a section for each.
func TestEveryAlarmHasARunbook(t *testing.T) {
	doc, err := os.ReadFile("../../docs/MONITORING.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(l, "### "); ok {
			// GitHub's anchor of a heading: lower case, ", " dropped to "-".
			anchors[strings.ToLower(strings.ReplaceAll(h, ", ", "-"))] = true
		}
	}
	for _, name := range monitoring.AlarmNames() {
		if a := monitoring.RunbookAnchor(name); !anchors[a] {
			t.Errorf("alarm %s links to docs/MONITORING.md#%s, which has no such section", name, a)
		}
	}
}

func args(region string) monitoring.Args {
	return monitoring.Args{
		Project: "p", Stack: "s", Region: region, Partition: "aws", AccountID: "123456789012",
		LogRetentionDays: 30,
		Groups:           map[signals.Tier]string{signals.LoadBalancer: "p-s-lb", signals.Web: "p-s-web", signals.App: "p-s-app"},
		Alerting:         true, Email: []string{"oncall@example.com"},
		DatabaseID: pulumi.String("db-1"),
		Site: monitoring.Site{Address: pulumi.String("203.0.113.10"), HostName: "www.example.com", Path: "/",
			IntervalSeconds: 30, FailureThreshold: 3},
		Thresholds: monitoring.Thresholds{PeriodSeconds: 60, EvaluationPeriods: 5, DatapointsToAlarm: 3,
			ErrorRatePercent: 5, LatencyP99Ms: 2000, CPUPercent: 85, MemoryPercent: 90, DiskPercent: 85,
			DatabaseCPUPercent: 85, DatabaseFreeStorageGiB: 2, DatabaseFreeMemoryMiB: 128, DatabaseConnections: 80},
	}
}

// A stack outside us-east-1: the site-down alarm and a topic of its own
// live in us-east-1 (Route 53's metrics are there only), through the
// provider given; without one, New refuses before registering anything.
func TestHealthCheckAlarmLivesInUSEast1(t *testing.T) {
	_, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := monitoring.New(ctx, "m", args("eu-west-1"))
		return err
	}, mocks.Options{Project: "p", Stack: "s", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err == nil || !strings.Contains(err.Error(), "Args.HealthCheckProvider is required in eu-west-1") {
		t.Fatalf("no provider for us-east-1: %v", err)
	}

	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		p, err := aws.NewProvider(ctx, "use1", &aws.ProviderArgs{Region: pulumi.String("us-east-1")})
		if err != nil {
			return err
		}
		a := args("eu-west-1")
		a.HealthCheckProvider = p
		_, err = monitoring.New(ctx, "m", a)
		return err
	}, mocks.Options{Project: "p", Stack: "s", Config: map[string]string{"aws:region": "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	use1 := rec.Named("pulumi:providers:aws", "use1")
	site := rec.Named("aws:cloudwatch/metricAlarm:MetricAlarm", "m-site-down")
	if site == nil || use1 == nil || !strings.HasPrefix(site.Provider, use1.URN) {
		t.Fatalf("site-down alarm's provider %q, want us-east-1's %v", site.Provider, use1)
	}
	topics := rec.OfType("aws:sns/topic:Topic")
	if len(topics) != 2 {
		t.Fatalf("%d topics, want the stack's and us-east-1's", len(topics))
	}
	for _, tp := range topics {
		arn, _ := tp.Out("arn").(string)
		inUse1 := strings.HasPrefix(tp.Provider, use1.URN)
		if inUse1 != slices.Contains(site.Strings("alarmActions"), arn) {
			t.Errorf("topic %s (us-east-1: %v): site-down notifies %v", tp.Name, inUse1, site.Strings("alarmActions"))
		}
	}
	if n := len(rec.OfType("aws:sns/topicSubscription:TopicSubscription")); n != 2 {
		t.Errorf("%d subscriptions, want the address on both topics", n)
	}
}

// Every bad input is reported at once, before anything is registered.
func TestArgsValidation(t *testing.T) {
	a := args("us-east-1")
	a.LogRetentionDays = 10
	delete(a.Groups, signals.Web)
	a.HTTPSEndpoints = []string{"http://hooks.example.com/T0KEN"}
	a.Site.IntervalSeconds = 20
	a.Thresholds.DatapointsToAlarm = 9
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := monitoring.New(ctx, "m", a)
		return err
	}, mocks.Options{Project: "p", Stack: "s", Config: map[string]string{"aws:region": "us-east-1"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"LogRetentionDays = 10", "Groups[web] is required", "HTTPSEndpoints[0] (hidden", "IntervalSeconds = 20", "DatapointsToAlarm = 9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("the webhook's token is in the error: %v", err)
	}
	if n := rec.Count(); n != 0 {
		t.Errorf("%d resources registered before the error", n)
	}
}
