package guardrails

import (
	"encoding/json"
	"strings"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
)

// Monitoring resource types (issue #12).
const (
	alarmT       = "aws:cloudwatch/metricAlarm:MetricAlarm"
	dashboardT   = "aws:cloudwatch/dashboard:Dashboard"
	topicT       = "aws:sns/topic:Topic"
	topicSubT    = "aws:sns/topicSubscription:TopicSubscription"
	kmsKeyT      = "aws:kms/key:Key"
	healthCheckT = "aws:route53/healthCheck:HealthCheck"
)

// topicArns are the stack's SNS topics' ARNs.
func (g *Graph) topicArns() map[string]*mocks.Resource {
	out := map[string]*mocks.Resource{}
	for _, t := range g.OfType(topicT) {
		if arn, _ := t.Out("arn").(string); arn != "" {
			out[arn] = t
		}
	}
	return out
}

// WS049: every alarm tells someone, when it fires and when it clears.
func checkAlarmActions(g *Graph) []Finding {
	topics := g.topicArns()
	var out []Finding
	for _, a := range g.OfType(alarmT) {
		if b, ok := mocks.Reveal(a.In("actionsEnabled")).(bool); ok && !b {
			out = append(out, flag(a, "actionsEnabled is false: the alarm changes state and tells no one"))
		}
		for _, kind := range []string{"alarmActions", "okActions"} {
			actions := a.Strings(kind)
			if len(actions) == 0 {
				out = append(out, flag(a, "has no %s: nobody is told when it %s", kind, map[string]string{"alarmActions": "fires", "okActions": "clears"}[kind]))
			}
			for _, arn := range actions {
				if topics[arn] == nil {
					out = append(out, flag(a, "%s names %s, which is not an SNS topic of the stack", kind, arn))
				}
			}
		}
	}
	return out
}

// WS050: the alarm topics are encrypted with a key CloudWatch may use.
func checkTopicEncryption(g *Graph) []Finding {
	var out []Finding
	for _, t := range g.OfType(topicT) {
		keyID := t.Str("kmsMasterKeyId")
		if keyID == "" {
			out = append(out, flag(t, "is not encrypted (kmsMasterKeyId is empty)"))
			continue
		}
		key := g.Ref(keyID, kmsKeyT)
		if key == nil {
			out = append(out, flag(t, "is encrypted with %s, not a key of the stack: an AWS managed key (alias/aws/sns) does not let CloudWatch alarms publish", keyID))
			continue
		}
		if !keyAllowsCloudWatch(key.Str("policy")) {
			out = append(out, flag(t, "its key %s does not allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*: the alarms could not publish", key.Name))
		}
	}
	return out
}

func keyAllowsCloudWatch(policy string) bool {
	var doc struct {
		Statement []struct {
			Effect    string
			Principal map[string]any
			Action    any
		}
	}
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return false
	}
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || s.Principal["Service"] != "cloudwatch.amazonaws.com" {
			continue
		}
		actions := strings.Join(anyStrings(s.Action), " ")
		if strings.Contains(actions, "kms:Decrypt") && strings.Contains(actions, "kms:GenerateDataKey") {
			return true
		}
	}
	return false
}

func anyStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// WS051: staging and production are watched: an alarm topic, a health
// check of the site with an alarm on it, and a dashboard.
func checkWatched(g *Graph) []Finding {
	if g.Environment == stacks.Dev {
		return nil
	}
	stack := g.stackResource()
	var out []Finding
	if len(g.OfType(topicT)) == 0 {
		out = append(out, flag(stack, "%s has no alarm topic: nobody is told when the site hurts (webstack:monitoring.enabled)", g.envName()))
	}
	checks := g.OfType(healthCheckT)
	if len(checks) == 0 {
		out = append(out, flag(stack, "%s has no Route 53 health check of the site", g.envName()))
	}
	for _, c := range checks {
		watched := false
		for _, a := range g.OfType(alarmT) {
			if a.Str("namespace") == "AWS/Route53" && a.Str("dimensions.HealthCheckId") == c.ID {
				watched = true
			}
		}
		if !watched {
			out = append(out, flag(c, "no alarm reads this health check: the site could be down and nobody told"))
		}
	}
	if len(g.OfType(dashboardT)) == 0 {
		out = append(out, flag(stack, "%s has no dashboard", g.envName()))
	}
	return out
}

// WS052: in production, every alarm topic has a subscriber.
func checkTopicSubscribers(g *Graph) []Finding {
	if !g.prodRules() {
		return nil
	}
	subscribed := map[string]bool{}
	for _, s := range g.OfType(topicSubT) {
		subscribed[s.Str("topic")] = true
	}
	var out []Finding
	for arn, t := range g.topicArns() {
		if !subscribed[arn] {
			out = append(out, flag(t, "has no subscription: %s's alarms reach nobody (webstack:monitoring.email or httpsEndpoints)", g.envName()))
		}
	}
	return out
}

// stackResource is the resource a finding about the whole stack names:
// the first provider.
func (g *Graph) stackResource() *mocks.Resource {
	if ps := g.OfType(providerAWS); len(ps) > 0 {
		return ps[0]
	}
	return &mocks.Resource{Type: "pulumi:pulumi:Stack", Name: "stack"}
}
