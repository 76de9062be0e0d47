package guardrails

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/foobar/webstack/internal/mocks"
)

// WS009: IMDSv2 only, one hop.
func checkIMDSv2(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(instanceT, launchTemplateT) {
		if r.Str("metadataOptions.httpEndpoint") == "disabled" {
			continue
		}
		var problems []string
		if t := r.Str("metadataOptions.httpTokens"); t != "required" {
			problems = append(problems, fmt.Sprintf("httpTokens is %q, not \"required\" (IMDSv1 is on)", t))
		}
		if hops := r.Int("metadataOptions.httpPutResponseHopLimit"); hops != 1 {
			problems = append(problems, fmt.Sprintf("httpPutResponseHopLimit is %d, not 1 (a container on the host could reach the instance's credentials)", hops))
		}
		if len(problems) > 0 {
			out = append(out, flag(r, "instance metadata: %s", strings.Join(problems, "; ")))
		}
	}
	return out
}

// WS010: every volume is encrypted.
func checkEncryptedVolumes(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(instanceT) {
		if r.In("rootBlockDevice") == nil {
			out = append(out, flag(r, "has no rootBlockDevice: its root volume's encryption is left to the account's default"))
		} else if !r.Bool("rootBlockDevice.encrypted") {
			out = append(out, flag(r, "root volume is not encrypted"))
		}
		list, _ := mocks.Reveal(r.In("ebsBlockDevices")).([]any)
		for i := range list {
			if !r.Bool(fmt.Sprintf("ebsBlockDevices.%d.encrypted", i)) {
				out = append(out, flag(r, "EBS volume %s is not encrypted", r.Str(fmt.Sprintf("ebsBlockDevices.%d.deviceName", i))))
			}
		}
	}
	for _, r := range g.OfType(launchTemplateT) {
		list, _ := mocks.Reveal(r.In("blockDeviceMappings")).([]any)
		for i := range list {
			p := fmt.Sprintf("blockDeviceMappings.%d.ebs", i)
			if r.In(p) != nil && r.Str(p+".encrypted") != "true" {
				out = append(out, flag(r, "block device %s is not encrypted", r.Str(fmt.Sprintf("blockDeviceMappings.%d.deviceName", i))))
			}
		}
	}
	for _, r := range g.OfType(volumeT) {
		if !r.Bool("encrypted") {
			out = append(out, flag(r, "volume is not encrypted"))
		}
	}
	return out
}

// WS011: no instance gets a public IP of its own.
func checkInstancePublicIP(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(instanceT) {
		v, set := mocks.Reveal(r.In("associatePublicIpAddress")).(bool)
		subnet := g.Ref(r.Str("subnetId"), subnetT)
		switch {
		case set && v:
			out = append(out, flag(r, "associatePublicIpAddress is true: hosts have private addresses only (the load balancers' Elastic IP is the stack's one public address)"))
		case !set && subnet != nil && subnet.Bool("mapPublicIpOnLaunch"):
			out = append(out, flag(r, "associatePublicIpAddress is not set and subnet %s maps public IPs on launch", subnet.Name))
		}
	}
	for _, r := range g.OfType(launchTemplateT) {
		list, _ := mocks.Reveal(r.In("networkInterfaces")).([]any)
		for i := range list {
			if r.Str(fmt.Sprintf("networkInterfaces.%d.associatePublicIpAddress", i)) == "true" {
				out = append(out, flag(r, "network interface %d associates a public IP", i))
			}
		}
	}
	return out
}

// WS012: no subnet gives public IPs to what is launched in it.
func checkSubnetPublicIP(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(subnetT) {
		if r.Bool("mapPublicIpOnLaunch") {
			out = append(out, flag(r, "mapPublicIpOnLaunch is true: every instance launched in it gets a public address"))
		}
	}
	return out
}

// eipUse classifies the Elastic IPs: a NAT gateway's, or attached to an
// instance (with the instance's tier).
type eipUse struct {
	EIP      *mocks.Resource
	NAT      bool
	Instance *mocks.Resource // the instance it is attached to, if known
}

