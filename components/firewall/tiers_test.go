package firewall_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	sgT      = "aws:ec2/securityGroup:SecurityGroup"
	ingressT = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressT  = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
)

func runTiers(t *testing.T, args firewall.TiersArgs) (*mocks.Recorder, error) {
	t.Helper()
	if args.VpcID == nil {
		args.VpcID = pulumi.String("vpc-123")
	}
	return mocks.Run(func(ctx *pulumi.Context) error {
		_, err := firewall.NewTiers(ctx, "firewall", args)
		return err
	}, mocks.Options{Project: "webstack", Stack: "test"})
}

func defaultArgs() firewall.TiersArgs {
	return firewall.TiersArgs{
		ClientCIDRs: []string{"0.0.0.0/0"}, ClientIPv6CIDRs: []string{"::/0"}, TLS: true, IPv6: true,
		WebPort: 80, AppPort: 8080, DatabasePort: 5432,
	}
}

// edge is one allowed flow, written the way the diagram reads.
func edge(r *mocks.Resource, rec *mocks.Recorder, direction string) string {
	self := groupName(rec, r.Str("securityGroupId"))
	peer := r.Str("cidrIpv4") + r.Str("cidrIpv6")
	if id := r.Str("referencedSecurityGroupId"); id != "" {
		peer = groupName(rec, id)
	}
	port := r.Str("ipProtocol")
	if r.In("fromPort") != nil {
		port = fmt.Sprintf("%s/%d", port, r.Int("fromPort"))
	}
	if direction == "in" {
		return fmt.Sprintf("%s -> %s %s", peer, self, port)
	}
	return fmt.Sprintf("%s -> %s %s", self, peer, port)
}

func groupName(rec *mocks.Recorder, id string) string {
	if g := rec.ByID(id); g != nil {
		return strings.TrimPrefix(g.Name, "firewall-")
	}
	return id
}

func edges(rec *mocks.Recorder, typ, direction string) []string {
	var out []string
	for _, r := range rec.OfType(typ) {
		out = append(out, edge(r, rec, direction))
	}
	sort.Strings(out)
	return out
}

// The whole firewall graph, exactly: a rule too many is as wrong as one
// missing.
func TestTierGraphIsTheDiagram(t *testing.T) {
	rec, err := runTiers(t, defaultArgs())
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []string{
		"0.0.0.0/0 -> lb tcp/443",
		"0.0.0.0/0 -> lb tcp/80",
		"::/0 -> lb tcp/443",
		"::/0 -> lb tcp/80",
		"app -> db tcp/5432",
		"lb -> lb 112",
		"lb -> web tcp/80",
		"web -> app tcp/8080",
	}
	wantOut := []string{
		"app -> 0.0.0.0/0 tcp/443",
		"app -> db tcp/5432",
		"lb -> 0.0.0.0/0 tcp/443",
		"lb -> lb 112",
		"lb -> web tcp/80",
		"web -> 0.0.0.0/0 tcp/443",
		"web -> app tcp/8080",
	}
	sort.Strings(wantIn)
	sort.Strings(wantOut)
	if got := edges(rec, ingressT, "in"); strings.Join(got, "\n") != strings.Join(wantIn, "\n") {
		t.Errorf("ingress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantIn, "\n"))
	}
	if got := edges(rec, egressT, "out"); strings.Join(got, "\n") != strings.Join(wantOut, "\n") {
		t.Errorf("egress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantOut, "\n"))
	}
	if n := len(rec.OfType(sgT)); n != 4 {
		t.Errorf("%d security groups, want 4", n)
	}
}

func TestEveryRuleIsStandaloneDescribedAndNoSSH(t *testing.T) {
	rec, err := runTiers(t, defaultArgs())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rec.OfType(sgT) {
		if g.In("ingress") != nil || g.In("egress") != nil {
			t.Errorf("%s has inline rules", g.Name)
		}
		if g.Str("description") == "" {
			t.Errorf("%s has no description", g.Name)
		}
	}
	for _, typ := range []string{ingressT, egressT} {
		for _, r := range rec.OfType(typ) {
			if r.Str("description") == "" {
				t.Errorf("%s has no description", r.Name)
			}
			from, to := r.Int("fromPort"), r.Int("toPort")
			if r.Str("ipProtocol") == "-1" || (r.In("fromPort") != nil && from <= 22 && 22 <= to) || (from <= 3389 && 3389 <= to && to != 0) {
				t.Errorf("%s allows SSH, RDP or all traffic", r.Name)
			}
		}
	}
}

// A narrower client list replaces the internet rules and changes no other.
func TestClientCIDRsAreTheOnlyInternetIngress(t *testing.T) {
	args := defaultArgs()
	args.ClientCIDRs, args.ClientIPv6CIDRs = []string{"203.0.113.0/24"}, nil
	rec, err := runTiers(t, args)
	if err != nil {
		t.Fatal(err)
	}
	var cidrRules []string
	for _, r := range rec.OfType(ingressT) {
		if c := r.Str("cidrIpv4") + r.Str("cidrIpv6"); c != "" {
			cidrRules = append(cidrRules, r.Name)
		}
	}
	sort.Strings(cidrRules)
	want := "firewall-lb-in-tcp443-from-203.0.113.0_24 firewall-lb-in-tcp80-from-203.0.113.0_24"
	if strings.Join(cidrRules, " ") != want {
		t.Errorf("CIDR ingress rules = %v, want %s", cidrRules, want)
	}
	base, _ := runTiers(t, defaultArgs())
	for _, r := range base.OfType(ingressT) {
		if r.Str("cidrIpv4")+r.Str("cidrIpv6") == "" && rec.Named(ingressT, r.Name) == nil {
			t.Errorf("tier rule %s changed name when the client list changed", r.Name)
		}
	}
}

func TestAllowFromAddsBothSides(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		a, err := firewall.NewGroup(ctx, "a", "a", pulumi.String("vpc-1"), "a")
		if err != nil {
			return err
		}
		b, err := firewall.NewGroup(ctx, "b", "b", pulumi.String("vpc-1"), "b")
		if err != nil {
			return err
		}
		return b.AllowFrom(a, firewall.TCP(9000), "a talks to b")
	}, mocks.Options{Project: "webstack", Stack: "test"})
	if err != nil {
		t.Fatal(err)
	}
	in := rec.Named(ingressT, "b-in-tcp9000-from-a")
	out := rec.Named(egressT, "a-out-tcp9000-to-b")
	if in == nil || out == nil {
		t.Fatalf("want ingress on b and egress on a, got %v %v", in, out)
	}
	a, b := rec.Named(sgT, "a"), rec.Named(sgT, "b")
	if in.Str("securityGroupId") != b.ID || in.Str("referencedSecurityGroupId") != a.ID || in.Int("fromPort") != 9000 || in.Int("toPort") != 9000 {
		t.Errorf("ingress = %v", in.Inputs)
	}
	if out.Str("securityGroupId") != a.ID || out.Str("referencedSecurityGroupId") != b.ID {
		t.Errorf("egress = %v", out.Inputs)
	}
}

