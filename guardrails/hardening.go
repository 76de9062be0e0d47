package guardrails

import (
	"strings"

	"github.com/foobar/webstack/components/host"
)

// Hosts' Session Manager statement: AWS's documented minimum names "*"
// (ssmmessages has no resource types; the instance policy AWS documents
// for ssm:UpdateInstanceInformation names "*" too). WS037 accepts it.
var sessionManagerActions = host.SessionManagerActions

// parameterReads are the SSM actions that read parameters' values.
var parameterReads = []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"}

// WS044: no role attaches AmazonSSMManagedInstanceCore, and no identity
// policy lets its holder read every SSM parameter.
func checkNoAccountWideParameterReads(g *Graph) []Finding {
	var out []Finding
	for _, a := range g.OfType(rolePolicyAttT, policyAttT) {
		if strings.HasSuffix(a.Str("policyArn"), ":iam::aws:policy/AmazonSSMManagedInstanceCore") {
			out = append(out, flag(a, "attaches AmazonSSMManagedInstanceCore, which lets the hosts read every SSM parameter of the account (ssm:GetParameter(s) on *): "+
				"grant Session Manager's actions only (host.SessionManagerActions)"))
		}
	}
	for _, p := range g.OfType(identityPolicyTypes...) {
		for _, st := range parsePolicy(p.Str("policy")) {
			if st.Effect != "Allow" {
				continue
			}
			reads := false
			for _, a := range parameterReads {
				reads = reads || st.mayRead(a)
			}
			if !reads {
				continue
			}
			for _, r := range st.Resources {
				if r == "*" || strings.HasSuffix(r, ":parameter/*") || strings.HasSuffix(r, ":*") {
					out = append(out, flag(p, "%s lets its holder read every SSM parameter (%s): name the parameters", st.name(), r))
				}
			}
			if len(st.NotResources) > 0 {
				out = append(out, flag(p, "%s lets its holder read SSM parameters through NotResource: name the parameters", st.name()))
			}
		}
	}
	return out
}

// WS045: the S3 gateway endpoint has a policy naming the buckets it lets
// through.
func checkS3EndpointPolicy(g *Graph) []Finding {
	var out []Finding
	for _, ep := range g.OfType(vpcEndpointT) {
		if ep.Str("vpcEndpointType") != "Gateway" || !strings.HasSuffix(ep.Str("serviceName"), ".s3") {
			continue
		}
		doc := ep.Str("policy")
		statements := parsePolicy(doc)
		if len(statements) == 0 {
			out = append(out, flag(ep, "the S3 gateway endpoint has no policy: hosts could copy data to any bucket in the world through it; allow the package repositories and the stack's bucket only"))
			continue
		}
		for _, st := range statements {
			if st.Effect != "Allow" {
				continue
			}
			if len(st.NotResources) > 0 || len(st.NotActions) > 0 {
				out = append(out, flag(ep, "%s of the S3 endpoint's policy uses NotResource or NotAction: name the buckets and actions", st.name()))
			}
			for _, r := range st.Resources {
				// arn:<partition>:s3:::<bucket>[/<key>]
				bucket, _, _ := strings.Cut(r[strings.LastIndex(r, ":")+1:], "/")
				if bucket == "" || strings.ContainsAny(bucket, "*?") {
					out = append(out, flag(ep, "%s of the S3 endpoint's policy allows %q, any bucket: name the buckets", st.name(), r))
				}
			}
		}
	}
	return out
}

// WS046: a role VPC Flow Logs may assume is bound to this account's flow
// logs.
func checkFlowLogTrust(g *Graph) []Finding {
	var out []Finding
	for _, role := range g.OfType(roleT) {
		for _, st := range parsePolicy(role.Str("assumeRolePolicy")) {
			if st.Effect != "Allow" || !trusts(st, "vpc-flow-logs.amazonaws.com") {
				continue
			}
			if !hasCondition(st, "aws:SourceAccount") || !hasCondition(st, "aws:SourceArn") {
				out = append(out, flag(role, "%s lets VPC Flow Logs assume the role without aws:SourceAccount and aws:SourceArn conditions: "+
					"another account's flow log could use it (the confused deputy)", st.name()))
			}
		}
	}
	return out
}

// trusts reports whether a trust statement names a service principal.
func trusts(st statement, service string) bool {
	m, ok := st.Principal.(map[string]any)
	return ok && contains(stringOrList(m["Service"]), service)
}

// hasCondition reports whether a statement conditions on a key (with any
// operator).
func hasCondition(st statement, key string) bool {
	for _, c := range st.Condition {
		if m, ok := c.(map[string]any); ok {
			for k, v := range m {
				if strings.EqualFold(k, key) && len(stringOrList(v)) > 0 {
					return true
				}
			}
		}
	}
	return false
}

// WS047: every secret has a resource policy that denies its value to all
// principals but those it names.
func checkSecretPolicies(g *Graph) []Finding {
	restricted := map[string]bool{} // secret URNs
	for _, sp := range g.OfType(secretPolicyT) {
		s := g.Ref(sp.Str("secretArn"), secretT)
		if s == nil {
			continue
		}
		for _, st := range parsePolicy(sp.Str("policy")) {
			if st.Effect == "Deny" && st.mayRead("secretsmanager:GetSecretValue") && everyone(st) && hasCondition(st, "aws:PrincipalArn") {
				restricted[s.URN] = true
			}
		}
	}
	var out []Finding
	for _, s := range g.OfType(secretT) {
		if !restricted[s.URN] {
			out = append(out, flag(s, "no resource policy denies GetSecretValue to the principals that need not read it: any role of the account "+
				"whose IAM policy allows secretsmanager:GetSecretValue on * could read it"))
		}
	}
	return out
}

// everyone reports whether a statement applies to every principal.
func everyone(st statement) bool {
	if st.Principal == "*" {
		return true
	}
	m, ok := st.Principal.(map[string]any)
	return ok && contains(stringOrList(m["AWS"]), "*")
}
