package guardrails

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/foobar/webstack/internal/mocks"
)

// statement is one statement of an IAM or resource policy document.
type statement struct {
	Sid, Effect                                  string
	Actions, NotActions, Resources, NotResources []string
	Principal                                    any
	Condition                                    map[string]any
}

// parsePolicy reads a policy document; anything unreadable has no
// statements.
func parsePolicy(doc string) []statement {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil || len(raw.Statement) == 0 {
		return nil
	}
	var list []map[string]any
	if err := json.Unmarshal(raw.Statement, &list); err != nil {
		var one map[string]any
		if json.Unmarshal(raw.Statement, &one) != nil {
			return nil
		}
		list = []map[string]any{one}
	}
	var out []statement
	for _, m := range list {
		st := statement{Principal: m["Principal"]}
		st.Sid, _ = m["Sid"].(string)
		st.Effect, _ = m["Effect"].(string)
		st.Actions, st.NotActions = stringOrList(m["Action"]), stringOrList(m["NotAction"])
		st.Resources, st.NotResources = stringOrList(m["Resource"]), stringOrList(m["NotResource"])
		st.Condition, _ = m["Condition"].(map[string]any)
		out = append(out, st)
	}
	return out
}

func stringOrList(v any) []string {
	switch c := v.(type) {
	case string:
		return []string{c}
	case []any:
		var out []string
		for _, e := range c {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (s statement) name() string {
	if s.Sid != "" {
		return "statement " + s.Sid
	}
	return "a statement"
}

// globMatch matches an IAM pattern (* and ?) against a value.
func globMatch(pattern, value string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == value
	}
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	ok, _ := regexp.MatchString(re, value)
	return ok
}

// coversAny reports whether the statement's resources cover one of the
// ARNs (with a suffix, such as /* for a bucket's objects).
func (s statement) coversAny(arns []string, suffix string) bool {
	for _, r := range s.Resources {
		for _, a := range arns {
			if globMatch(r, a+suffix) {
				return true
			}
		}
	}
	return false
}

// mayRead reports whether the statement's actions include action (by a
// wildcard too, or through NotAction).
func (s statement) mayRead(action string) bool {
	if len(s.NotActions) > 0 {
		return true
	}
	for _, a := range s.Actions {
		if globMatch(strings.ToLower(a), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// denyInsecureTransport reports whether the statement denies everyone every
// S3 action without TLS.
func (s statement) denyInsecureTransport() bool {
	if s.Effect != "Deny" || !(contains(s.Actions, "s3:*") || contains(s.Actions, "*")) {
		return false
	}
	everyone := s.Principal == "*"
	if m, ok := s.Principal.(map[string]any); ok {
		everyone = contains(stringOrList(m["AWS"]), "*")
	}
	b, _ := s.Condition["Bool"].(map[string]any)
	v := b["aws:SecureTransport"]
	insecure := v == "false" || v == false || contains(stringOrList(v), "false")
	return everyone && insecure
}

// identityPolicyTypes hold IAM identity policies in their "policy" input.
var identityPolicyTypes = []string{rolePolicyT, policyT, userPolicyT, groupPolicyT}

// WS037: IAM policies name their actions and resources.
func checkIAMWildcards(g *Graph) []Finding {
	var out []Finding
	for _, p := range g.OfType(identityPolicyTypes...) {
		for _, st := range parsePolicy(p.Str("policy")) {
			if st.Effect != "Allow" {
				continue
			}
			var problems []string
			for _, a := range st.Actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					problems = append(problems, fmt.Sprintf("action %q", a))
				}
			}
			for _, r := range st.Resources {
				if r == "*" && !onlyUnscopedReads(st.Actions) && !namespacedMetrics(st) {
					problems = append(problems, `resource "*"`)
				}
			}
			if len(st.NotActions) > 0 {
				problems = append(problems, "NotAction (allows everything else)")
			}
			if len(st.NotResources) > 0 {
				problems = append(problems, "NotResource (allows everything else)")
			}
			if len(problems) > 0 {
				out = append(out, flag(p, "%s allows %s: name the actions and the resources", st.name(), strings.Join(problems, ", ")))
			}
		}
	}
	return out
}

// namespacedMetrics reports a statement of cloudwatch:PutMetricData only
// (which takes no resource) narrowed by StringEquals on
// cloudwatch:namespace: the hosts' CloudWatch agents may publish into
// their stack's namespace only.
func namespacedMetrics(st statement) bool {
	eq, _ := st.Condition["StringEquals"].(map[string]any)
	ns, _ := eq["cloudwatch:namespace"].(string)
	return onlyOf(st.Actions, []string{"cloudwatch:PutMetricData"}) && ns != "" && !strings.Contains(ns, "*")
}

// unscopedReads are read-only actions that accept no narrower resource
// than "*" (the Service Authorization Reference lists no resource type for
// them): the hosts' agents discover the tier behind with them.
var unscopedReads = []string{"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"}

// onlyUnscopedReads reports whether the actions are all unscoped reads, or
// all Session Manager's (sessionManagerActions), which AWS documents on
// resource "*".
func onlyUnscopedReads(actions []string) bool {
	return onlyOf(actions, unscopedReads) || onlyOf(actions, sessionManagerActions)
}

func onlyOf(actions, allowed []string) bool {
	for _, a := range actions {
		if !contains(allowed, a) {
			return false
		}
	}
	return len(actions) > 0
}

// databaseSecrets are the ARNs of the Secrets Manager secrets that hold a
// database's master password.
func (g *Graph) databaseSecrets() []string {
	var pws []string
	for _, db := range g.OfType(rdsT) {
		if pw := db.Str("password"); pw != "" {
			pws = append(pws, pw)
		}
	}
	var out []string
	for _, v := range g.OfType(secretVersionT) {
		body := v.Str("secretString")
		for _, pw := range pws {
			if !strings.Contains(body, pw) {
				continue
			}
			arn := v.Str("secretId")
			if s := g.Ref(arn, secretT); s != nil {
				if a := str(s.Out("arn")); a != "" {
					arn = a
				}
			}
			if !contains(out, arn) {
				out = append(out, arn)
			}
		}
	}
	return out
}

// appRoles are the roles of the application servers' instance profiles.
func (g *Graph) appRoles() map[string]bool {
	out := map[string]bool{}
	for _, i := range g.OfType(instanceT, launchTemplateT) {
		if g.Tier(i) != TierApp {
			continue
		}
		if role := g.instanceRole(i.Str("iamInstanceProfile"), i.Str("iamInstanceProfile.arn"), i.Str("iamInstanceProfile.name")); role != nil {
			out[role.URN] = true
		}
	}
	return out
}

// policyHolders returns who an identity policy applies to: roles, and
// whether users or groups have it too.
func (g *Graph) policyHolders(p *mocks.Resource) (roles []*mocks.Resource, others []string) {
	switch p.Type {
	case rolePolicyT:
		if r := g.Ref(p.Str("role"), roleT); r != nil {
			roles = append(roles, r)
		} else {
			others = append(others, "role "+p.Str("role"))
		}
	case userPolicyT:
		others = append(others, "user "+p.Str("user"))
	case groupPolicyT:
		others = append(others, "group "+p.Str("group"))
	case policyT:
		arn := str(p.Out("arn"))
		for _, a := range g.OfType(rolePolicyAttT, policyAttT, userPolicyAttT, groupPolicyAttT) {
			if a.Str("policyArn") != arn || arn == "" {
				continue
			}
			names := a.Strings("roles")
			if s := a.Str("role"); s != "" {
				names = append(names, s)
			}
			for _, n := range names {
				if r := g.Ref(n, roleT); r != nil {
					roles = append(roles, r)
				} else {
					others = append(others, "role "+n)
				}
			}
			for _, u := range append(a.Strings("users"), a.Str("user")) {
				if u != "" {
					others = append(others, "user "+u)
				}
			}
			for _, gr := range append(a.Strings("groups"), a.Str("group")) {
				if gr != "" {
					others = append(others, "group "+gr)
				}
			}
		}
	}
	return roles, others
}

// WS038: only the application servers' role may read the database secret.
func checkDatabaseSecretAccess(g *Graph) []Finding {
	secrets := g.databaseSecrets()
	if len(secrets) == 0 {
		return nil
	}
	app := g.appRoles()
	var out []Finding
	for _, p := range g.OfType(identityPolicyTypes...) {
		names := false
		for _, st := range parsePolicy(p.Str("policy")) {
			if st.Effect == "Allow" && st.mayRead("secretsmanager:GetSecretValue") && (st.coversAny(secrets, "") || len(st.NotResources) > 0) {
				names = true
			}
		}
		if !names {
			continue
		}
		roles, others := g.policyHolders(p)
		for _, r := range roles {
			if !app[r.URN] {
				others = append(others, "role "+r.Name)
			}
		}
		if len(others) > 0 {
			out = append(out, flag(p, "lets %s read the database secret: only the application servers' role may", strings.Join(others, ", ")))
		}
	}
	appARNs := map[string]bool{}
	for urn := range app {
		if a := str(g.ByURN(urn).Out("arn")); a != "" {
			appARNs[a] = true
		}
	}
	for _, sp := range g.OfType(secretPolicyT) {
		target := sp.Str("secretArn")
		if s := g.Ref(target, secretT); s != nil && str(s.Out("arn")) != "" {
			target = str(s.Out("arn"))
		}
		if !contains(secrets, target) {
			continue
		}
		for _, st := range parsePolicy(sp.Str("policy")) {
			if st.Effect != "Allow" {
				continue
			}
			var principals []string
			if m, ok := st.Principal.(map[string]any); ok {
				principals = stringOrList(m["AWS"])
			} else {
				principals = stringOrList(st.Principal)
			}
			for _, pr := range principals {
				if !appARNs[pr] {
					out = append(out, flag(sp, "%s of the database secret's resource policy allows %s: only the application servers' role may read it", st.name(), pr))
				}
			}
		}
	}
	return out
}
