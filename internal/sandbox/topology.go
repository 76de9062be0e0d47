// Package sandbox runs the whole webstack diagram on one Linux machine:
// one network namespace per host (lb1, lb2, web1..N, app1..N, db) and a
// client, joined by a bridge, running the real HAProxy, keepalived, nginx,
// the default application and PostgreSQL with exactly the files the
// components render (lbconf, nginxconf, release) — only addresses and paths
// differ, and the Elastic IP's notify script is swapped for one that moves a
// local virtual IP.
//
// Everything the sandbox creates is named with its prefix (namespaces
// "webstack-lb1", links "wev-lb1" and the bridge "webstack0") and its files
// live in one state directory, so Down can find and remove all of it, also
// after the sandbox itself crashed.
package sandbox

import (
	"fmt"
	"net/netip"
	"strings"
)

// Config shapes a sandbox.
type Config struct {
	// Web and App are the numbers of web and application servers
	// (default 2 each).
	Web, App int
	// Subnet is the sandbox's /24 (default 10.77.0.0/24). The host gets .1
	// on the bridge, so the site is reachable from the host too.
	Subnet string
	// StateDir holds every file (default /run/webstack-sandbox).
	StateDir string
	// ModuleDir is the repository root, for building the application
	// (default: found from the working directory).
	ModuleDir string
	// Name prefixes what the sandbox creates (default "webstack"):
	// namespaces <name>-lb1, links <na>v-lb1, the bridge <name>0. Two
	// sandboxes with different names and subnets can run side by side.
	Name string
	// SiteName is the Host the site answers to (default www.foobar.com).
	SiteName string
	// Logf reports progress (default: discard).
	Logf func(format string, args ...any)
}

// Host is one machine of the diagram: a network namespace with an address.
type Host struct {
	Name string // lb1, web2, db, client
	Tier string // lb, web, app, db, client
	IP   string
	// Namespace is the host's network namespace; Link its end of the veth
	// pair on the bridge.
	Namespace, Link string
}

// NS is the host's network namespace.
func (h Host) NS() string { return h.Namespace }

func (h Host) link() string { return h.Link }

// names of what a sandbox creates.
func (c Config) nsPrefix() string   { return c.Name + "-" }
func (c Config) linkPrefix() string { return c.Name[:min(2, len(c.Name))] + "v-" }
func (c Config) bridge() string     { return c.Name + "0" }

func (c Config) withDefaults() Config {
	if c.Web == 0 {
		c.Web = 2
	}
	if c.App == 0 {
		c.App = 2
	}
	if c.Subnet == "" {
		c.Subnet = "10.77.0.0/24"
	}
	if c.Name == "" {
		c.Name = "webstack"
	}
	if c.StateDir == "" {
		c.StateDir = "/run/" + c.Name + "-sandbox"
	}
	if c.SiteName == "" {
		c.SiteName = "www.foobar.com"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Topology is the sandbox's addressing plan.
type Topology struct {
	Hosts     []Host
	Bridge    string
	VIP       string // the floating address (the Elastic IP's stand-in)
	Gateway   string // the host's address on the bridge
	PrefixLen int
}

// Plan lays out the hosts: VIP .10, lb1 .11, lb2 .12, web i .2i, app i .3i,
// db .40, client .100, the host .1.
func Plan(c Config) (Topology, error) {
	c = c.withDefaults()
	p, err := netip.ParsePrefix(c.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() != 24 || p != p.Masked() {
		return Topology{}, fmt.Errorf("sandbox: subnet %q must be an IPv4 /24 such as 10.77.0.0/24", c.Subnet)
	}
	if len(c.Name) < 2 || len(c.Name) > 8 || strings.Trim(c.Name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return Topology{}, fmt.Errorf("sandbox: name %q must be 2 to 8 lower-case letters or digits", c.Name)
	}
	if c.Web < 1 || c.Web > 9 || c.App < 1 || c.App > 9 {
		return Topology{}, fmt.Errorf("sandbox: between 1 and 9 web (%d) and app (%d) servers", c.Web, c.App)
	}
	base := strings.TrimSuffix(p.Addr().String(), ".0")
	ip := func(n int) string { return fmt.Sprintf("%s.%d", base, n) }
	t := Topology{Bridge: c.bridge(), VIP: ip(10), Gateway: ip(1), PrefixLen: 24}
	host := func(name, tier string, n int) Host {
		return Host{Name: name, Tier: tier, IP: ip(n), Namespace: c.nsPrefix() + name, Link: c.linkPrefix() + name}
	}
	t.Hosts = append(t.Hosts, host("lb1", "lb", 11), host("lb2", "lb", 12))
	for i := 1; i <= c.Web; i++ {
		t.Hosts = append(t.Hosts, host(fmt.Sprintf("web%d", i), "web", 20+i))
	}
	for i := 1; i <= c.App; i++ {
		t.Hosts = append(t.Hosts, host(fmt.Sprintf("app%d", i), "app", 30+i))
	}
	t.Hosts = append(t.Hosts, host("db", "db", 40), host("client", "client", 100))
	return t, nil
}

// Tier returns the hosts of a tier, in order.
func (t Topology) Tier(tier string) []Host {
	var out []Host
	for _, h := range t.Hosts {
		if h.Tier == tier {
			out = append(out, h)
		}
	}
	return out
}

// Host returns a host by name.
func (t Topology) Host(name string) (Host, bool) {
	for _, h := range t.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}
