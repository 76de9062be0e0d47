package guardrails

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/foobar/webstack/components/database/dbsecret"
	"github.com/foobar/webstack/internal/mocks"
)

// sgRule is one security group rule, whichever way it is declared: a
// standalone vpc.SecurityGroupIngressRule/EgressRule, an
// ec2.SecurityGroupRule, or an inline rule of a security group.
type sgRule struct {
	Res      *mocks.Resource // the resource declaring it
	Inline   string          // "ingress.0" for inline rules
	Ingress  bool
	Group    string // the security group it belongs to
	Protocol string // tcp, udp, icmp, -1 (all) or an IP protocol number
	From, To int    // port range (all ports for -1)
	CIDRs    []string
	Peers    []string // referenced security groups (the group itself for self)
	Prefixes []string // prefix lists
	Desc     string
}

func (r sgRule) where() string {
	if r.Inline != "" {
		return " (" + r.Inline + ")"
	}
	return ""
}

func (r sgRule) direction() string {
	if r.Ingress {
		return "ingress"
	}
	return "egress"
}

// String describes the rule's traffic: tcp/22, all protocols, IP protocol 112.
func (r sgRule) traffic() string {
	switch {
	case r.Protocol == "-1":
		return "all protocols and ports"
	case r.hasPorts() && r.From == r.To:
		return fmt.Sprintf("%s/%d", r.Protocol, r.From)
	case r.hasPorts():
		return fmt.Sprintf("%s/%d-%d", r.Protocol, r.From, r.To)
	}
	return "IP protocol " + r.Protocol
}

func (r sgRule) hasPorts() bool { return r.Protocol == "tcp" || r.Protocol == "udp" }

// covers reports whether the rule allows a port of one of the protocols.
func (r sgRule) covers(port int, protocols ...string) bool {
	if r.Protocol == "-1" {
		return true
	}
	return contains(protocols, r.Protocol) && r.From <= port && port <= r.To
}

// isTCPPort reports whether the rule allows exactly one TCP port, one of ports.
func (r sgRule) isTCPPort(ports ...int) bool {
	if r.Protocol != "tcp" || r.From != r.To {
		return false
	}
	for _, p := range ports {
		if r.From == p {
			return true
		}
	}
	return false
}

func normProtocol(p string) string {
	switch strings.ToLower(p) {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	case "all", "-1", "":
		return "-1"
	}
	return strings.ToLower(p)
}

func num(v any) int {
	f, _ := mocks.Reveal(v).(float64)
	return int(f)
}

func str(v any) string {
	s, _ := mocks.Reveal(v).(string)
	return s
}

