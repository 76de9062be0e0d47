package guardrails_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/foobar/webstack/guardrails"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
)

var stackNames = []string{"dev", "staging", "prod"}

// stackOptions reads a stack file from the repository, as the infra tests
// do, with JSON patches merged into structured keys (or raw values set).
func stackOptions(t testing.TB, stack string, patches map[string]string) mocks.Options {
	t.Helper()
	opts, err := mocks.StackOptions("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	for key, patch := range patches {
		base := map[string]any{}
		if cur, ok := opts.Config[key]; ok && strings.HasPrefix(cur, "{") {
			if err := json.Unmarshal([]byte(cur), &base); err != nil {
				t.Fatal(err)
			}
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(patch), &p); err != nil {
			opts.Config[key] = patch // a plain value
			continue
		}
		for k, v := range p {
			base[k] = v
		}
		b, _ := json.Marshal(base)
		opts.Config[key] = string(b)
	}
	return opts
}

func run(t testing.TB, stack string, patches map[string]string) []*mocks.Resource {
	t.Helper()
	rec, err := mocks.Run(infra.Program, stackOptions(t, stack, patches))
	if err != nil {
		t.Fatalf("stack %s %v: %v", stack, patches, err)
	}
	return rec.Resources()
}

// The stacks' runs, shared by the tests (each test copies what it changes).
var (
	runsMu sync.Mutex
	runs   = map[string][]*mocks.Resource{}
)

func stackRun(t testing.TB, stack string) []*mocks.Resource {
	t.Helper()
	runsMu.Lock()
	defer runsMu.Unlock()
	if runs[stack] == nil {
		runs[stack] = run(t, stack, nil)
	}
	return runs[stack]
}

func describe(fs []guardrails.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

// (a) Every stack of the repository passes every guardrail.
func TestStacksHaveNoFindings(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			g := guardrails.NewGraph(stackRun(t, stack), "")
			if g.Environment != stacks.Environment(stack) {
				t.Errorf("environment from the provider's tags = %q, want %q", g.Environment, stack)
			}
			if fs := guardrails.Evaluate(g); len(fs) > 0 {
				t.Errorf("%d findings:%s", len(fs), describe(fs))
			}
		})
	}
}

// Valid settings other than the stack files' must not trip a rule either:
// other ports, MySQL, TLS on the load balancers, a DNS record, no NAT.
func TestOtherValidSettingsHaveNoFindings(t *testing.T) {
	for name, tc := range map[string]struct {
		stack   string
		patches map[string]string
	}{
		"ports": {"prod", map[string]string{"webstack:web": `{"port": 8081}`, "webstack:app": `{"port": 9000}`, "webstack:database": `{"port": 6543}`}},
		"mysql": {"staging", map[string]string{"webstack:database": `{"engine": "mysql", "engineVersion": "8.0"}`}},
		"tls-and-dns": {"prod", map[string]string{
			"webstack:loadBalancer": `{"certificateSecret": "www-foobar-com-pem"}`,
			"webstack:dns":          `{"hostedZoneId": "Z0123456789ABCDEFGHIJ"}`,
		}},
		"no-nat-restricted-clients": {"prod", map[string]string{
			"webstack:network":      `{"natGateways": "none"}`,
			"webstack:loadBalancer": `{"allowedCidrs": ["198.51.100.0/24"], "allowedIpv6Cidrs": []}`,
		}},
		"user-tags": {"dev", map[string]string{"webstack:tags": `{"CostCenter": "web-42"}`}},
	} {
		t.Run(name, func(t *testing.T) {
			g := guardrails.NewGraph(run(t, tc.stack, tc.patches), "")
			if fs := guardrails.Evaluate(g); len(fs) > 0 {
				t.Errorf("%d findings:%s", len(fs), describe(fs))
			}
		})
	}
}

// Rules are well formed: unique IDs in order, a severity, a title and a
// description.
func TestRulesAreWellFormed(t *testing.T) {
	rules := guardrails.Rules()
	if len(rules) < 20 {
		t.Errorf("%d rules, want at least 20", len(rules))
	}
	idRe := regexp.MustCompile(`^WS\d{3}$`)
	for i, r := range rules {
		if !idRe.MatchString(r.ID) || (i > 0 && r.ID <= rules[i-1].ID) {
			t.Errorf("rule %d: ID %q is not WSnnn in increasing order", i, r.ID)
		}
		if !slices.Contains([]guardrails.Severity{guardrails.Critical, guardrails.High, guardrails.Medium, guardrails.Low}, r.Severity) {
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
		if r.Title == "" || len(r.Description) < 40 || r.Check == nil {
			t.Errorf("%s: title %q, description %q, check %v", r.ID, r.Title, r.Description, r.Check != nil)
		}
		if !strings.Contains(r.Description, "Mirrors") && !strings.Contains(r.Description, "than") && !strings.Contains(r.Description, "webstack's own") {
			t.Errorf("%s: the description names no public control and does not say the rule is webstack's own", r.ID)
		}
	}
}

// ---- (b) every rule fires on a broken input ----

// world is a copy of a stack's resources that a test may break.
type world struct {
	t  *testing.T
	rs []*mocks.Resource
}

func newWorld(t *testing.T, stack string) *world {
	w := &world{t: t}
	for _, r := range stackRun(t, stack) {
		w.rs = append(w.rs, copyResource(r))
	}
	return w
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(c))
		for i, e := range c {
			l[i] = deepCopy(e)
		}
		return l
	case mocks.Secret:
		return mocks.Secret{Value: deepCopy(c.Value)}
	}
	return v
}

