package firewall_test

import (
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
