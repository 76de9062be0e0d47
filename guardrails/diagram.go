package guardrails

import (
	"fmt"
	"regexp"
	"strings"
)

// tierSpec is one box of the diagram as the guardrails see it. The
// guardrails keep their own picture (this table), independent of the
// components that build the stack: a component that drew a wrong arrow
// is caught here, not agreed with.
type tierSpec struct {
	// Tier is the rules' name for it; Component the component type whose
	// resources make it.
	Tier, Component string
	// From is the tier before it, the only one whose members may reach
	// its members ("": none; the load balancers take clients from outside
	// the VPC). PortName says, for messages, on which port.
	From, PortName string
	// Config and Servers find that port in From's rendered configuration:
	// the file, and the pattern of its server lines ("", nil: the port is
	// the resource's own, as the database's).
	Config  string
	Servers *regexp.Regexp
	// VRRP says its members speak VRRP among themselves (keepalived);
	// Members names them in messages.
	VRRP    bool
	Members string
}

// diagram is the web stack: clients → lb → web → app → db.
var diagram = []tierSpec{
	{Tier: TierLB, Component: "webstack:loadbalancer:Cluster", VRRP: true, Members: "the load balancers"},
	{Tier: TierWeb, Component: "webstack:webtier:Tier", From: TierLB, PortName: "the web port", Config: "haproxy.cfg", Servers: haproxyServerRe},
	{Tier: TierApp, Component: "webstack:apptier:Tier", From: TierWeb, PortName: "the application port", Config: "nginx.conf", Servers: nginxUpstreamRe},
	{Tier: TierDB, Component: "webstack:database:Database", From: TierApp, PortName: "the database port"},
}

var (
	haproxyServerRe = regexp.MustCompile(`(?m)^\s*server\s+\S+\s+\[?[0-9A-Fa-f.:]+\]?:(\d+)`)
	nginxUpstreamRe = regexp.MustCompile(`(?m)^\s*server\s+\[?[0-9A-Fa-f.:]+\]?:(\d+)`)
)

// componentTiers maps the components' types to the tier whose resources
// they hold.
var componentTiers = func() map[string]string {
	out := map[string]string{}
	for _, t := range diagram {
		out[t.Component] = t.Tier
	}
	return out
}()

// tierEdgeSentence is the diagram's arrows in words, for messages.
var tierEdgeSentence = func() string {
	var arrows, vrrp []string
	for _, t := range diagram {
		if t.From != "" {
			arrows = append(arrows, fmt.Sprintf("%s → %s on %s", t.From, t.Tier, t.PortName))
		}
		if t.VRRP {
			vrrp = append(vrrp, "VRRP between "+t.Members)
		}
	}
	return strings.Join(arrows, ", ") + ", and " + strings.Join(vrrp, ", ")
}()

// edgeAllowed reports whether ingress rule r from a group of tiers src into
// a group of tiers dst is an arrow of the diagram.
func edgeAllowed(r sgRule, peer string, src, dst map[string]bool, tierPorts map[string][]int) bool {
	onPort := func(tier string) bool {
		if tierPorts[tier] == nil {
			return r.Protocol == "tcp" && r.From == r.To
		}
		return r.isTCPPort(tierPorts[tier]...)
	}
	for _, t := range diagram {
		if t.From != "" && src[t.From] && dst[t.Tier] && onPort(t.Tier) {
			return true
		}
		if t.VRRP && src[t.Tier] && dst[t.Tier] && peer == r.Group && r.Protocol == "112" {
			return true
		}
	}
	return false
}
