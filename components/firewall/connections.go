package firewall

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Connections is a tier's firewall, owned by the tier (the CDK's
// Connections): its security group and the port its members serve the
// tier before them on. The program draws the diagram's arrows by meaning:
//
//	web.Connections.AllowDefaultPortFrom(lb.Connections, "HTTP from the load balancers")
//
// A tier's group starts with no ingress at all: nothing reaches its members
// until the program allows it.
type Connections struct {
	*Group
	// DefaultPort is the port the members serve on.
	DefaultPort Port
}

// NewConnections creates a tier's security group, named firewall-<name>
// (its rules firewall-<name>-in-…, and peers' rules …-to-<name>), so that
// two tiers of different names never share a resource name.
func NewConnections(ctx *pulumi.Context, name string, vpcID pulumi.StringInput, defaultPort Port, description string, opts ...pulumi.ResourceOption) (*Connections, error) {
	g, err := NewGroup(ctx, "firewall-"+name, name, vpcID, description, opts...)
	if err != nil {
		return nil, err
	}
	return &Connections{Group: g, DefaultPort: defaultPort}, nil
}

// AllowDefaultPortFrom lets peer's members reach these on their default
// port: an ingress rule here and the matching egress rule on peer.
func (c *Connections) AllowDefaultPortFrom(peer *Connections, why string) error {
	return c.AllowFrom(peer.Group, c.DefaultPort, why)
}

// HTTPSOut are where hosts open HTTPS connections: AWS APIs (through the
// VPC's endpoints, or a NAT gateway), S3 and the package repositories.
// Port 443 only: nothing else leaves a host.
var HTTPSOut = []string{"0.0.0.0/0"}

// AllowHTTPSOut lets the members open HTTPS connections to HTTPSOut.
func (c *Connections) AllowHTTPSOut() error {
	return c.AllowToCIDRs(HTTPSOut, TCP(443), "HTTPS out: AWS APIs (VPC endpoints, S3) and package repositories")
}

// CheckIPv4 reports the entries of cidrs that are not IPv4 CIDR blocks
// (the VPC is IPv4-only: components/network), naming field.
func CheckIPv4(field string, cidrs []string) error {
	var errs []error
	for i, c := range cidrs {
		src, err := cidrSource(c)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
		case src.ipv4 == "":
			errs = append(errs, fmt.Errorf("%s[%d] = %q: the VPC is IPv4-only, so an IPv6 rule would carry no traffic", field, i, c))
		}
	}
	return errors.Join(errs...)
}