func strs(v any) []string {
	list, _ := mocks.Reveal(v).([]any)
	var out []string
	for _, e := range list {
		if s := str(e); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func ports(r *sgRule, from, to any) {
	if r.Protocol == "-1" {
		r.From, r.To = 0, 65535
		return
	}
	r.From, r.To = num(from), num(to)
}

// securityGroupRules returns every rule of every security group, sorted by
// resource URN.
func (g *Graph) securityGroupRules() []sgRule {
	var out []sgRule
	for _, res := range g.OfType(ingressT, egressT) {
		r := sgRule{Res: res, Ingress: res.Type == ingressT, Group: res.Str("securityGroupId"),
			Protocol: normProtocol(res.Str("ipProtocol")), Desc: res.Str("description")}
		ports(&r, res.In("fromPort"), res.In("toPort"))
		for _, k := range []string{"cidrIpv4", "cidrIpv6"} {
			if c := res.Str(k); c != "" {
				r.CIDRs = append(r.CIDRs, c)
			}
		}
		if p := res.Str("referencedSecurityGroupId"); p != "" {
			r.Peers = append(r.Peers, p)
		}
		if p := res.Str("prefixListId"); p != "" {
			r.Prefixes = append(r.Prefixes, p)
		}
		out = append(out, r)
	}
	for _, res := range g.OfType(sgRuleT) {
		r := sgRule{Res: res, Ingress: res.Str("type") == "ingress", Group: res.Str("securityGroupId"),
			Protocol: normProtocol(res.Str("protocol")), Desc: res.Str("description")}
		ports(&r, res.In("fromPort"), res.In("toPort"))
		r.CIDRs = append(res.Strings("cidrBlocks"), res.Strings("ipv6CidrBlocks")...)
		if p := res.Str("sourceSecurityGroupId"); p != "" {
			r.Peers = append(r.Peers, p)
		}
		if res.Bool("self") {
			r.Peers = append(r.Peers, r.Group)
		}
		r.Prefixes = res.Strings("prefixListIds")
		out = append(out, r)
	}
	for _, res := range g.OfType(sgT, defaultSGT) {
		for _, dir := range []string{"ingress", "egress"} {
			list, _ := mocks.Reveal(res.In(dir)).([]any)
			for i, e := range list {
				m, _ := mocks.Reveal(e).(map[string]any)
				r := sgRule{Res: res, Inline: fmt.Sprintf("%s.%d", dir, i), Ingress: dir == "ingress", Group: res.ID,
					Protocol: normProtocol(str(m["protocol"])), Desc: str(m["description"])}
				ports(&r, m["fromPort"], m["toPort"])
				r.CIDRs = append(strs(m["cidrBlocks"]), strs(m["ipv6CidrBlocks"])...)
				r.Peers = strs(m["securityGroups"])
				if b, _ := mocks.Reveal(m["self"]).(bool); b {
					r.Peers = append(r.Peers, r.Group)
				}
				r.Prefixes = strs(m["prefixListIds"])
				out = append(out, r)
			}
		}
	}
	return out
}

// isWorld reports whether a CIDR block is the whole internet (0.0.0.0/0, ::/0).
func isWorld(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Bits() == 0
}

// vpcPrefixes are the VPCs' own address blocks.
func (g *Graph) vpcPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, v := range g.OfType(vpcT) {
		for _, k := range []string{"cidrBlock", "ipv6CidrBlock"} {
			if p, err := netip.ParsePrefix(v.Str(k)); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func insideAny(cidr string, blocks []netip.Prefix) bool {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	for _, b := range blocks {
		if b.Bits() <= p.Bits() && b.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// groupName names a security group id in messages.
func (g *Graph) groupName(id string) string {
	if r := g.Ref(id, sgT, defaultSGT); r != nil {
		return r.Name
	}
	return id
}

func sortedTiers(set map[string]bool) []string {
	var out []string
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// The HTTP and HTTPS ports clients reach the load balancers on.
const (
	httpPort  = 80
	httpsPort = 443
)

// WS001: the internet reaches only the load balancers, on 80 and 443.
func checkInternetIngress(g *Graph) []Finding {
	tiers := g.groupTiers()
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if !r.Ingress {
			continue
		}
		for _, c := range r.CIDRs {
			if !isWorld(c) {
				continue
			}
			lb := tiers[r.Group][TierLB] && len(tiers[r.Group]) == 1
			if lb && r.isTCPPort(httpPort, httpsPort) {
				continue
			}
			out = append(out, flag(r.Res, "%s%s lets %s reach %s on %s: only the load balancers' group may be open to the internet, on tcp/80 and tcp/443",
				r.direction(), r.where(), c, g.groupName(r.Group), r.traffic()))
		}
	}
	return out
}

// WS002: no SSH or RDP, from anywhere.
func checkRemoteAdmin(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if !r.Ingress {
			continue
		}
		for _, p := range []struct {
			port int
			name string
		}{{22, "SSH"}, {3389, "RDP"}} {
			if r.covers(p.port, "tcp", "udp") {
				out = append(out, flag(r.Res, "ingress%s to %s allows %s (port %d, %s): hosts are reached with SSM Session Manager only",
					r.where(), g.groupName(r.Group), p.name, p.port, r.traffic()))
			}
		}
	}
	return out
}

// tierPorts are the ports each tier serves the one before it on, as the
// rendered configurations use them: HAProxy's backend servers (web), nginx's
// upstream servers (app) and the database's port. A nil list means the
// port could not be found, and any single TCP port is accepted.
func (g *Graph) tierPorts() map[string][]int {
	collect := func(files []bundleFile, re *regexp.Regexp) []int {
		seen := map[int]bool{}
		var out []int
		for _, f := range files {
			for _, m := range re.FindAllStringSubmatch(f.Content, -1) {
				if p, err := strconv.Atoi(m[1]); err == nil && !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	out := map[string][]int{}
	for _, t := range diagram {
		if t.Config != "" {
			out[t.Tier] = collect(g.bundleFiles(t.Config), t.Servers)
		}
	}
	// Hosts' agents discover the tier behind them and connect on the
	// port their configuration names.
	tierOf := map[string]string{}
	for _, hg := range g.hostGroups() {
		tierOf[hg.ASG.Str("name")] = hg.Tier
	}
	for _, f := range g.bundleFiles("/agent.json") {
		var c struct {
			Discover []struct {
				Group, Render string
				Port          int
			}
		}
		if json.Unmarshal([]byte(f.Content), &c) != nil {
			continue
		}
		for _, d := range c.Discover {
			if tier := tierOf[d.Group]; d.Render != "keepalived" && tier != "" && !slices.Contains(out[tier], d.Port) {
				out[tier] = append(out[tier], d.Port)
			}
		}
	}
	for _, db := range g.OfType(rdsT) {
		p := db.Int("port")
		if p == 0 {
			// RDS's default: the engine's usual port (MariaDB's is MySQL's).
			switch engine, _, _ := strings.Cut(db.Str("engine"), "-"); engine {
			case dbsecret.Postgres, dbsecret.MySQL:
				p = dbsecret.DefaultPort(engine)
			case "mariadb":
				p = dbsecret.DefaultPort(dbsecret.MySQL)
			}
		}
		if p != 0 {
			out[TierDB] = append(out[TierDB], p)
		}
	}
	return out
}

// WS003: each tier is reachable only from the tier before it.
func checkTierGraph(g *Graph) []Finding {
	tiers, tierPorts, vpc := g.groupTiers(), g.tierPorts(), g.vpcPrefixes()
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if !r.Ingress {
			continue
		}
		dst := tiers[r.Group]
		for _, peer := range r.Peers {
			if !edgeAllowed(r, peer, tiers[peer], dst, tierPorts) {
				out = append(out, flag(r.Res, "ingress%s lets %s (tiers %v) reach %s (tiers %v) on %s: not an arrow of the diagram (%s)",
					r.where(), g.groupName(peer), sortedTiers(tiers[peer]), g.groupName(r.Group), sortedTiers(dst), r.traffic(), tierEdgeSentence))
			}
		}
		for _, c := range r.CIDRs {
			switch {
			case isWorld(c):
				// WS001's.
			case len(dst) == 0 && insideAny(c, vpc):
				// A shared group (VPC endpoints) open to the VPC.
			case len(dst) == 1 && dst[TierLB] && r.isTCPPort(httpPort, httpsPort):
				// Clients of the load balancers.
			default:
				out = append(out, flag(r.Res, "ingress%s lets %s reach %s (tiers %v) on %s: tiers behind the load balancers take traffic only from the tier before them",
					r.where(), c, g.groupName(r.Group), sortedTiers(dst), r.traffic()))
			}
		}
		if len(r.Prefixes) > 0 && len(dst) > 0 {
			out = append(out, flag(r.Res, "ingress%s lets prefix lists %v reach %s (tiers %v)", r.where(), r.Prefixes, g.groupName(r.Group), sortedTiers(dst)))
		}
	}
	return out
}

// WS004: no rule allows every protocol.
func checkAllProtocols(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if r.Protocol == "-1" {
			out = append(out, flag(r.Res, "%s%s of %s allows all protocols and ports: name the protocol and port", r.direction(), r.where(), g.groupName(r.Group)))
		}
	}
	return out
}

// WS005: each tier's hosts and database have their tier's own group.
func checkOwnGroups(g *Graph) []Finding {
	tiers := g.groupTiers()
	var out []Finding
	for _, sg := range g.OfType(sgT, defaultSGT) {
		if t := tiers[sg.ID]; len(t) > 1 {
			out = append(out, flag(sg, "is shared by tiers %v: each tier needs its own group, or the tiers are not isolated", sortedTiers(t)))
		}
	}
	defaults := map[string]bool{}
	for _, v := range g.OfType(vpcT) {
		defaults[v.Str("defaultSecurityGroupId")] = true
		if id, ok := mocks.Reveal(v.Out("defaultSecurityGroupId")).(string); ok {
			defaults[id] = true
		}
	}
	for _, d := range g.OfType(defaultSGT) {
		defaults[d.ID] = true
	}
	delete(defaults, "")
	for _, r := range g.OfType(instanceT, launchTemplateT, rdsT) {
		if g.Tier(r) == "" {
			continue
		}
		ids := securityGroups(r)
		if len(ids) == 0 {
			out = append(out, flag(r, "has no security group: it would get the VPC's default group"))
		}
		for _, id := range ids {
			if defaults[id] {
				out = append(out, flag(r, "uses the VPC's default security group %s", id))
			}
		}
	}
	return out
}

// WS006: egress to the internet only on HTTPS; no egress from the database.
func checkEgress(g *Graph) []Finding {
	tiers := g.groupTiers()
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if r.Ingress {
			continue
		}
		if tiers[r.Group][TierDB] {
			out = append(out, flag(r.Res, "egress%s of %s (the database) allows %s: the database opens no connections", r.where(), g.groupName(r.Group), r.traffic()))
			continue
		}
		for _, c := range r.CIDRs {
			if isWorld(c) && !r.isTCPPort(httpsPort) {
				out = append(out, flag(r.Res, "egress%s of %s to %s allows %s: hosts may open only HTTPS connections to the internet", r.where(), g.groupName(r.Group), c, r.traffic()))
			}
		}
	}
	return out
}

// WS007: every security group and rule says what it is for.
func checkDescriptions(g *Graph) []Finding {
	var out []Finding
	for _, sg := range g.OfType(sgT) {
		if d := strings.TrimSpace(sg.Str("description")); d == "" || d == "Managed by Pulumi" {
			out = append(out, flag(sg, "has no description of its own (%q)", d))
		}
	}
	for _, r := range g.securityGroupRules() {
		if strings.TrimSpace(r.Desc) == "" {
			out = append(out, flag(r.Res, "%s%s of %s (%s) has no description", r.direction(), r.where(), g.groupName(r.Group), r.traffic()))
		}
	}
	return out
}

// WS008: every VPC's default security group is adopted, with no rules.
func checkDefaultGroup(g *Graph) []Finding {
	var out []Finding
	defaults := map[string]bool{}
	for _, v := range g.OfType(vpcT) {
		var adopted *mocks.Resource
		for _, d := range g.OfType(defaultSGT) {
			if d.Str("vpcId") == v.ID {
				adopted = d
			}
		}
		if id, ok := mocks.Reveal(v.Out("defaultSecurityGroupId")).(string); ok && id != "" {
			defaults[id] = true
		}
		if adopted == nil {
			out = append(out, flag(v, "its default security group is not adopted (ec2.DefaultSecurityGroup with no rules): AWS's default allows all traffic between members and all egress"))
			continue
		}
		defaults[adopted.ID] = true
		for _, dir := range []string{"ingress", "egress"} {
			if list, _ := mocks.Reveal(adopted.In(dir)).([]any); len(list) > 0 {
				out = append(out, flag(adopted, "has %d %s rules: the default group must have none", len(list), dir))
			}
		}
	}
	for _, r := range g.securityGroupRules() {
		if r.Inline == "" && defaults[r.Group] {
			out = append(out, flag(r.Res, "adds an %s rule to the VPC's default security group", r.direction()))
		}
	}
	return out
}

// WS032 (its firewall half): no rule opens HAProxy's stats or monitor ports.
func statsPortRules(g *Graph, statsPorts []int) []Finding {
	var out []Finding
	for _, r := range g.securityGroupRules() {
		if !r.Ingress {
			continue
		}
		for _, p := range statsPorts {
			if r.covers(p, "tcp") {
				out = append(out, flag(r.Res, "ingress%s to %s opens tcp/%d, HAProxy's stats or monitor port: reach it through an SSM port forward", r.where(), g.groupName(r.Group), p))
				break
			}
		}
	}
	return out
}