func copyResource(r *mocks.Resource) *mocks.Resource {
	c := *r
	c.Inputs, _ = deepCopy(r.Inputs).(map[string]any)
	c.Outputs, _ = deepCopy(r.Outputs).(map[string]any)
	c.IgnoreChanges = slices.Clone(r.IgnoreChanges)
	return &c
}

// get returns the resource of a type and name.
func (w *world) get(typ, name string) *mocks.Resource {
	w.t.Helper()
	for _, r := range w.rs {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	w.t.Fatalf("no %s %s", typ, name)
	return nil
}

// remove drops a resource.
func (w *world) remove(typ, name string) {
	w.t.Helper()
	r := w.get(typ, name)
	w.rs = slices.DeleteFunc(w.rs, func(x *mocks.Resource) bool { return x == r })
}

// clone copies a resource under a new name, with its own URN, id, ARN and
// provider name, and adds it.
func (w *world) clone(typ, name, newName string) *mocks.Resource {
	w.t.Helper()
	src := w.get(typ, name)
	c := copyResource(src)
	c.Name = newName
	c.URN = strings.TrimSuffix(src.URN, "::"+name) + "::" + newName
	c.ID = src.ID + "copy"
	for k, v := range c.Outputs {
		if s, ok := v.(string); ok && (s == src.ID || k == "arn" || k == "name") {
			c.Outputs[k] = s + "copy"
		}
	}
	if tags, ok := c.Inputs["tags"].(map[string]any); ok {
		tags["Name"] = "webstack-test-" + newName
	}
	w.rs = append(w.rs, c)
	// The program would have registered the copy: a destroy guard depends
	// on it as on every resource.
	for _, g := range w.rs {
		if g.Type == "webstack:index:DestroyGuard" && c.Custom {
			g.Dependencies = append(g.Dependencies, c.URN)
		}
	}
	return c
}

// set sets (or, with nil, deletes) an input at a dotted path.
func set(r *mocks.Resource, path string, v any) {
	parts := strings.Split(path, ".")
	var cur any = r.Inputs
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if v == nil {
					delete(c, p)
				} else {
					c[p] = v
				}
				return
			}
			if _, ok := c[p]; !ok {
				c[p] = map[string]any{}
			}
			cur = mocks.Reveal(c[p])
		case []any:
			n, _ := strconv.Atoi(p)
			if last {
				c[n] = v
				return
			}
			cur = mocks.Reveal(c[n])
		}
	}
}

// decoded is base64 user data, decoded.
func decoded(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}

func (w *world) password(name string) string {
	w.t.Helper()
	return mocks.Reveal(w.get("random:index/randomPassword:RandomPassword", name).Outputs["result"]).(string)
}

// Types the cases break.
const (
	ingressT  = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressT   = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	sgT       = "aws:ec2/securityGroup:SecurityGroup"
	defaultSG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	instanceT = "aws:ec2/instance:Instance"
	subnetT   = "aws:ec2/subnet:Subnet"
	eipT      = "aws:ec2/eip:Eip"
	vpcT      = "aws:ec2/vpc:Vpc"
	flowLogT  = "aws:ec2/flowLog:FlowLog"
	logGroupT = "aws:cloudwatch/logGroup:LogGroup"
	alarmT    = "aws:cloudwatch/metricAlarm:MetricAlarm"
	topicT    = "aws:sns/topic:Topic"
	subT      = "aws:sns/topicSubscription:TopicSubscription"
	kmsKeyT   = "aws:kms/key:Key"
	checkT    = "aws:route53/healthCheck:HealthCheck"
	rdsT      = "aws:rds/instance:Instance"
	paramT    = "aws:rds/parameterGroup:ParameterGroup"
	objectT   = "aws:s3/bucketObjectv2:BucketObjectv2"
	bucketT   = "aws:s3/bucketV2:BucketV2"
	pabT      = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	sseT      = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	versionT  = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	bpolicyT  = "aws:s3/bucketPolicy:BucketPolicy"
	rolePolT  = "aws:iam/rolePolicy:RolePolicy"
	secretT   = "aws:secretsmanager/secret:Secret"
	// Types the trust-boundary rules (WS044-WS047) break.
	secretPolicyT = "aws:secretsmanager/secretPolicy:SecretPolicy"
	endpointT     = "aws:ec2/vpcEndpoint:VpcEndpoint"
	roleT         = "aws:iam/role:Role"
	providerT     = "pulumi:providers:aws"
	passwordT     = "random:index/randomPassword:RandomPassword"
	ltT           = "aws:ec2/launchTemplate:LaunchTemplate"
	asgT          = "aws:autoscaling/group:Group"
	webTierT      = "webstack:webtier:Tier"
	lbT           = "webstack:loadbalancer:Cluster"
)

