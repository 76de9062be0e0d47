package infra_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/monitoring"
	"github.com/foobar/webstack/components/monitoring/signals"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

const (
	alarmT     = "aws:cloudwatch/metricAlarm:MetricAlarm"
	logGroupT  = "aws:cloudwatch/logGroup:LogGroup"
	filterT    = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
	dashboardT = "aws:cloudwatch/dashboard:Dashboard"
	topicT     = "aws:sns/topic:Topic"
	subT       = "aws:sns/topicSubscription:TopicSubscription"
	keyT       = "aws:kms/key:Key"
	checkT     = "aws:route53/healthCheck:HealthCheck"
)

// metricKey names a metric as namespace/name.
func metricKey(ns, name string) string { return ns + "/" + name }

// For every stack: every alarm notifies the stack's topic on ALARM and on
// OK; every log group has a retention; every metric the filters emit is
// read by an alarm or the dashboard; the dashboard is valid JSON naming
// only metrics the stack emits (its filters, its agents, AWS's own); the
// topic is encrypted with a key CloudWatch may use.
func TestMonitoringOfEveryStack(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			ns := signals.Namespace("webstack", stack)

			topics := map[string]bool{}
			for _, tp := range rec.OfType(topicT) {
				arn, _ := tp.Out("arn").(string)
				topics[arn] = true
				if tp.Str("kmsMasterKeyId") == "" {
					t.Errorf("topic %s is not encrypted", tp.Name)
				}
			}
			if len(topics) != 1 {
				t.Fatalf("%d alarm topics, want 1", len(topics))
			}
			for _, k := range rec.OfType(keyT) {
				if !strings.Contains(k.Str("policy"), `"Service":"cloudwatch.amazonaws.com"`) || !k.Bool("enableKeyRotation") {
					t.Errorf("key %s: CloudWatch may not use it, or it is not rotated: %s", k.Name, k.Str("policy"))
				}
			}

			emitted := map[string]bool{}
			for _, f := range rec.OfType(filterT) {
				emitted[metricKey(f.Str("metricTransformation.namespace"), f.Str("metricTransformation.name"))] = true
			}
			if len(emitted) != len(signals.Metrics) {
				t.Errorf("%d metric filters, signals defines %d metrics", len(emitted), len(signals.Metrics))
			}
			agent := map[string]bool{}
			for _, m := range signals.HostMetrics {
				agent[metricKey(ns, m)] = true
			}
			read := map[string]bool{}

			alarms := rec.OfType(alarmT)
			var names []string
			for _, a := range alarms {
				names = append(names, strings.TrimPrefix(a.Str("name"), "webstack-"+stack+"-"))
				actions, oks := a.Strings("alarmActions"), a.Strings("okActions")
				if len(actions) == 0 || len(oks) == 0 {
					t.Errorf("alarm %s: actions %v, OK actions %v: it tells no one", a.Name, actions, oks)
				}
				for _, arn := range append(actions, oks...) {
					if !topics[arn] {
						t.Errorf("alarm %s notifies %s, not the stack's topic", a.Name, arn)
					}
				}
				if !strings.Contains(a.Str("alarmDescription"), "Runbook: docs/MONITORING.md#") {
					t.Errorf("alarm %s has no runbook link: %q", a.Name, a.Str("alarmDescription"))
				}
				if q, ok := a.In("metricQueries").([]any); ok && len(q) > 0 {
					for _, e := range q {
						m, _ := e.(map[string]any)["metric"].(map[string]any)
						if m != nil {
							read[metricKey(m["namespace"].(string), m["metricName"].(string))] = true
						}
					}
				} else {
					key := metricKey(a.Str("namespace"), a.Str("metricName"))
					read[key] = true
					if a.Str("namespace") == ns && !emitted[key] && !agent[key] {
						t.Errorf("alarm %s reads %s, which nothing emits", a.Name, key)
					}
				}
			}
			slices.Sort(names)
			want := monitoring.AlarmNames()
			slices.Sort(want)
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("alarms %v, want %v", names, want)
			}

			for _, g := range rec.OfType(logGroupT) {
				if g.Int("retentionInDays") <= 0 {
					t.Errorf("log group %s (%s) keeps its events forever", g.Name, g.Str("name"))
				}
			}

			dash := rec.OfType(dashboardT)
			if len(dash) != 1 {
				t.Fatalf("%d dashboards, want 1", len(dash))
			}
			var body struct {
				Widgets []struct {
					Type       string
					Properties struct {
						Metrics [][]any
						Alarms  []string
					}
				}
			}
			if err := json.Unmarshal([]byte(dash[0].Str("dashboardBody")), &body); err != nil {
				t.Fatalf("dashboard body is not JSON: %v", err)
			}
			var alarmWidget []string
			for _, w := range body.Widgets {
				alarmWidget = append(alarmWidget, w.Properties.Alarms...)
				for _, m := range w.Properties.Metrics {
					key := metricKey(m[0].(string), m[1].(string))
					read[key] = true
					if m[0] == ns && !emitted[key] && !agent[key] {
						t.Errorf("the dashboard shows %s, which nothing emits", key)
					}
					if !strings.HasPrefix(m[0].(string), "AWS/") && m[0] != ns {
						t.Errorf("the dashboard shows %s from another namespace", key)
					}
				}
			}
			if len(alarmWidget) != len(alarms) {
				t.Errorf("the dashboard shows %d alarms' states, the stack has %d", len(alarmWidget), len(alarms))
			}
			for key := range emitted {
				if !read[key] {
					t.Errorf("metric %s is emitted, but no alarm or widget reads it", key)
				}
			}
			for key := range agent {
				if !read[key] {
					t.Errorf("host metric %s is published, but no alarm or widget reads it", key)
				}
			}
		})
	}
}

