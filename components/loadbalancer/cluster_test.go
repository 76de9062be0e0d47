package loadbalancer_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// args builds the cluster as another program would: its own subnets, web
// servers' group, TLS and a DNS record.
func args(b *store.Bucket) loadbalancer.Args {
	return loadbalancer.Args{
		Subnets: []network.Subnet{
			{ID: pulumi.String("subnet-a").ToStringOutput(), Zone: "eu-west-1a"},
			{ID: pulumi.String("subnet-b").ToStringOutput(), Zone: "eu-west-1b"},
		},
		VpcID:             pulumi.String("vpc-1"),
		Image:             host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
		InstanceType:      "t4g.small",
		Bucket:            b,
		Region:            "eu-west-1",
		Partition:         "aws",
		AccountID:         "123456789012",
		WebGroup:          "other-test-edge-web",
		WebPort:           8080,
		SiteName:          "www.example.org",
		CertificateSecret: "site/pem",
		HostedZoneID:      "Z0123456789ABCDEFGHIJ",
		Agent:             release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
		Administrators:    []string{deployer},
	}
}

// deployer is the principal running the program, as GetCallerIdentity
// names a role's session.
const deployer = "arn:aws:sts::123456789012:assumed-role/deploy/ci-1234"

func run(t *testing.T, mutate func(*loadbalancer.Args)) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run(func(ctx *pulumi.Context) error {
		b, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		a := args(b)
		if mutate != nil {
			mutate(&a)
		}
		_, err = loadbalancer.New(ctx, "edge", a)
		return err
	}, mocks.Options{Project: "other", Stack: "test", Config: map[string]string{"aws:region": "eu-west-1"}})
}

