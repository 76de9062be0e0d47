package firewall_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Two tiers' connections and the arrow between them: the rules are named
// after the tiers, on the receiving tier's default port, both sides; HTTPS
// out is port 443 only; nothing else exists (a new group has no rule).
func TestConnectionsDrawTheArrowOnTheDefaultPort(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		lb, err := firewall.NewConnections(ctx, "edge", pulumi.String("vpc-1"), firewall.TCP(80), "edge")
		if err != nil {
			return err
		}
		web, err := firewall.NewConnections(ctx, "blue-web", pulumi.String("vpc-1"), firewall.TCP(8080), "web")
		if err != nil {
			return err
		}
		if err := web.AllowHTTPSOut(); err != nil {
			return err
		}
		return web.AllowDefaultPortFrom(lb, "HTTP from the edge")
	}, mocks.Options{Project: "webstack", Stack: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, typ := range []string{sgT, ingressT, egressT} {
		for _, r := range rec.OfType(typ) {
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	want := "firewall-blue-web firewall-blue-web-in-tcp8080-from-edge firewall-blue-web-out-tcp443-to-internet-ipv4 firewall-edge firewall-edge-out-tcp8080-to-blue-web"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("resources:\n%s\nwant:\n%s", got, want)
	}
	in := rec.Named(ingressT, "firewall-blue-web-in-tcp8080-from-edge")
	web, lb := rec.Named(sgT, "firewall-blue-web"), rec.Named(sgT, "firewall-edge")
	if in.Str("securityGroupId") != web.ID || in.Str("referencedSecurityGroupId") != lb.ID || in.Int("fromPort") != 8080 || in.Int("toPort") != 8080 {
		t.Errorf("ingress = %v", in.Inputs)
	}
	out := rec.Named(egressT, "firewall-blue-web-out-tcp443-to-internet-ipv4")
	if out.Int("fromPort") != 443 || out.Int("toPort") != 443 || out.Str("ipProtocol") != "tcp" {
		t.Errorf("HTTPS out = %v", out.Inputs)
	}
}

// Client blocks on the IPv4-only VPC: IPv6 and malformed blocks are
// refused, every one named at once.
func TestCheckIPv4(t *testing.T) {
	if err := firewall.CheckIPv4("Args.ClientCIDRs", []string{"0.0.0.0/0", "203.0.113.0/24"}); err != nil {
		t.Errorf("valid blocks refused: %v", err)
	}
	err := firewall.CheckIPv4("Args.ClientCIDRs", []string{"::/0", "10.0.0.1/8", "internet"})
	for _, want := range []string{`Args.ClientCIDRs[0] = "::/0": the VPC is IPv4-only`, `Args.ClientCIDRs[1]: firewall: "10.0.0.1/8" is not a CIDR block`, `Args.ClientCIDRs[2]`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %s", err, want)
		}
	}
}
