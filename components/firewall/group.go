// Package firewall provides security groups whose rules are standalone
// resources, wired with one call per arrow of the diagram:
//
//	web.AllowFrom(lb, firewall.TCP(80), "HTTP from the load balancers")
//
// adds the ingress rule on web and the matching egress rule on lb. Rules are
// named after what they allow (never a list position), so adding a rule does
// not rename or replace the others. Each tier owns its group as
// Connections (NewConnections), with the port it serves on; the program
// draws the diagram's arrows between them (infra/build.go).
package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/foobar/webstack/components/internal/names"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Port is what a rule allows: a protocol and a port range.
type Port struct {
	Protocol string // tcp, udp or an IP protocol number
	From, To int    // ignored for protocols without ports
}

// TCP is one TCP port.
func TCP(port int) Port { return Port{Protocol: "tcp", From: port, To: port} }

// VRRP is IP protocol 112, which keepalived speaks between the load balancers.
var VRRP = Port{Protocol: "112"}

func (p Port) hasPorts() bool { return p.Protocol == "tcp" || p.Protocol == "udp" }

// Label names the port in resource names: tcp443, vrrp.
func (p Port) Label() string {
	switch {
	case p.Protocol == "112":
		return "vrrp"
	case p.From == p.To:
		return fmt.Sprintf("%s%d", p.Protocol, p.From)
	}
	return fmt.Sprintf("%s%d-%d", p.Protocol, p.From, p.To)
}

// Group is a security group with no inline rules; its rules are added with
// the Allow methods.
type Group struct {
	// Name is the group's short name (lb, web): rules are named after it.
	Name string
	// ID is the security group id.
	ID pulumi.StringOutput

	ctx      *pulumi.Context
	resource string // the resource name prefix of the group and its rules
	opts     []pulumi.ResourceOption
}

// NewGroup creates an empty security group. resourceName prefixes the names
// of the group and its rules; shortName is how peers' rules refer to it.
func NewGroup(ctx *pulumi.Context, resourceName, shortName string, vpcID pulumi.StringInput, description string, opts ...pulumi.ResourceOption) (*Group, error) {
	sg, err := ec2.NewSecurityGroup(ctx, resourceName, &ec2.SecurityGroupArgs{
		VpcId:       vpcID,
		Description: pulumi.String(description),
		// Dependents (instances, endpoints) keep the group: on delete, the
		// rules go first so nothing references a half-deleted group.
		RevokeRulesOnDelete: pulumi.Bool(true),
		Tags:                names.Tags(ctx, resourceName),
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Group{Name: shortName, ID: sg.ID().ToStringOutput(), ctx: ctx, resource: resourceName, opts: opts}, nil
}

// AllowFrom lets peer reach this group on port: an ingress rule here and an
// egress rule on peer. A group may allow itself (traffic between members).
func (g *Group) AllowFrom(peer *Group, port Port, why string) error {
	if err := g.ingress(fmt.Sprintf("%s-in-%s-from-%s", g.resource, port.Label(), peer.Name), port, why, ruleSource{group: peer.ID}); err != nil {
		return err
	}
	return peer.egress(fmt.Sprintf("%s-out-%s-to-%s", peer.resource, port.Label(), g.Name), port, why, ruleSource{group: g.ID})
}

// AllowFromCIDRs lets addresses outside the VPC reach this group on port,
// one rule per CIDR block (IPv4 or IPv6).
func (g *Group) AllowFromCIDRs(cidrs []string, port Port, why string) error {
	for _, c := range cidrs {
		src, err := cidrSource(c)
		if err != nil {
			return err
		}
		if err := g.ingress(fmt.Sprintf("%s-in-%s-from-%s", g.resource, port.Label(), cidrLabel(c)), port, why, src); err != nil {
			return err
		}
	}
	return nil
}

// AllowToCIDRs lets this group open connections to addresses on port.
func (g *Group) AllowToCIDRs(cidrs []string, port Port, why string) error {
	for _, c := range cidrs {
		dst, err := cidrSource(c)
		if err != nil {
			return err
		}
		if err := g.egress(fmt.Sprintf("%s-out-%s-to-%s", g.resource, port.Label(), cidrLabel(c)), port, why, dst); err != nil {
			return err
		}
	}
	return nil
}

// ruleSource is the other end of a rule: a security group or a CIDR block.
type ruleSource struct {
	group      pulumi.StringInput
	ipv4, ipv6 string
}

func cidrSource(c string) (ruleSource, error) {
	p, err := netip.ParsePrefix(c)
	if err != nil || p != p.Masked() {
		return ruleSource{}, fmt.Errorf("firewall: %q is not a CIDR block", c)
	}
	if p.Addr().Is4() {
		return ruleSource{ipv4: c}, nil
	}
	return ruleSource{ipv6: c}, nil
}

// cidrLabel names a CIDR block in a resource name.
func cidrLabel(c string) string {
	switch c {
	case "0.0.0.0/0":
		return "internet-ipv4"
	case "::/0":
		return "internet-ipv6"
	}
	return strings.NewReplacer("/", "_", ":", ".").Replace(c)
}

func (g *Group) ingress(name string, port Port, why string, src ruleSource) error {
	return g.rule(true, name, port, why, src)
}

func (g *Group) egress(name string, port Port, why string, dst ruleSource) error {
	return g.rule(false, name, port, why, dst)
}

// rule creates one standalone ingress or egress rule of this group.
func (g *Group) rule(ingress bool, name string, port Port, why string, peer ruleSource) error {
	var from, to pulumi.IntPtrInput
	if port.hasPorts() {
		from, to = pulumi.Int(port.From), pulumi.Int(port.To)
	}
	var group, ipv4, ipv6 pulumi.StringPtrInput
	switch {
	case peer.group != nil:
		group = peer.group.ToStringOutput().ToStringPtrOutput()
	case peer.ipv4 != "":
		ipv4 = pulumi.String(peer.ipv4)
	default:
		ipv6 = pulumi.String(peer.ipv6)
	}
	protocol, desc, tags := pulumi.String(port.Protocol), pulumi.String(why), names.Tags(g.ctx, name)
	var err error
	if ingress {
		_, err = vpc.NewSecurityGroupIngressRule(g.ctx, name, &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: g.ID, IpProtocol: protocol, FromPort: from, ToPort: to,
			ReferencedSecurityGroupId: group, CidrIpv4: ipv4, CidrIpv6: ipv6,
			Description: desc, Tags: tags,
		}, g.opts...)
	} else {
		_, err = vpc.NewSecurityGroupEgressRule(g.ctx, name, &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: g.ID, IpProtocol: protocol, FromPort: from, ToPort: to,
			ReferencedSecurityGroupId: group, CidrIpv4: ipv4, CidrIpv6: ipv6,
			Description: desc, Tags: tags,
		}, g.opts...)
	}
	return err
}