func (g *Graph) elasticIPs() []eipUse {
	nat := map[string]bool{}
	for _, n := range g.OfType(natT) {
		nat[n.Str("allocationId")] = true
	}
	attached := map[string]string{} // allocation id → instance id
	for _, a := range g.OfType(eipAssocT) {
		attached[a.Str("allocationId")] = a.Str("instanceId")
	}
	var out []eipUse
	for _, e := range g.OfType(eipT) {
		alloc := str(e.Out("allocationId"))
		u := eipUse{EIP: e, NAT: nat[e.ID] || (alloc != "" && nat[alloc])}
		inst := e.Str("instance")
		if inst == "" {
			inst = attached[e.ID]
		}
		if inst == "" && alloc != "" {
			inst = attached[alloc]
		}
		u.Instance = g.Ref(inst, instanceT)
		out = append(out, u)
	}
	return out
}

// WS013: the only Elastic IPs are the load balancers' one and the NAT
// gateways'.
func checkElasticIPs(g *Graph) []Finding {
	var out []Finding
	var floating []*mocks.Resource
	for _, u := range g.elasticIPs() {
		switch {
		case u.NAT:
		case u.Instance != nil && g.Tier(u.Instance) == TierLB:
			floating = append(floating, u.EIP)
		case u.Instance != nil:
			out = append(out, flag(u.EIP, "gives instance %s (tier %q) a public address: only the load balancers have one", u.Instance.Name, g.Tier(u.Instance)))
		default:
			out = append(out, flag(u.EIP, "is neither a NAT gateway's nor attached to a load balancer"))
		}
	}
	for _, e := range floating[min(1, len(floating)):] {
		out = append(out, flag(e, "is a second Elastic IP on the load balancers: the site has one floating address (%s)", floating[0].Name))
	}
	return out
}

// WS014: the floating address belongs to keepalived once created.
func checkFloatingIPOwnership(g *Graph) []Finding {
	var out []Finding
	for _, u := range g.elasticIPs() {
		if u.NAT || u.Instance == nil || g.Tier(u.Instance) != TierLB || u.EIP.Str("instance") == "" {
			continue
		}
		if !contains(u.EIP.IgnoreChanges, "instance") {
			out = append(out, flag(u.EIP, "does not ignore changes to its instance (ignoreChanges %v): the next pulumi up would move the address back to %s after a failover",
				u.EIP.IgnoreChanges, u.Instance.Name))
		}
	}
	return out
}

// WS015: hosts have a role, detailed monitoring and no key pair.
func checkHostBasics(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(instanceT) {
		var problems []string
		if r.Str("iamInstanceProfile") == "" {
			problems = append(problems, "no instance profile (no Session Manager, no tier role)")
		}
		if !r.Bool("monitoring") {
			problems = append(problems, "detailed monitoring is off")
		}
		if k := r.Str("keyName"); k != "" {
			problems = append(problems, fmt.Sprintf("key pair %q (SSH keys; hosts are reached with Session Manager)", k))
		}
		if len(problems) > 0 {
			out = append(out, flag(r, "%s", strings.Join(problems, "; ")))
		}
	}
	return out
}

// secretPatterns look like credentials wherever they appear.
var secretPatterns = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "an AWS access key id"},
	{regexp.MustCompile(`-----BEGIN ([A-Z]+ )*PRIVATE KEY-----`), "a private key"},
	{regexp.MustCompile(`(?i)aws_secret_access_key\s*[=:]`), "an AWS secret access key"},
	// A literal value assigned to a password-like name. Values taken from
	// variables, commands or format strings ($X, ${X}, $(…), %s) are fine.
	{regexp.MustCompile(`(?i)\b[\w.-]*(password|passwd|passphrase|auth_pass|secret_key|secret_access_key|api_key|private_key|access_token|client_secret)["']?\s*[=:]\s*["']?[^\s"'$%{(<\\]{4,}`), "a password assigned in plain text"},
	{regexp.MustCompile(`(?im)^\s*auth_pass\s+[^\s$"'{]{4,}`), "a keepalived password in plain text"},
}