// The outputs an operator needs; an HTTPS endpoint (it may carry a token)
// is a secret in the state and never in the plan in plain text; dev may
// turn alerting off and keeps its log groups; prod's topic has a
// subscriber.
func TestMonitoringOutputsAndSubscriptions(t *testing.T) {
	const token = "https://hooks.example.com/services/T0KEN-XYZ"
	opts := stackOptions(t, "prod", map[string]string{
		"webstack:monitoring": `{"email": ["oncall@foobar.com"], "httpsEndpoints": ["` + token + `"], "logRetentionDays": 365}`,
	})
	opts.Secrets = append(opts.Secrets, "webstack:monitoring")
	values, _ := exports(t, opts)
	for _, k := range []string{"alarmTopicArn", "healthCheckId", "healthCheckStatusUrl", "dashboardUrl"} {
		if s, _ := values[k].(string); s == "" {
			t.Errorf("output %s = %v", k, values[k])
		}
	}
	rec, err := mocks.Run(infra.Program, opts)
	if err != nil {
		t.Fatal(err)
	}
	var protocols []string
	for _, s := range rec.OfType(subT) {
		protocols = append(protocols, s.Str("protocol"))
		if s.Str("protocol") == "https" && !s.IsSecret("endpoint") {
			t.Errorf("the HTTPS subscription's endpoint is not a secret")
		}
	}
	slices.Sort(protocols)
	if strings.Join(protocols, ",") != "email,https" {
		t.Errorf("subscriptions %v, want email and https", protocols)
	}

	dev, err := runStack(t, "dev", map[string]string{"webstack:monitoring": `{"enabled": false}`})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dev.OfType(alarmT)) + len(dev.OfType(topicT)) + len(dev.OfType(checkT)) + len(dev.OfType(dashboardT)); n != 0 {
		t.Errorf("dev with monitoring off: %d alarms, topics, checks or dashboards", n)
	}
	if n := len(dev.OfType(logGroupT)); n < len(signals.Tiers) {
		t.Errorf("dev with monitoring off: %d log groups; the tiers' logs still need theirs", n)
	}
}

// Each tier's hosts ship to their own log group (the one the agent's
// configuration in their bundle names), and may put metrics only into the
// stack's namespace; they install the agent.
func TestHostsShipToTheirOwnLogGroup(t *testing.T) {
	rec := mustRunStack(t, "prod")
	ns := signals.Namespace("webstack", "prod")
	for _, p := range rec.OfType(rolePolT) {
		doc := p.Str("policy")
		if !strings.Contains(doc, "cloudwatch:PutMetricData") {
			continue
		}
		var d struct {
			Statement []struct {
				Action    []string
				Condition map[string]map[string]any
			}
		}
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		for _, st := range d.Statement {
			if slices.Contains(st.Action, "cloudwatch:PutMetricData") && st.Condition["StringEquals"]["cloudwatch:namespace"] != ns {
				t.Errorf("%s: PutMetricData with condition %v, want cloudwatch:namespace = %s", p.Name, st.Condition, ns)
			}
		}
	}
	for _, tier := range signals.Tiers {
		object := map[signals.Tier]string{signals.LoadBalancer: "lb-bundle", signals.Web: "web-bundle", signals.App: "app-bundle"}[tier]
		cfg := file(t, bundle(t, rec, object), signals.AgentConfigFile)
		if !strings.Contains(cfg, `"log_group_name": "`+signals.LogGroupName("webstack", "prod", tier)+`"`) {
			t.Errorf("%s's agent ships elsewhere:\n%s", tier, cfg)
		}
		if rec.Where(logGroupT, func(r *mocks.Resource) bool { return r.Str("name") == signals.LogGroupName("webstack", "prod", tier) }) == nil {
			t.Errorf("no log group %s", signals.LogGroupName("webstack", "prod", tier))
		}
	}
}
