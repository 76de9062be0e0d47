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
	"github.com/foobar/webstack/stacks"
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

// eipUse classifies the Elastic IPs: a NAT gateway's, the load
// balancers' floating one (created by the load-balancer cluster), or
// attached to an instance.
type eipUse struct {
	EIP      *mocks.Resource
	NAT      bool
	Floating bool            // the load-balancer tier's own address
	Instance *mocks.Resource // the instance Pulumi attaches it to, if any
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
		u.Floating = !u.NAT && g.Tier(e) == TierLB && (u.Instance == nil || g.Tier(u.Instance) == TierLB)
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
		case u.Floating:
			floating = append(floating, u.EIP)
		case u.Instance != nil:
			out = append(out, flag(u.EIP, "gives instance %s (tier %q) a public address: only the load balancers have one", u.Instance.Name, g.Tier(u.Instance)))
		default:
			out = append(out, flag(u.EIP, "is neither a NAT gateway's nor the load balancers' floating address"))
		}
	}
	for _, e := range floating[min(1, len(floating)):] {
		out = append(out, flag(e, "is a second Elastic IP on the load balancers: the site has one floating address (%s)", floating[0].Name))
	}
	return out
}

// WS014: the floating address belongs to keepalived: Pulumi neither
// attaches it nor moves it back.
func checkFloatingIPOwnership(g *Graph) []Finding {
	var out []Finding
	for _, u := range g.elasticIPs() {
		if !u.Floating {
			continue
		}
		var problems []string
		if u.Instance != nil || u.EIP.Str("networkInterface") != "" {
			problems = append(problems, "Pulumi attaches it to a node: the MASTER node takes it, and the group replaces nodes")
		}
		for _, k := range []string{"instance", "networkInterface"} {
			if !contains(u.EIP.IgnoreChanges, k) {
				problems = append(problems, fmt.Sprintf("it does not ignore changes to %s (ignoreChanges %v): the next pulumi up would undo a failover", k, u.EIP.IgnoreChanges))
			}
		}
		if len(problems) > 0 {
			out = append(out, flag(u.EIP, "%s", strings.Join(problems, "; ")))
		}
	}
	return out
}