// hostTexts are the texts that reach hosts: user data and bucket objects
// (bundles), with where each comes from.
func (g *Graph) hostTexts() []hostText {
	var out []hostText
	for _, r := range g.OfType(instanceT, launchTemplateT) {
		if s := r.Str("userData"); s != "" {
			if r.Type == launchTemplateT {
				s = decodeUserData(s)
			}
			out = append(out, hostText{r, "userData", s})
		}
		if s := r.Str("userDataBase64"); s != "" {
			out = append(out, hostText{r, "userDataBase64", decodeUserData(s)})
		}
	}
	for _, r := range g.OfType(bucketObjectV2T, bucketObjectT) {
		if s := r.Str("content"); s != "" {
			out = append(out, hostText{r, "content", s})
		}
		if s := r.Str("contentBase64"); s != "" {
			out = append(out, hostText{r, "contentBase64", decodeUserData(s)})
		}
	}
	return out
}

type hostText struct {
	Res        *mocks.Resource
	Field, Txt string
}

// decodeUserData decodes base64 (and gzip) user data; text that is not
// base64 is returned as it is.
func decodeUserData(s string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if u, err := io.ReadAll(zr); err == nil {
				return string(u)
			}
		}
	}
	return string(b)
}

// WS016: no secret in user data or in a bundle.
func checkSecretsOnHosts(g *Graph) []Finding {
	pws := g.passwords()
	var out []Finding
	for _, t := range g.hostTexts() {
		var problems []string
		for _, pw := range pws {
			if strings.Contains(t.Txt, pw.Value) {
				problems = append(problems, "the generated password of "+pw.By.Name)
			}
		}
		for _, p := range secretPatterns {
			if p.re.MatchString(t.Txt) {
				problems = append(problems, p.what)
			}
		}
		if len(problems) > 0 {
			out = append(out, flag(t.Res, "%s holds %s: hosts read secrets from Secrets Manager, by ARN", t.Field, strings.Join(problems, ", ")))
		}
	}
	return out
}

// WS017: generated passwords exist only as Pulumi secrets.
func checkPlainPasswords(g *Graph) []Finding {
	var out []Finding
	for _, p := range g.OfType(passwordT) {
		if _, ok := p.Out("result").(mocks.Secret); !ok {
			out = append(out, flag(p, "result is not a Pulumi secret: it would be stored in plain text in the state"))
		}
	}
	pws := g.passwords()
	for _, r := range g.Resources {
		var where []string
		for _, pw := range pws {
			if r == pw.By {
				continue
			}
			where = append(where, mocks.FindPlain(r.Inputs, pw.Value, "inputs")...)
			where = append(where, mocks.FindPlain(r.Outputs, pw.Value, "outputs")...)
		}
		if len(where) > 0 {
			out = append(out, flag(r, "holds a generated password in plain text at %s: pass it as a secret (pulumi.ToSecret)", strings.Join(where, ", ")))
		}
	}
	return out
}

// WS018: each tier's hosts are spread over the zones; two load balancers.
func checkSpread(g *Graph) []Finding {
	zones := map[string]bool{}
	for _, s := range g.OfType(subnetT) {
		if z := s.Str("availabilityZone"); z != "" {
			zones[z] = true
		}
	}
	byTier := map[string][]*mocks.Resource{}
	for _, i := range g.OfType(instanceT) {
		if t := g.Tier(i); t != "" {
			byTier[t] = append(byTier[t], i)
		}
	}
	var out []Finding
	for _, tier := range []string{TierLB, TierWeb, TierApp} {
		hosts := byTier[tier]
		if len(hosts) == 0 {
			continue
		}
		anchor := hosts[0]
		for p := g.Parent(anchor); p != nil; p = g.Parent(p) {
			if componentTiers[p.Type] == tier {
				anchor = p
				break
			}
		}
		used := map[string]bool{}
		for _, h := range hosts {
			used[h.Str("availabilityZone")] = true
		}
		if tier == TierLB && len(hosts) != 2 {
			out = append(out, flag(anchor, "has %d load balancers: the cluster is two nodes, one holding the Elastic IP", len(hosts)))
		}
		if want := min(len(hosts), len(zones)); len(used) < want {
			out = append(out, flag(anchor, "%d %s hosts use %d zones (%s), want %d: one zone's failure would take more of the tier than needed",
				len(hosts), tier, len(used), strings.Join(sortedTiers(used), ", "), want))
		}
	}
	return out
}