// breakCase breaks one thing and names the resource the rule must flag.
type breakCase struct {
	rule, name string
	stack      string
	env        stacks.Environment // evaluate as this environment ("": the provider's tag)
	patches    map[string]string  // run the program with these settings instead of mutating
	mutate     func(w *world) (typ, name string)
}

func breakCases() []breakCase {
	return []breakCase{
		{rule: "WS001", name: "web open to the internet", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "firewall-web-in-tcp80-from-lb", "firewall-web-in-tcp80-from-internet")
			set(r, "referencedSecurityGroupId", nil)
			set(r, "cidrIpv4", "0.0.0.0/0")
			return ingressT, r.Name
		}},
		{rule: "WS001", name: "load balancers open to the internet on 8080", stack: "dev", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "firewall-lb-in-tcp80-from-internet-ipv4", "firewall-lb-in-tcp8080-from-internet-ipv4")
			set(r, "fromPort", 8080.0)
			set(r, "toPort", 8080.0)
			return ingressT, r.Name
		}},
		{rule: "WS002", name: "SSH from inside the VPC", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "network-endpoints-in-tcp443-from-10.0.0.0_16", "network-endpoints-in-tcp22-from-vpc")
			set(r, "fromPort", 20.0)
			set(r, "toPort", 25.0)
			return ingressT, r.Name
		}},
		{rule: "WS002", name: "RDP from the VPC", stack: "staging", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "network-endpoints-in-tcp443-from-10.0.0.0_16", "network-endpoints-in-tcp3389-from-vpc")
			set(r, "fromPort", 3389.0)
			set(r, "toPort", 3389.0)
			return ingressT, r.Name
		}},
		{rule: "WS003", name: "app reachable from the load balancers", stack: "prod", mutate: func(w *world) (string, string) {
			lb := w.get(sgT, "firewall-lb").ID
			r := w.clone(ingressT, "firewall-app-in-tcp8080-from-web", "firewall-app-in-tcp8080-from-lb")
			set(r, "referencedSecurityGroupId", lb)
			return ingressT, r.Name
		}},
		{rule: "WS003", name: "web reachable on another port than HAProxy's backends", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "firewall-web-in-tcp80-from-lb", "firewall-web-in-tcp8080-from-lb")
			set(r, "fromPort", 8080.0)
			set(r, "toPort", 8080.0)
			return ingressT, r.Name
		}},
		{rule: "WS003", name: "app reachable on another port than nginx's upstream", stack: "staging", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "firewall-app-in-tcp8080-from-web", "firewall-app-in-tcp9000-from-web")
			set(r, "fromPort", 9000.0)
			set(r, "toPort", 9000.0)
			return ingressT, r.Name
		}},
		{rule: "WS003", name: "database reachable on a port range", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ingressT, "firewall-database-in-tcp5432-from-app"), "toPort", 5433.0)
			return ingressT, "firewall-database-in-tcp5432-from-app"
		}},
		{rule: "WS003", name: "database reachable from the VPC's addresses", stack: "dev", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "firewall-database-in-tcp5432-from-app", "firewall-database-in-tcp5432-from-vpc")
			set(r, "referencedSecurityGroupId", nil)
			set(r, "cidrIpv4", "10.0.0.0/16")
			return ingressT, r.Name
		}},
		{rule: "WS004", name: "all protocols out to the VPC", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(egressT, "firewall-web-out-tcp443-to-internet-ipv4", "firewall-web-out-all-to-vpc")
			set(r, "ipProtocol", "-1")
			set(r, "fromPort", nil)
			set(r, "toPort", nil)
			set(r, "cidrIpv4", "10.0.0.0/16")
			return egressT, r.Name
		}},
		{rule: "WS005", name: "application servers in the web servers' group too", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "app"), "networkInterfaces.0.securityGroups", []any{w.get(sgT, "firewall-app").ID, w.get(sgT, "firewall-web").ID})
			return sgT, "firewall-web"
		}},
		{rule: "WS005", name: "web servers in the default group", stack: "dev", mutate: func(w *world) (string, string) {
			web := w.get(ltT, "web")
			def := mocks.Reveal(w.get(vpcT, "network-vpc").Outputs["defaultSecurityGroupId"]).(string)
			set(web, "networkInterfaces.0.securityGroups", []any{web.Strings("networkInterfaces.0.securityGroups")[0], def})
			return ltT, "web"
		}},
		{rule: "WS006", name: "plain HTTP out to the internet", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(egressT, "firewall-app-out-tcp443-to-internet-ipv4", "firewall-app-out-tcp80-to-internet-ipv4")
			set(r, "fromPort", 80.0)
			set(r, "toPort", 80.0)
			return egressT, r.Name
		}},
		{rule: "WS006", name: "egress from the database", stack: "staging", mutate: func(w *world) (string, string) {
			r := w.clone(egressT, "firewall-app-out-tcp5432-to-database", "firewall-database-out-tcp8080-to-app")
			set(r, "securityGroupId", w.get(sgT, "firewall-database").ID)
			set(r, "referencedSecurityGroupId", w.get(sgT, "firewall-app").ID)
			return egressT, r.Name
		}},
		{rule: "WS007", name: "a rule without description", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ingressT, "firewall-lb-in-vrrp-from-lb"), "description", "")
			return ingressT, "firewall-lb-in-vrrp-from-lb"
		}},
		{rule: "WS007", name: "a group with the provider's default description", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(sgT, "firewall-web"), "description", "Managed by Pulumi")
			return sgT, "firewall-web"
		}},
		{rule: "WS008", name: "the default group with a rule", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(defaultSG, "network-default-sg"), "ingress", []any{map[string]any{
				"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": []any{"10.0.0.0/16"}, "description": "HTTPS from the VPC",
			}})
			return defaultSG, "network-default-sg"
		}},
		{rule: "WS008", name: "the default group not adopted", stack: "dev", mutate: func(w *world) (string, string) {
			w.remove(defaultSG, "network-default-sg")
			return vpcT, "network-vpc"
		}},
		{rule: "WS009", name: "IMDSv1 allowed", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "web"), "metadataOptions.httpTokens", "optional")
			return ltT, "web"
		}},
		{rule: "WS009", name: "two hops", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "lb"), "metadataOptions.httpPutResponseHopLimit", 2.0)
			return ltT, "lb"
		}},
		{rule: "WS010", name: "unencrypted root volume", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "app"), "blockDeviceMappings.0.ebs.encrypted", "false")
			return ltT, "app"
		}},
		{rule: "WS011", name: "web servers with a public IP", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "web"), "networkInterfaces.0.associatePublicIpAddress", "true")
			return ltT, "web"
		}},
		{rule: "WS012", name: "a public subnet mapping public IPs", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(subnetT, "network-public-us-east-1a"), "mapPublicIpOnLaunch", true)
			return subnetT, "network-public-us-east-1a"
		}},
		{rule: "WS013", name: "an Elastic IP outside the load balancers", stack: "prod", mutate: func(w *world) (string, string) {
			r := w.clone(eipT, "lb-eip", "web-eip")
			r.Parent = w.get(webTierT, "web").URN
			return eipT, "web-eip"
		}},
		{rule: "WS013", name: "a second Elastic IP on the load balancers", stack: "staging", mutate: func(w *world) (string, string) {
			w.clone(eipT, "lb-eip", "lb-eip2")
			return eipT, "lb-eip2"
		}},
		{rule: "WS014", name: "Pulumi moves the address back", stack: "prod", mutate: func(w *world) (string, string) {
			w.get(eipT, "lb-eip").IgnoreChanges = nil
			return eipT, "lb-eip"
		}},
		{rule: "WS014", name: "Pulumi attaches the address to a node", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(eipT, "lb-eip"), "networkInterface", "eni-0123456789abcdef0")
			return eipT, "lb-eip"
		}},
		{rule: "WS015", name: "no detailed monitoring", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "app"), "monitoring.enabled", false)
			return ltT, "app"
		}},
		{rule: "WS015", name: "a key pair", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "web"), "keyName", "deployer")
			return ltT, "web"
		}},
		{rule: "WS016", name: "an access key in user data", stack: "prod", mutate: func(w *world) (string, string) {
			web := w.get(ltT, "web")
			set(web, "userData", base64.StdEncoding.EncodeToString([]byte(decoded(web.Str("userData"))+"# AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n")))
			return ltT, "web"
		}},
		{rule: "WS016", name: "a password in a bundle", stack: "prod", mutate: func(w *world) (string, string) {
			b := w.get(objectT, "web-bundle")
			set(b, "content", b.Str("content")+"echo 'db_password=hunter2hunter2' >/etc/app.conf\n")
			return objectT, "web-bundle"
		}},
		{rule: "WS016", name: "the generated database password in (secret) user data", stack: "dev", mutate: func(w *world) (string, string) {
			app := w.get(ltT, "app")
			set(app, "userData", mocks.Secret{Value: base64.StdEncoding.EncodeToString([]byte(decoded(app.Str("userData")) + "# " + w.password("database-password") + "\n"))})
			return ltT, "app"
		}},
		{rule: "WS017", name: "a password in a tag", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(sgT, "firewall-web"), "tags.Note", w.password("lb-stats-password"))
			return sgT, "firewall-web"
		}},
		{rule: "WS017", name: "a password result that is not secret", stack: "staging", mutate: func(w *world) (string, string) {
			p := w.get(passwordT, "lb-vrrp-password")
			p.Outputs["result"] = mocks.Reveal(p.Outputs["result"])
			return passwordT, "lb-vrrp-password"
		}},
		{rule: "WS018", name: "web servers in one zone", stack: "prod", mutate: func(w *world) (string, string) {
			asg := w.get(asgT, "web")
			set(asg, "vpcZoneIdentifiers", asg.In("vpcZoneIdentifiers").([]any)[:1])
			return asgT, "web"
		}},
		{rule: "WS018", name: "one load balancer", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(asgT, "lb"), "minSize", 1.0)
			return asgT, "lb"
		}},
		{rule: "WS018", name: "a standalone web server", stack: "dev", mutate: func(w *world) (string, string) {
			lt := w.get(ltT, "web")
			r := w.clone(ltT, "web", "web1")
			r.Type, r.URN = instanceT, strings.Replace(r.URN, ltT, instanceT, 1)
			tags := lt.In("tagSpecifications.1.tags")
			r.Inputs = map[string]any{
				"ami": lt.Str("imageId"), "instanceType": lt.Str("instanceType"), "subnetId": w.get(subnetT, "network-private-us-east-1a").ID,
				"vpcSecurityGroupIds": []any{w.get(sgT, "firewall-web").ID}, "associatePublicIpAddress": false,
				"iamInstanceProfile": lt.Str("iamInstanceProfile.arn"), "monitoring": true, "metadataOptions": lt.In("metadataOptions"),
				"rootBlockDevice": map[string]any{"encrypted": true, "volumeType": "gp3", "tags": tags}, "tags": map[string]any{"Name": "webstack-dev-web1"},
			}
			return instanceT, "web1"
		}},
		{rule: "WS019", name: "no flow logs", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove(flowLogT, "network-flow-logs")
			return vpcT, "network-vpc"
		}},
		{rule: "WS019", name: "rejected traffic only", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(flowLogT, "network-flow-logs"), "trafficType", "REJECT")
			return vpcT, "network-vpc"
		}},
		{rule: "WS020", name: "flow logs kept forever", stack: "prod", mutate: func(w *world) (string, string) {
			// Not through webstack:network.flowLogRetentionDays = 0: the
			// network component turns 0 into its default, 90.
			set(w.get(logGroupT, "network-flow-logs"), "retentionInDays", 0.0)
			return logGroupT, "network-flow-logs"
		}},
		{rule: "WS021", name: "unencrypted database", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "storageEncrypted", false)
			return rdsT, "database"
		}},
		{rule: "WS022", name: "public database", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "publiclyAccessible", true)
			return rdsT, "database"
		}},
		{rule: "WS023", name: "TLS not forced", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(paramT, "database"), "parameters.0.value", "0")
			return rdsT, "database"
		}},
		{rule: "WS023", name: "AWS's default parameter group", stack: "staging", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "parameterGroupName", "default.postgres16")
			return rdsT, "database"
		}},
		{rule: "WS023", name: "TLS waits for a reboot", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(paramT, "database"), "parameters.0.applyMethod", "pending-reboot")
			return rdsT, "database"
		}},
		{rule: "WS048", name: "RDS creates the log group of an export", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove(logGroupT, "database-postgresql")
			return rdsT, "database"
		}},
		{rule: "WS048", name: "the instance may come before its log group", stack: "staging", mutate: func(w *world) (string, string) {
			w.get(rdsT, "database").Dependencies = nil
			return rdsT, "database"
		}},
		{rule: "WS049", name: "an alarm without OK actions", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(alarmT, "monitoring-database-cpu"), "okActions", []any{})
			return alarmT, "monitoring-database-cpu"
		}},
		{rule: "WS049", name: "an alarm notifies a topic of another stack", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(alarmT, "monitoring-lb-5xx-rate"), "alarmActions", []any{"arn:aws:sns:us-east-1:123456789012:elsewhere"})
			return alarmT, "monitoring-lb-5xx-rate"
		}},
		{rule: "WS049", name: "an alarm with its actions disabled", stack: "staging", mutate: func(w *world) (string, string) {
			set(w.get(alarmT, "monitoring-site-down"), "actionsEnabled", false)
			return alarmT, "monitoring-site-down"
		}},
		{rule: "WS050", name: "the topic under AWS's managed key", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(topicT, "monitoring-alarms"), "kmsMasterKeyId", "alias/aws/sns")
			return topicT, "monitoring-alarms"
		}},
		{rule: "WS050", name: "a key CloudWatch may not use", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(kmsKeyT, "monitoring-alarms"), "policy", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}`)
			return topicT, "monitoring-alarms"
		}},
		{rule: "WS051", name: "the site's health check has no alarm", stack: "staging", mutate: func(w *world) (string, string) {
			w.remove(alarmT, "monitoring-site-down")
			return checkT, "monitoring-site"
		}},
		{rule: "WS052", name: "prod's topic without subscribers", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove(subT, "monitoring-alarms-email-0")
			return topicT, "monitoring-alarms"
		}},
		{rule: "WS024", name: "staging keeps 3 days of backups", stack: "staging", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "backupRetentionPeriod", 3.0)
			return rdsT, "database"
		}},
		{rule: "WS024", name: "no backups in dev (a valid setting)", stack: "dev",
			patches: map[string]string{"webstack:database": `{"backupRetentionDays": 0}`},
			mutate:  func(w *world) (string, string) { return rdsT, "database" }},
		{rule: "WS024", name: "prod keeps 7 days", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "backupRetentionPeriod", 7.0)
			return rdsT, "database"
		}},
		{rule: "WS025", name: "prod without deletion protection", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "deletionProtection", false)
			return rdsT, "database"
		}},
		{rule: "WS025", name: "prod without Pulumi's protect", stack: "prod", mutate: func(w *world) (string, string) {
			w.get(rdsT, "database").Protect = false
			return rdsT, "database"
		}},
		{rule: "WS026", name: "prod without a final snapshot", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "skipFinalSnapshot", true)
			return rdsT, "database"
		}},
		{rule: "WS027", name: "prod single-AZ", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "multiAz", false)
			return rdsT, "database"
		}},
		{rule: "WS027", name: "staging's single-AZ database judged as an unknown environment", stack: "staging", env: "qa",
			// staging's database has everything production needs but Multi-AZ
			// and protection: make it protected, and only Multi-AZ remains.
			patches: map[string]string{
				"webstack:database":   `{"instanceClass":"db.t4g.small","multiAz":false,"backupRetentionDays":14,"deletionProtection":true,"protect":true}`,
				"webstack:monitoring": `{"email":["oncall@foobar.com"]}`, // production's rules want a subscriber (WS052)
			},
			mutate: func(w *world) (string, string) { return rdsT, "database" }},
		{rule: "WS028", name: "no automatic minor upgrades", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "autoMinorVersionUpgrade", false)
			return rdsT, "database"
		}},
		{rule: "WS029", name: "only the upgrade log", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rdsT, "database"), "enabledCloudwatchLogsExports", []any{"upgrade"})
			return rdsT, "database"
		}},
		{rule: "WS030", name: "a resource on the default provider", stack: "prod", mutate: func(w *world) (string, string) {
			w.get(ltT, "web").Provider = ""
			return ltT, "web"
		}},
		{rule: "WS030", name: "a provider without ManagedBy", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(providerT, "aws"), "defaultTags.tags.ManagedBy", nil)
			return providerT, "aws"
		}},
		{rule: "WS030", name: "untagged root volumes", stack: "staging", mutate: func(w *world) (string, string) {
			set(w.get(ltT, "app"), "tagSpecifications.1.tags.Project", nil)
			return ltT, "app"
		}},
		{rule: "WS030", name: "a group without the common tags", stack: "prod", mutate: func(w *world) (string, string) {
			asg := w.get(asgT, "web")
			set(asg, "tags", asg.In("tags").([]any)[:1])
			return asgT, "web"
		}},
		{rule: "WS031", name: "no Name tag", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(sgT, "firewall-web"), "tags", nil)
			return sgT, "firewall-web"
		}},
		{rule: "WS031", name: "a type the guardrails do not know", stack: "dev", mutate: func(w *world) (string, string) {
			r := w.clone(rolePolT, "web-role", "web-parameter")
			r.Type = "aws:ssm/parameter:Parameter"
			r.Inputs = map[string]any{"name": "/webstack/test", "type": "String", "value": "x"}
			return r.Type, r.Name
		}},
		{rule: "WS032", name: "stats page on every address", stack: "prod", mutate: func(w *world) (string, string) {
			b := w.get(objectT, "lb-bundle")
			set(b, "content", strings.Replace(b.Str("content"), "bind 127.0.0.1:8404", "bind :8404", 1))
			return objectT, "lb-bundle"
		}},
		{rule: "WS032", name: "the stats port open in a security group", stack: "staging", mutate: func(w *world) (string, string) {
			r := w.clone(ingressT, "network-endpoints-in-tcp443-from-10.0.0.0_16", "network-endpoints-in-tcp8404-from-vpc")
			set(r, "fromPort", 8000.0)
			set(r, "toPort", 8500.0)
			return ingressT, r.Name
		}},
		{rule: "WS033", name: "public buckets not restricted", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(pabT, "store"), "restrictPublicBuckets", false)
			return pabT, "store"
		}},
		{rule: "WS033", name: "no public access block", stack: "dev", mutate: func(w *world) (string, string) {
			w.remove(pabT, "store")
			return bucketT, "store"
		}},
		{rule: "WS034", name: "no bucket encryption", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove(sseT, "store")
			return bucketT, "store"
		}},
		{rule: "WS035", name: "versioning suspended", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(versionT, "store"), "versioningConfiguration.status", "Suspended")
			return bucketT, "store"
		}},
		{rule: "WS036", name: "no TLS-only policy", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove(bpolicyT, "store")
			return bucketT, "store"
		}},
		{rule: "WS036", name: "the policy covers the bucket but not its objects", stack: "dev", mutate: func(w *world) (string, string) {
			p := w.get(bpolicyT, "store")
			set(p, "policy", regexp.MustCompile(`,"arn:aws:s3:::[^"]*/\*"`).ReplaceAllString(p.Str("policy"), ""))
			return bucketT, "store"
		}},
		{rule: "WS037", name: "s3:* on the bucket", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rolePolT, "web-role"), "policy", `{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::webstack-prod-123456789012-us-east-1/*"]}]}`)
			return rolePolT, "web-role"
		}},
		{rule: "WS037", name: "every action", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(rolePolT, "network-flow-logs"), "policy", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:x"}}`)
			return rolePolT, "network-flow-logs"
		}},
		{rule: "WS038", name: "the load balancers' role names the database secret", stack: "prod", mutate: func(w *world) (string, string) {
			db := mocks.Reveal(w.get(secretT, "database-credentials").Outputs["arn"]).(string)
			p := w.get(rolePolT, "lb-tier")
			set(p, "policy", strings.Replace(p.Str("policy"), `"Resource":["arn:aws:secretsmanager`, `"Resource":["`+db+`","arn:aws:secretsmanager`, 1))
			return rolePolT, "lb-tier"
		}},
		{rule: "WS038", name: "a resource policy on the database secret", stack: "dev", mutate: func(w *world) (string, string) {
			secret := w.get(secretT, "database-credentials")
			r := w.clone(rolePolT, "app-role", "database-credentials-policy")
			r.Type = "aws:secretsmanager/secretPolicy:SecretPolicy"
			r.Inputs = map[string]any{"secretArn": secret.ID, "policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`}
			return r.Type, r.Name
		}},
		{rule: "WS039", name: "prod's credentials not protected", stack: "prod", mutate: func(w *world) (string, string) {
			w.get(secretT, "database-credentials").Protect = false
			return secretT, "database-credentials"
		}},
		{rule: "WS039", name: "staging's credentials deleted with the database", stack: "staging", mutate: func(w *world) (string, string) {
			w.get("aws:secretsmanager/secretVersion:SecretVersion", "database-credentials").RetainOnDelete = false
			return "aws:secretsmanager/secretVersion:SecretVersion", "database-credentials"
		}},
		{rule: "WS040", name: "no destroy guard in prod", stack: "prod", mutate: func(w *world) (string, string) {
			w.remove("webstack:index:DestroyGuard", "destroy-guard")
			return "aws:rds/instance:Instance", "database"
		}},
		{rule: "WS040", name: "the guard misses the load balancers", stack: "prod", mutate: func(w *world) (string, string) {
			g := w.get("webstack:index:DestroyGuard", "destroy-guard")
			var deps []string
			for _, d := range g.Dependencies {
				if !strings.Contains(d, "aws:autoscaling/group:Group::lb") {
					deps = append(deps, d)
				}
			}
			g.Dependencies = deps
			return g.Type, g.Name
		}},
		{rule: "WS041", name: "prod's refresh terminates first", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(asgT, "app"), "instanceRefresh.preferences.minHealthyPercentage", 90.0)
			return asgT, "app"
		}},
		{rule: "WS041", name: "prod replaces an unhealthy host before its replacement is ready", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(asgT, "web"), "instanceMaintenancePolicy.maxHealthyPercentage", 100.0)
			return asgT, "web"
		}},
		{rule: "WS042", name: "web servers may mark application servers unhealthy", stack: "staging", mutate: func(w *world) (string, string) {
			p := w.get(rolePolT, "web-role")
			set(p, "policy", strings.Replace(p.Str("policy"), "autoScalingGroupName/webstack-staging-web", "autoScalingGroupName/webstack-staging-app", 1))
			return rolePolT, "web-role"
		}},
		{rule: "WS042", name: "any group", stack: "dev", mutate: func(w *world) (string, string) {
			p := w.get(rolePolT, "app-role")
			set(p, "policy", regexp.MustCompile(`arn:aws:autoscaling:[^"]*webstack-dev-app`).ReplaceAllString(p.Str("policy"), "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*"))
			return rolePolT, "app-role"
		}},
		{rule: "WS044", name: "a role attaches AmazonSSMManagedInstanceCore", stack: "dev", mutate: func(w *world) (string, string) {
			r := w.clone(rolePolT, "web-role-ssm", "web-role-core")
			r.Type = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
			r.Inputs = map[string]any{"role": r.Inputs["role"], "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
			return r.Type, r.Name
		}},
		{rule: "WS044", name: "hosts read every parameter", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(rolePolT, "app-role-ssm"), "policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameters"],"Resource":["arn:aws:ssm:us-east-1:123456789012:parameter/*"]}]}`)
			return rolePolT, "app-role-ssm"
		}},
		{rule: "WS045", name: "the S3 endpoint has no policy", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(endpointT, "network-s3"), "policy", nil)
			return endpointT, "network-s3"
		}},
		{rule: "WS045", name: "the S3 endpoint lets through any bucket", stack: "prod", mutate: func(w *world) (string, string) {
			set(w.get(endpointT, "network-s3"), "policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":["arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*","arn:aws:s3:::*/*"]}]}`)
			return endpointT, "network-s3"
		}},
		{rule: "WS046", name: "the flow-log role trusts every account's flow logs", stack: "staging", mutate: func(w *world) (string, string) {
			set(w.get(roleT, "network-flow-logs"), "assumeRolePolicy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":["sts:AssumeRole"]}]}`)
			return roleT, "network-flow-logs"
		}},
		{rule: "WS047", name: "the load balancers' secret has no policy", stack: "dev", mutate: func(w *world) (string, string) {
			w.remove(secretPolicyT, "lb-secrets")
			return secretT, "lb-secrets"
		}},
		{rule: "WS047", name: "the database secret's policy names no principal", stack: "prod", mutate: func(w *world) (string, string) {
			p := w.get(secretPolicyT, "database-credentials")
			set(p, "policy", strings.Replace(p.Str("policy"), `"aws:PrincipalArn"`, `"aws:SourceVpc"`, 1))
			return secretT, "database-credentials"
		}},
		{rule: "WS043", name: "no launch hook", stack: "prod", mutate: func(w *world) (string, string) {
			asg := w.get(asgT, "web")
			set(asg, "initialLifecycleHooks", asg.In("initialLifecycleHooks").([]any)[1:])
			return asgT, "web"
		}},
		{rule: "WS043", name: "a host that never gets ready enters service", stack: "dev", mutate: func(w *world) (string, string) {
			set(w.get(asgT, "app"), "initialLifecycleHooks.0.defaultResult", "CONTINUE")
			return asgT, "app"
		}},
	}
}

// (b) Every rule fires on a deliberately broken input, and only that rule;
// every rule has such a case.
func TestEveryRuleFiresOnABrokenInput(t *testing.T) {
	cases := breakCases()
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.rule] = true
		t.Run(tc.rule+" "+tc.name, func(t *testing.T) {
			w := newWorld(t, tc.stack)
			if tc.patches != nil {
				w.rs = run(t, tc.stack, tc.patches)
			}
			typ, name := tc.mutate(w)
			findings := guardrails.Evaluate(guardrails.NewGraph(w.rs, tc.env))
			fired := map[string]bool{}
			named := false
			for _, f := range findings {
				fired[f.Rule.ID] = true
				if f.Rule.ID == tc.rule && f.Type == typ && f.Name == name {
					named = true
				}
			}
			if !fired[tc.rule] || len(fired) != 1 {
				t.Fatalf("want exactly %s to fire; findings:%s", tc.rule, describe(findings))
			}
			if !named {
				t.Errorf("no %s finding names %s %s:%s", tc.rule, typ, name, describe(findings))
			}
		})
	}
	for _, r := range guardrails.Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s (%s) has no case in breakCases: add one that breaks it", r.ID, r.Title)
		}
	}
}

// The environment decides the database rules: dev's database, judged as
// production's, breaks exactly the rules dev relaxes.
func TestEnvironmentSelectsDatabaseRules(t *testing.T) {
	for env, want := range map[stacks.Environment][]string{
		"dev":     nil,
		"staging": {"WS024"},
		"prod":    {"WS024", "WS025", "WS026", "WS027", "WS052"}, // and dev's alarm topic has no subscriber
		"":        nil,                                           // from the provider's tag: dev
	} {
		var got []string
		for _, f := range guardrails.Evaluate(guardrails.NewGraph(stackRun(t, "dev"), env)) {
			if !slices.Contains(got, f.Rule.ID) {
				got = append(got, f.Rule.ID)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("dev judged as %q: rules %v fire, want %v", env, got, want)
		}
	}
}

// Findings are sorted, and their messages never carry a password.
func TestFindingsAreSortedAndSecretFree(t *testing.T) {
	w := newWorld(t, "prod")
	pw := w.password("database-password")
	set(w.get(sgT, "firewall-app"), "tags.Leak", pw)
	app := w.get(ltT, "app")
	set(app, "userData", base64.StdEncoding.EncodeToString([]byte(decoded(app.Str("userData"))+"# "+pw+"\n")))
	set(app, "monitoring.enabled", false)
	set(w.get(rdsT, "database"), "multiAz", false)
	fs := guardrails.Evaluate(guardrails.NewGraph(w.rs, ""))
	if len(fs) < 4 {
		t.Fatalf("findings:%s", describe(fs))
	}
	if !sort.SliceIsSorted(fs, func(i, j int) bool {
		return fs[i].Rule.ID+fs[i].Type+fs[i].Name+fs[i].Message < fs[j].Rule.ID+fs[j].Type+fs[j].Name+fs[j].Message
	}) {
		t.Errorf("findings are not sorted:%s", describe(fs))
	}
	for _, f := range fs {
		if strings.Contains(f.String(), pw) {
			t.Errorf("finding reveals the password: %s %s", f.Rule.ID, f.Name)
		}
	}
	if b := guardrails.Blocking(fs); len(b) == 0 || len(b) == len(fs) {
		t.Errorf("%d of %d findings are blocking: want the critical ones, not the medium ones", len(b), len(fs))
	}
}

var updateDocs = flag.Bool("update-docs", false, "rewrite the rule table in docs/GUARDRAILS.md")

// docs/GUARDRAILS.md lists every rule as the code defines it.
func TestDocsListEveryRule(t *testing.T) {
	const path, begin, end = "../docs/GUARDRAILS.md", "<!-- rules:begin -->\n", "<!-- rules:end -->"
	var table strings.Builder
	table.WriteString("| ID | severity | rule | what it checks |\n|---|---|---|---|\n")
	for _, r := range guardrails.Rules() {
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", r.ID, r.Severity, r.Title, strings.ReplaceAll(r.Description, "|", "\\|"))
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the %q and %q markers", path, begin, end)
	}
	want := before + begin + table.String() + end + after
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(doc) != want {
		t.Errorf("%s is out of date with guardrails.Rules(): go test ./guardrails/ -update-docs", path)
	}
}