// WS015: hosts have a role, detailed monitoring and no key pair.
func checkHostBasics(g *Graph) []Finding {
	var out []Finding
	for _, r := range g.OfType(instanceT, launchTemplateT) {
		var problems []string
		profile, monitoring := r.Str("iamInstanceProfile"), r.Bool("monitoring")
		if r.Type == launchTemplateT {
			profile = r.Str("iamInstanceProfile.arn") + r.Str("iamInstanceProfile.name")
			monitoring = r.Bool("monitoring.enabled")
		}
		if profile == "" {
			problems = append(problems, "no instance profile (no Session Manager, no tier role)")
		}
		if !monitoring {
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

// WS018: each tier's group spans two zones or more in staging and prod;
// the load balancers are a pair.
func checkSpread(g *Graph) []Finding {
	var out []Finding
	for _, hg := range g.hostGroups() {
		if hg.Tier == TierLB && (hg.ASG.Int("minSize") != 2 || hg.ASG.Int("maxSize") != 2 || hg.ASG.Int("desiredCapacity") != 2) {
			out = append(out, flag(hg.ASG, "keeps %d to %d load balancers (desired %d): the cluster is two nodes, one holding the Elastic IP",
				hg.ASG.Int("minSize"), hg.ASG.Int("maxSize"), hg.ASG.Int("desiredCapacity")))
		}
		if (g.prodRules() || g.Environment == stacks.Staging) && len(hg.Zones) < 2 {
			out = append(out, flag(hg.ASG, "spans %d zone (%s) in %s: one zone's failure would take the whole tier", len(hg.Zones), strings.Join(hg.Zones, ", "), g.envName()))
		}
	}
	for _, i := range g.OfType(instanceT) {
		if t := g.Tier(i); t == TierLB || t == TierWeb || t == TierApp {
			out = append(out, flag(i, "is a standalone %s host: a tier's hosts are an Auto Scaling group, which replaces a dead host", t))
		}
	}
	return out
}

// WS041: in prod, replacing a host (a refresh, an unhealthy one) launches
// the new one first and keeps every host in service.
func checkReplacementsKeepCapacity(g *Graph) []Finding {
	if !g.prodRules() {
		return nil
	}
	var out []Finding
	for _, hg := range g.hostGroups() {
		var problems []string
		for _, p := range []string{"instanceRefresh.preferences", "instanceMaintenancePolicy"} {
			if min, max := hg.ASG.Int(p+".minHealthyPercentage"), hg.ASG.Int(p+".maxHealthyPercentage"); min < 100 || max <= 100 {
				problems = append(problems, fmt.Sprintf("%s keeps %d%% to %d%% healthy", p, min, max))
			}
		}
		if hg.ASG.In("instanceRefresh") == nil {
			problems = append(problems, "no instanceRefresh: a launch template change would reach new hosts only")
		}
		if len(problems) > 0 {
			out = append(out, flag(hg.ASG, "%s: %s replaces hosts only after their replacements are ready (min 100%%, max above 100%%)", strings.Join(problems, "; "), g.envName()))
		}
	}
	return out
}

// hooks are a group's lifecycle hooks (created with it or on their own):
// transition → the hook's default result.
func (g *Graph) hooks(asg *mocks.Resource) map[string]string {
	out := map[string]string{}
	list, _ := mocks.Reveal(asg.In("initialLifecycleHooks")).([]any)
	for i := range list {
		p := fmt.Sprintf("initialLifecycleHooks.%d.", i)
		out[asg.Str(p+"lifecycleTransition")] = asg.Str(p + "defaultResult")
	}
	for _, h := range g.OfType(lifecycleHookT) {
		if name := h.Str("autoscalingGroupName"); name == asg.Str("name") || name == asg.ID {
			out[h.Str("lifecycleTransition")] = h.Str("defaultResult")
		}
	}
	return out
}

// WS042: a host enters service only when ready, and leaves drained.
func checkLifecycleHooks(g *Graph) []Finding {
	var out []Finding
	for _, hg := range g.hostGroups() {
		hooks := g.hooks(hg.ASG)
		var problems []string
		switch r, ok := hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]; {
		case !ok:
			problems = append(problems, "no launch hook: a host would enter service before it is ready")
		case r != "ABANDON":
			problems = append(problems, fmt.Sprintf("the launch hook's default result is %q: a host that never gets ready would enter service (want ABANDON)", r))
		}
		if _, ok := hooks["autoscaling:EC2_INSTANCE_TERMINATING"]; !ok {
			problems = append(problems, "no terminate hook: a host would go before the tier in front stopped sending it requests")
		}
		if len(problems) > 0 {
			out = append(out, flag(hg.ASG, "%s", strings.Join(problems, "; ")))
		}
	}
	return out
}

// ownActions are what a host's agent may do to its own group only.
var ownActions = []string{"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"}

// WS043: hosts complete lifecycle actions and set health on their own
// group only.
func checkOwnGroupOnly(g *Graph) []Finding {
	own := map[string][]string{} // role URN → ARN patterns of its groups
	for _, hg := range g.hostGroups() {
		if hg.Role != nil {
			own[hg.Role.URN] = append(own[hg.Role.URN], ":autoScalingGroupName/"+hg.ASG.Str("name"))
		}
	}
	var out []Finding
	for _, p := range g.OfType(identityPolicyTypes...) {
		roles, others := g.policyHolders(p)
		for _, st := range parsePolicy(p.Str("policy")) {
			if st.Effect != "Allow" || !grantsAny(st.Actions, ownActions) {
				continue
			}
			if len(others) > 0 {
				out = append(out, flag(p, "%s lets %s manage Auto Scaling lifecycles or health: only a group's own hosts may", st.name(), strings.Join(others, ", ")))
			}
			for _, role := range roles {
				for _, res := range st.Resources {
					if !mayNameAGroup(res) {
						continue
					}
					if !matchesOwnGroup(res, own[role.URN]) {
						out = append(out, flag(p, "%s lets role %s manage lifecycles or health of %s: only of its own group (%s)", st.name(), role.Name, res, strings.Join(own[role.URN], ", ")))
					}
				}
			}
		}
	}
	return out
}

func grantsAny(actions, wanted []string) bool {
	for _, a := range actions {
		if a == "*" || a == "autoscaling:*" || contains(wanted, a) {
			return true
		}
	}
	return false
}

// mayNameAGroup reports whether a policy resource may match an Auto
// Scaling group's ARN.
func mayNameAGroup(resource string) bool {
	service := strings.Split(resource+":::", ":")[2]
	return resource == "*" || service == "autoscaling" || strings.ContainsAny(service, "*?")
}

func matchesOwnGroup(resource string, suffixes []string) bool {
	if !strings.HasPrefix(resource, "arn:") || !strings.Contains(resource, ":autoscaling:") {
		return false
	}
	for _, s := range suffixes {
		if strings.HasSuffix(resource, s) {
			return true
		}
	}
	return false
}
