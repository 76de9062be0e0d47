package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resources that moved between versions keep their identity through
// aliases, so that taking a new version renames nothing in AWS and
// replaces nothing.

// firewallTiersURN is the component that held the four tiers' security
// groups and their rules until each tier owned its own firewall
// (firewall.Connections): a stack deployed before has them under it.
func firewallTiersURN(ctx *pulumi.Context) string {
	return fmt.Sprintf("urn:pulumi:%s::%s::webstack:firewall:Tiers::firewall", ctx.Stack(), ctx.Project())
}

// Types of a tier's firewall.
const (
	securityGroupType = "aws:ec2/securityGroup:SecurityGroup"
	ingressRuleType   = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressRuleType    = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
)

// formerFirewallName is the name a tier's firewall resource had under the
// firewall component: the same, but for the database's group, which was
// "db" there and is named after its component ("database") now.
func formerFirewallName(name string) string {
	name = strings.Replace(name, "firewall-database", "firewall-db", 1)
	if rest, ok := strings.CutSuffix(name, "-to-database"); ok {
		name = rest + "-to-db"
	}
	return name
}

// firewallMoved aliases each tier's security group and rules to where a
// stack deployed before has them: under the firewall component, under the
// former name. The tiers' security groups stay the same groups, so no
// launch template, host or database changes for it.
func firewallMoved(ctx *pulumi.Context) pulumi.ResourceTransformation {
	parent := pulumi.URN(firewallTiersURN(ctx))
	return func(a *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
		if !strings.HasPrefix(a.Name, "firewall-") || (a.Type != securityGroupType && a.Type != ingressRuleType && a.Type != egressRuleType) {
			return nil
		}
		alias := pulumi.Alias{Name: pulumi.String(formerFirewallName(a.Name)), ParentURN: parent}
		return &pulumi.ResourceTransformationResult{Props: a.Props, Opts: append(a.Opts, pulumi.Aliases([]pulumi.Alias{alias}))}
	}
}
