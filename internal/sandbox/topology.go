// Package sandbox runs the whole webstack diagram on one Linux machine, the
// way it runs on AWS: the load balancers, the web servers and the
// application servers are Auto Scaling groups (internal/asg, the model of
// EC2 Auto Scaling served by internal/fakeaws on the bridge), and every
// host runs the real daemons (HAProxy, keepalived, nginx, the default
// application) beside the same webstack-agent as on AWS, which completes
// its group's lifecycle hooks, discovers the group behind it through the
// (fake) Auto Scaling and EC2 APIs, marks itself unhealthy and drains. One
// network namespace per host, joined by a bridge; PostgreSQL and a client
// are fixed hosts.
//
// The files the daemons and agents run are rendered by the components' own
// functions (lbconf, nginxconf, the tiers' AgentConfig) with the sandbox's
// Platform: only paths and service commands differ from AWS, and the
// Elastic IP's notify script is swapped for one that moves a local
// virtual IP.
//
// Everything the sandbox creates is named with its prefix (namespaces
// "webstack-web3", links "webstack.web3" and the bridge "webstack0"),
// carries its mark (owner.go) and its files live in one state directory,
// so Down can find and remove all of it, also after the sandbox itself
// crashed, and nothing else.
package sandbox

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/foobar/webstack/components/group"
)

// Config shapes a sandbox.
type Config struct {
	// Web and App are the web and application servers' groups' desired
	// capacity (default 2 each); their maximum is 9.
	Web, App int
	// Subnet is the sandbox's /24 (default 10.77.0.0/24). The host gets .1
	// on the bridge, where the fake AWS APIs listen, so the site is
	// reachable from the host too.
	Subnet string
	// StateDir holds every file (default /run/<name>-sandbox).
	StateDir string
	// ModuleDir is the repository root, for building the application and
	// the agent (default: found from the working directory).
	ModuleDir string
	// Name prefixes what the sandbox creates (default "webstack"):
	// namespaces <name>-web3, links <name>.web3, the bridge <name>0. Two
	// sandboxes with different names and subnets can run side by side;
	// one refuses to start while another of its name runs, or while
	// something it did not create has its names.
	Name string
	// SiteName is the Host the site answers to (default www.foobar.com).
	SiteName string
	// Timing is how fast the agents look and how long they wait
	// (default Timing).
	Timing group.Timing
	// Logf reports progress (default: discard).
	Logf func(format string, args ...any)
}

// Timing is the sandbox's: the agents look every half second, so that
// scaling and rolling take seconds, not minutes; what they do is AWS's.
// Health keeps AWS's order of events: a load balancer whose HAProxy fails
// hands the address over (keepalived: 2 failed checks a second apart)
// before its agent marks it unhealthy (6 failures, 3 s), as on AWS (3
// failures 2 s apart); otherwise the replacement's arrival reloads both
// keepalived daemons in the middle of the handover and the peer waits out
// the full master down interval instead.
var Timing = group.Timing{
	Interval: 500 * time.Millisecond, ReadyWithin: 10 * time.Second,
	HealthFailures: 6, HealthTimeout: 500 * time.Millisecond,
	DrainQuiet: 1500 * time.Millisecond, DrainWithin: 20 * time.Second,
}

// Lifecycle hook timeouts and group timings of the sandbox's groups.
const (
	launchHookTimeout    = 40 * time.Second
	terminateHookTimeout = 30 * time.Second
	healthCheckGrace     = time.Second
	instanceWarmup       = time.Second
)

// Host is one machine: a network namespace with an address.
type Host struct {
	Name string // lb1, web3, db, client
	Tier string // lb, web, app, db, client
	IP   string
	// Zone is the host's availability zone (a group host's).
	Zone string
	// InstanceID is a group host's id in its group.
	InstanceID string
	// Namespace is the host's network namespace; Link its end of the veth
	// pair on the bridge.
	Namespace, Link string
	// Fault is what went wrong when the host launched (SetFault).
	Fault Fault
}

// NS is the host's network namespace.
func (h Host) NS() string { return h.Namespace }

// names of what a sandbox creates.
func (c Config) nsPrefix() string   { return c.Name + "-" }
func (c Config) linkPrefix() string { return c.Name + "." }
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
	if c.Timing == (group.Timing{}) {
		c.Timing = Timing
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Region and Zones of the sandbox's groups.
const Region = "us-east-1"

// Zones are the two zones the groups spread over.
var Zones = []string{"us-east-1a", "us-east-1b"}

// Topology is the sandbox's addressing plan.
type Topology struct {
	// Fixed are the hosts that are not in a group: the database and the
	// client (the internet).
	Fixed  []Host
	Bridge string
	// Owner is the mark of every link the sandbox creates (owner.go).
	Owner     string
	VIP       string // the floating address (the Elastic IP's stand-in)
	Gateway   string // the host's address on the bridge: the fake AWS APIs
	PrefixLen int
	// Addresses are each group's private addresses, per zone.
	Addresses map[string]map[string][]string
}

// Address ranges of the groups (the last byte), split over the zones.
var groupRanges = map[string][2]int{
	"lb":  {11, 19},
	"web": {20, 39},
	"app": {50, 89},
}

// Plan lays out the sandbox: the VIP .10, the load balancers .11-.19, the
// web servers .20-.39, the application servers .50-.89 (even addresses
// in the first zone, odd in the second), the database .40, the client
// .100, the host .1.
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
	t := Topology{Owner: c.owner(), Bridge: c.bridge(), VIP: ip(10), Gateway: ip(1), PrefixLen: 24, Addresses: map[string]map[string][]string{}}
	fixed := func(name string, n int) Host {
		return Host{Name: name, Tier: name, IP: ip(n), Namespace: c.nsPrefix() + name, Link: c.linkPrefix() + name}
	}
	t.Fixed = []Host{fixed("db", 40), fixed("client", 100)}
	for tier, r := range groupRanges {
		t.Addresses[tier] = map[string][]string{}
		for n := r[0]; n <= r[1]; n++ {
			zone := Zones[n%2]
			t.Addresses[tier][zone] = append(t.Addresses[tier][zone], ip(n))
		}
	}
	return t, nil
}

// Host returns a fixed host by name.
func (t Topology) Host(name string) (Host, bool) {
	for _, h := range t.Fixed {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}
