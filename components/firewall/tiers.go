package firewall

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TiersArgs configures the firewalls of the diagram's four tiers.
type TiersArgs struct {
	// VpcID is the VPC the groups belong to.
	VpcID pulumi.StringInput
	// ClientCIDRs and ClientIPv6CIDRs may reach the load balancers on
	// HTTPPort, and on HTTPSPort when TLS is on (default: 80 and 443).
	// ClientIPv6CIDRs need IPv6 (a VPC with IPv6): an IPv4-only VPC
	// carries no IPv6 traffic, so a rule for it is refused.
	ClientCIDRs, ClientIPv6CIDRs []string
	HTTPPort, HTTPSPort          int
	// TLS says the load balancers serve HTTPS (they hold a certificate):
	// only then is HTTPSPort opened. IPv6 says the VPC has IPv6.
	TLS, IPv6 bool
	// WebPort (nginx), AppPort (the application) and DatabasePort.
	WebPort, AppPort, DatabasePort int
	// EgressCIDRs are where the hosts may open HTTPS connections: package
	// repositories, and AWS APIs through VPC endpoints or NAT (default:
	// 0.0.0.0/0 on port 443 only).
	EgressCIDRs []string
}

// Tiers is one security group per tier, each reachable only from the tier
// before it:
//
//	clients ─80,443─► lb ─web port─► web ─app port─► app ─db port─► database
//
// plus VRRP between the load balancers and HTTPS out for the hosts. No rule
// allows SSH: hosts are reached with SSM Session Manager.
type Tiers struct {
	pulumi.ResourceState

	LoadBalancer, Web, App, Database *Group
}

// NewTiers creates the four groups and wires them like the diagram.
func NewTiers(ctx *pulumi.Context, name string, args TiersArgs, opts ...pulumi.ResourceOption) (*Tiers, error) {
	args = args.withDefaults()
	if err := args.validate(); err != nil {
		return nil, err
	}
	t := &Tiers{}
	if err := ctx.RegisterComponentResource("webstack:firewall:Tiers", name, t, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(t)
	group := func(short, description string) (*Group, error) {
		return NewGroup(ctx, name+"-"+short, short, args.VpcID, description, child)
	}
	var err error
	if t.LoadBalancer, err = group("lb", "webstack load balancers (HAProxy): HTTP and HTTPS from clients"); err != nil {
		return nil, err
	}
	if t.Web, err = group("web", "webstack web servers (nginx): from the load balancers only"); err != nil {
		return nil, err
	}
	if t.App, err = group("app", "webstack application servers: from the web servers only"); err != nil {
		return nil, err
	}
	if t.Database, err = group("db", "webstack database: from the application servers only"); err != nil {
		return nil, err
	}

	lb, web, app, db := t.LoadBalancer, t.Web, t.App, t.Database
	steps := []func() error{
		func() error {
			return lb.AllowFromCIDRs(args.ClientCIDRs, TCP(args.HTTPPort), "HTTP from clients (redirected to HTTPS when TLS is on)")
		},
		func() error {
			return lb.AllowFromCIDRs(args.ClientIPv6CIDRs, TCP(args.HTTPPort), "HTTP from clients (redirected to HTTPS when TLS is on)")
		},
		func() error {
			if !args.TLS {
				return nil
			}
			return lb.AllowFromCIDRs(args.ClientCIDRs, TCP(args.HTTPSPort), "HTTPS from clients")
		},
		func() error {
			if !args.TLS {
				return nil
			}
			return lb.AllowFromCIDRs(args.ClientIPv6CIDRs, TCP(args.HTTPSPort), "HTTPS from clients")
		},
		func() error { return lb.AllowFrom(lb, VRRP, "keepalived VRRP between the two load balancers") },
		func() error {
			return web.AllowFrom(lb, TCP(args.WebPort), "HTTP and health checks from the load balancers")
		},
		func() error { return app.AllowFrom(web, TCP(args.AppPort), "HTTP from the web servers") },
		func() error {
			return db.AllowFrom(app, TCP(args.DatabasePort), "database connections from the application servers")
		},
	}
	for _, g := range []*Group{lb, web, app} {
		steps = append(steps, func() error {
			return g.AllowToCIDRs(args.EgressCIDRs, TCP(443), "HTTPS out: AWS APIs (VPC endpoints, S3) and package repositories")
		})
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{
		"loadBalancerSecurityGroupId": lb.ID,
		"webSecurityGroupId":          web.ID,
		"appSecurityGroupId":          app.ID,
		"databaseSecurityGroupId":     db.ID,
	})
}

func (a TiersArgs) withDefaults() TiersArgs {
	if a.HTTPPort == 0 {
		a.HTTPPort = 80
	}
	if a.HTTPSPort == 0 {
		a.HTTPSPort = 443
	}
	if a.EgressCIDRs == nil {
		a.EgressCIDRs = []string{"0.0.0.0/0"}
	}
	return a
}

// validate checks the arguments before anything is registered, so that a
// bad port or CIDR never leaves half a firewall behind.
func (a TiersArgs) validate() error {
	var errs []error
	ports := []struct {
		name string
		port int
	}{{"HTTPPort", a.HTTPPort}, {"HTTPSPort", a.HTTPSPort}, {"WebPort", a.WebPort}, {"AppPort", a.AppPort}, {"DatabasePort", a.DatabasePort}}
	for _, p := range ports {
		if p.port < 1 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("firewall: TiersArgs.%s = %d: must be a TCP port between 1 and 65535", p.name, p.port))
		}
	}
	for _, c := range append(append(append([]string{}, a.ClientCIDRs...), a.ClientIPv6CIDRs...), a.EgressCIDRs...) {
		if _, err := cidrSource(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(a.ClientIPv6CIDRs) > 0 && !a.IPv6 {
		errs = append(errs, fmt.Errorf("firewall: TiersArgs.ClientIPv6CIDRs = %v: the VPC has no IPv6 (TiersArgs.IPv6 is false); leave it empty", a.ClientIPv6CIDRs))
	}
	if a.VpcID == nil {
		errs = append(errs, errors.New("firewall: TiersArgs.VpcID is required"))
	}
	return errors.Join(errs...)
}