func TestInvalidTiersArgsRegisterNothing(t *testing.T) {
	for name, mutate := range map[string]func(*firewall.TiersArgs){
		"port 0":     func(a *firewall.TiersArgs) { a.AppPort = 0 },
		"port 70000": func(a *firewall.TiersArgs) { a.DatabasePort = 70000 },
		"bad CIDR":   func(a *firewall.TiersArgs) { a.ClientCIDRs = []string{"10.0.0.1/8"} },
		"not a CIDR": func(a *firewall.TiersArgs) { a.ClientIPv6CIDRs = []string{"internet"} },
		"bad egress": func(a *firewall.TiersArgs) { a.EgressCIDRs = []string{"0.0.0.0"} },
	} {
		args := defaultArgs()
		mutate(&args)
		rec, err := runTiers(t, args)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if rec.Count() != 0 {
			t.Errorf("%s: %d resources registered", name, rec.Count())
		}
	}
}

// VRRP (IP protocol 112) flows only between members of the load
// balancers' own security group, both ways, and from no CIDR: with
// keepalived's check_unicast_src and the agent's peers from the pair's
// own group, this (not the 8-character VRRP password alone) is what keeps
// any other host from joining the election (docs/LOADBALANCER.md).
func TestVRRPOnlyBetweenTheLoadBalancers(t *testing.T) {
	rec, err := runTiers(t, defaultArgs())
	if err != nil {
		t.Fatal(err)
	}
	lb := rec.Named(sgT, "firewall-lb")
	if lb == nil {
		t.Fatal("no load balancer group")
	}
	seen := map[string]bool{}
	for _, typ := range []string{ingressT, egressT} {
		for _, r := range rec.OfType(typ) {
			if r.Str("ipProtocol") != "112" && r.Str("ipProtocol") != "vrrp" {
				continue
			}
			seen[typ] = true
			if r.Str("securityGroupId") != lb.ID || r.Str("referencedSecurityGroupId") != lb.ID ||
				r.Str("cidrIpv4") != "" || r.Str("cidrIpv6") != "" || r.Str("prefixListId") != "" {
				t.Errorf("%s %s: VRRP with %v: only the load balancers' group, to and from itself", typ, r.Name, r.Inputs)
			}
		}
	}
	if !seen[ingressT] || !seen[egressT] {
		t.Errorf("VRRP rules: ingress %v, egress %v; want both", seen[ingressT], seen[egressT])
	}
}

// Open what is served, nothing else: without TLS no 443, on an IPv4-only
// VPC no IPv6 rule (and IPv6 CIDRs are refused, naming the field).
func TestNoRulesForTrafficThatCannotExist(t *testing.T) {
	args := defaultArgs()
	args.TLS, args.IPv6, args.ClientIPv6CIDRs = false, false, nil
	rec, err := runTiers(t, args)
	if err != nil {
		t.Fatal(err)
	}
	var cidrRules []string
	for _, r := range rec.OfType(ingressT) {
		if r.Str("cidrIpv4")+r.Str("cidrIpv6") != "" {
			cidrRules = append(cidrRules, r.Name)
		}
	}
	if len(cidrRules) != 1 || !strings.Contains(cidrRules[0], "tcp80") {
		t.Errorf("internet ingress = %v, want HTTP from 0.0.0.0/0 only", cidrRules)
	}
	args.ClientIPv6CIDRs = []string{"::/0"}
	_, err = runTiers(t, args)
	if err == nil || !strings.Contains(err.Error(), "ClientIPv6CIDRs") || !strings.Contains(err.Error(), "no IPv6") {
		t.Errorf("IPv6 CIDRs on an IPv4-only VPC: %v", err)
	}
}