func TestClusterInAnotherProgramWithTLSAndDNS(t *testing.T) {
	rec, err := run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A pair: a group of exactly two over both zones, replacing one node at
	// a time, named after the cluster.
	groups := rec.OfType("aws:autoscaling/group:Group")
	if len(groups) != 1 {
		t.Fatalf("%d groups", len(groups))
	}
	g := groups[0]
	if g.Str("name") != "other-test-edge" || g.Int("minSize") != 2 || g.Int("maxSize") != 2 || g.Int("desiredCapacity") != 2 ||
		!slices.Equal(g.Strings("vpcZoneIdentifiers"), []string{"subnet-a", "subnet-b"}) ||
		g.Int("instanceRefresh.preferences.minHealthyPercentage") != 100 || g.Int("instanceRefresh.preferences.maxHealthyPercentage") != 150 {
		t.Errorf("group %v", g.Inputs)
	}
	// The Elastic IP is the MASTER's to take: Pulumi neither attaches it
	// nor moves it back.
	eip := rec.Named("aws:ec2/eip:Eip", "edge-eip")
	if eip.Str("instance") != "" || !slices.Contains(eip.IgnoreChanges, "instance") {
		t.Errorf("Elastic IP %v, ignoreChanges %v", eip.Inputs, eip.IgnoreChanges)
	}
	record := rec.Named("aws:route53/record:Record", "edge-www")
	if record == nil || record.Str("name") != "www.example.org" || record.Str("type") != "A" ||
		strings.Join(record.Strings("records"), ",") != eip.Outputs["publicIp"] {
		t.Errorf("DNS record = %v (Elastic IP %v)", record, eip.Outputs["publicIp"])
	}

	obj := rec.Named("aws:s3/bucketObjectv2:BucketObjectv2", "edge-bundle")
	if obj == nil || obj.Str("key") != "bundles/edge/current.sh" {
		t.Fatalf("bundle %v", obj)
	}
	b, err := host.ParseBundle(obj.Str("content"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := b.File("/etc/haproxy/haproxy.cfg")
	for _, want := range []string{
		"bind :443 ssl crt /etc/haproxy/certs/site.pem",
		"http-request redirect scheme https code 301 unless { ssl_fc }",
		"default_backend be_web",
	} {
		if !strings.Contains(cfg.Content, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	if strings.Contains(cfg.Content, "\nbackend be_web") {
		t.Error("haproxy.cfg holds the backend: it is the agent's file")
	}
	backend, _ := b.File("/etc/haproxy/conf.d/be_web.cfg")
	if !backend.IfMissing || !strings.Contains(backend.Content, "backend be_web") || !strings.Contains(backend.Content, "hdr Host www.example.org") {
		t.Errorf("first backend file: %+v", backend)
	}
	// The agent discovers the web servers and the peers, and drains with
	// the HTTPS port, keepalived stopped first.
	agentFile, _ := b.File(host.AgentConfigPath)
	var agent hostagent.Config
	if err := json.Unmarshal([]byte(agentFile.Content), &agent); err != nil {
		t.Fatal(err)
	}
	if len(agent.Discover) != 2 || agent.Discover[0].Group != "other-test-edge-web" || agent.Discover[0].Port != 8080 ||
		agent.Discover[1].Group != "other-test-edge" || !agent.Discover[1].ExcludeSelf || !slices.Contains(agent.Discover[1].States, "Pending:Wait") ||
		// A leaving or sick MASTER stays a peer until it is gone, so that
		// its priority-0 advert is heard.
		!slices.Contains(agent.Discover[1].States, "Terminating:Wait") || !agent.Discover[1].Unhealthy || agent.Discover[0].Unhealthy {
		t.Errorf("discovery %+v", agent.Discover)
	}
	if fmt.Sprint(agent.Every) != "[[/usr/local/libexec/webstack/lb-keep-address]]" {
		t.Errorf("every round the agent should run lb-keep-address, not %v", agent.Every)
	}
	if keep, ok := b.File("/usr/local/libexec/webstack/lb-keep-address"); !ok || !strings.Contains(keep.Content, "127.254.0.51/32") || !strings.Contains(keep.Content, "/usr/local/libexec/webstack/lb-takeover") {
		t.Errorf("lb-keep-address: %q", keep.Content)
	}
	if agent.Drain.Port != 443 || fmt.Sprint(agent.Drain.Before) != "[[systemctl stop keepalived]]" ||
		fmt.Sprint(agent.Ready.Then) != "[[systemctl enable --now keepalived]]" {
		t.Errorf("drain %+v, ready %+v", agent.Drain, agent.Ready)
	}
	env, _ := b.File("/etc/webstack/lb.env")
	if !strings.Contains(env.Content, "WEBSTACK_CERT_SECRET_ID=site/pem") || !strings.Contains(env.Content, "AWS_REGION=eu-west-1") ||
		!strings.Contains(env.Content, fmt.Sprint("WEBSTACK_EIP_ADDRESS=", eip.Outputs["publicIp"], "\n")) {
		t.Errorf("lb.env = %s", env.Content)
	}
	var certReadable, takeover bool
	for _, p := range rec.OfType("aws:iam/rolePolicy:RolePolicy") {
		pol := p.Str("policy")
		if strings.Contains(pol, `"arn:aws:secretsmanager:eu-west-1:123456789012:secret:site/pem-??????"`) {
			certReadable = true
		}
		if strings.Contains(pol, `"aws:ResourceTag/webstack:group":"other-test-edge"`) && strings.Contains(pol, `"arn:aws:ec2:eu-west-1:123456789012:instance/*"`) {
			takeover = true
		}
	}
	if !certReadable || !takeover {
		t.Errorf("the role can read the certificate: %v; take the address onto its group's nodes only: %v", certReadable, takeover)
	}
}

func TestClusterRefusesBadArgsBeforeRegisteringAnything(t *testing.T) {
	for name, mutate := range map[string]func(*loadbalancer.Args){
		"one zone":          func(a *loadbalancer.Args) { a.Subnets[1].Zone = "eu-west-1a" },
		"no web servers":    func(a *loadbalancer.Args) { a.WebGroup = "" },
		"bad web port":      func(a *loadbalancer.Args) { a.WebPort = 0 },
		"no site name":      func(a *loadbalancer.Args) { a.SiteName = "" },
		"no agent":          func(a *loadbalancer.Args) { a.Agent = release.Artifact{} },
		"no instance type":  func(a *loadbalancer.Args) { a.InstanceType = "" },
		"no administrator":  func(a *loadbalancer.Args) { a.Administrators = nil },
		"bad administrator": func(a *loadbalancer.Args) { a.Administrators = []string{"deploy"} },
	} {
		rec, err := run(t, mutate)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		for _, r := range rec.Resources() {
			if strings.HasPrefix(r.Name, "edge") && r.Type != "webstack:loadbalancer:Cluster" {
				t.Errorf("%s: %s %s registered before the error", name, r.Type, r.Name)
			}
		}
	}
}

// Inputs that reach the nodes' files (lb.env, which the scripts source,
// haproxy.cfg, the agent's configuration) are refused, with the field
// named, when they carry shell or configuration syntax: whatever program
// builds the cluster, no input can run on a node.
func TestClusterRefusesInputsThatWouldRunOnANode(t *testing.T) {
	for _, hostile := range []string{"x\nrm -rf /", "$(id)", "`id`", `site"; reboot; "`, "a'b", "a b"} {
		for field, mutate := range map[string]func(*loadbalancer.Args){
			"CertificateSecret": func(a *loadbalancer.Args) { a.CertificateSecret = hostile },
			"Region":            func(a *loadbalancer.Args) { a.Region = hostile },
			"SiteName":          func(a *loadbalancer.Args) { a.SiteName = hostile },
			"WebGroup":          func(a *loadbalancer.Args) { a.WebGroup = hostile },
			"Partition":         func(a *loadbalancer.Args) { a.Partition = hostile },
			"AccountID":         func(a *loadbalancer.Args) { a.AccountID = hostile },
		} {
			rec, err := run(t, mutate)
			if err == nil {
				t.Errorf("%s = %q: accepted", field, hostile)
				continue
			}
			if !strings.Contains(err.Error(), "loadbalancer: Args."+field+" = ") {
				t.Errorf("%s = %q: error does not name the field: %v", field, hostile, err)
			}
			for _, r := range rec.Resources() {
				if strings.HasPrefix(r.Name, "edge") && r.Type != "webstack:loadbalancer:Cluster" {
					t.Errorf("%s = %q: %s %s registered before the error", field, hostile, r.Type, r.Name)
				}
			}
		}
	}
}

// Only the nodes' role and the deployer may read the passwords' value:
// the secret's policy denies every other principal.
func TestClusterSecretReadableByTheNodesAndTheDeployerOnly(t *testing.T) {
	rec, err := run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := rec.Named("aws:secretsmanager/secret:Secret", "edge-secrets")
	policies := rec.OfType("aws:secretsmanager/secretPolicy:SecretPolicy")
	if len(policies) != 1 || policies[0].Str("secretArn") != secret.Outputs["arn"] || !policies[0].Bool("blockPublicPolicy") {
		t.Fatalf("secret policies = %+v", policies)
	}
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(policies[0].Str("policy")), &doc); err != nil {
		t.Fatal(err)
	}
	role := rec.Named("aws:iam/role:Role", "edge-role")
	want := map[string]any{
		"Sid": "OnlyTheNamedPrincipalsReadTheValue", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
		"Action": []any{"secretsmanager:GetSecretValue"}, "Resource": []any{"*"},
		"Condition": map[string]any{"ArnNotLike": map[string]any{"aws:PrincipalArn": []any{
			role.Outputs["arn"],
			// The deployer's session stands for its role, with any path.
			"arn:aws:iam::123456789012:role/deploy", "arn:aws:iam::123456789012:role/*/deploy",
		}}},
	}
	if len(doc.Statement) != 1 || !reflect.DeepEqual(doc.Statement[0], want) {
		t.Errorf("policy = %v\nwant     %v", doc.Statement, want)
	}
}

// A private key passed where the certificate's secret name belongs is
// refused, named, and not printed; a long value is cut.
func TestClusterErrorsNeverPrintASecretOrALongValue(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n"
	_, err := run(t, func(a *loadbalancer.Args) { a.CertificateSecret = key })
	if err == nil || !strings.Contains(err.Error(), "loadbalancer: Args.CertificateSecret = (hidden: ") || strings.Contains(err.Error(), "MIIEvQIBADAN") {
		t.Errorf("error: %v", err)
	}
	_, err = run(t, func(a *loadbalancer.Args) { a.SiteName = strings.Repeat("w", 10_000) })
	if err == nil || len(err.Error()) > 500 || !strings.Contains(err.Error(), "…(10000 bytes)") {
		t.Errorf("error of %d bytes", len(fmt.Sprint(err)))
	}
}

// The pair's firewall opens what it serves and nothing else: HTTP from the
// clients, HTTPS only with a certificate, VRRP only between its own
// members (with keepalived's check_unicast_src and the agent's peers from
// the pair's own group, this, not the 8-character VRRP password, keeps any
// other host out of the election: docs/LOADBALANCER.md), HTTPS out; an
// IPv6 client block is refused on the IPv4-only VPC, naming the field.
func TestFirewallOpensWhatIsServed(t *testing.T) {
	const (
		ingressT = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
		egressT  = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	)
	rules := func(rec *mocks.Recorder) string {
		var out []string
		for _, typ := range []string{ingressT, egressT} {
			for _, r := range rec.OfType(typ) {
				out = append(out, r.Name)
			}
		}
		return strings.Join(out, " ")
	}
	tls, err := run(t, func(a *loadbalancer.Args) { a.ClientCIDRs = []string{"203.0.113.0/24"} })
	if err != nil {
		t.Fatal(err)
	}
	want := "firewall-edge-in-tcp443-from-203.0.113.0_24 firewall-edge-in-tcp80-from-203.0.113.0_24 firewall-edge-in-vrrp-from-edge firewall-edge-out-tcp443-to-internet-ipv4 firewall-edge-out-vrrp-to-edge"
	if got := rules(tls); got != want {
		t.Errorf("with TLS and one client block:\n%s\nwant:\n%s", got, want)
	}
	sg := tls.OfType("aws:ec2/securityGroup:SecurityGroup")[0]
	for _, r := range tls.OfType(ingressT) {
		if strings.Contains(r.Name, "vrrp") && (r.Str("referencedSecurityGroupId") != sg.ID || r.Str("cidrIpv4") != "") {
			t.Errorf("%s: VRRP from %v, want the pair's own group only", r.Name, r.Inputs)
		}
	}
	plain, err := run(t, func(a *loadbalancer.Args) { a.CertificateSecret = "" })
	if err != nil {
		t.Fatal(err)
	}
	want = "firewall-edge-in-tcp80-from-internet-ipv4 firewall-edge-in-vrrp-from-edge firewall-edge-out-tcp443-to-internet-ipv4 firewall-edge-out-vrrp-to-edge"
	if got := rules(plain); got != want {
		t.Errorf("without TLS, default clients:\n%s\nwant:\n%s", got, want)
	}
	rec, err := run(t, func(a *loadbalancer.Args) { a.ClientCIDRs = []string{"::/0"} })
	if err == nil || !strings.Contains(err.Error(), "Args.ClientCIDRs[0]") {
		t.Errorf("an IPv6 client block: err %v", err)
	}
	if got := rec.Tally("webstack:loadbalancer:Cluster"); got != "" {
		t.Errorf("an IPv6 client block registered:\n%s", got)
	}
}
