package stacks

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/instancetype"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/internal/redact"
)

// Limits webstack and AWS put on settings.
const (
	MinVPCPrefix = 16 // AWS's largest VPC
	MaxVPCPrefix = 22 // smallest VPC that leaves room for every tier (docs/NETWORK.md)
	MaxHosts     = 20 // hosts per tier
	maxUserTags  = 46 // AWS allows 50 tags; webstack sets Name, Project, Environment, ManagedBy
)

// FlowLogRetentionValues are the retention periods CloudWatch Logs accepts
// (its "never expire" is deliberately not offered: logs need a retention).
var FlowLogRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// RequiredEndpoints are the interface endpoints the stack cannot work
// without: the hosts have no public IP of their own, and their agents
// reach Auto Scaling and EC2 (to discover the tier behind, complete
// lifecycle hooks, mark themselves unhealthy; the load balancers also to
// take over the Elastic IP) and Secrets Manager (for passwords) through
// them; and CloudWatch Logs and CloudWatch (logs, monitoring), where their
// CloudWatch agents ship the logs and host metrics.
var RequiredEndpoints = []string{"autoscaling", "ec2", "logs", "monitoring", "secretsmanager"}

// Rules per environment; docs/SETTINGS.md explains each.
const (
	ProdMinBackupDays    = 14
	StagingMinBackupDays = 7
)

var (
	amiRe        = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	endpointRe   = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*$`)
	zoneIDRe     = regexp.MustCompile(`^Z[A-Z0-9]{1,32}$`)
	zoneIDFormRe = regexp.MustCompile(`^[a-z]{2,}[0-9]+-az[0-9]+$`)
	labelRe      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tagRe        = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// reservedTags are set by webstack on every resource.
var reservedTags = []string{"Name", "Project", "Environment", "ManagedBy"}

// validator collects problems under the project's namespace.
type validator struct {
	ns       string
	problems Problems
}

func (v *validator) add(key string, value any, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: v.ns + ":" + key, Value: value, Message: fmt.Sprintf(format, args...)})
}

// Validate checks every setting and returns all problems found, each naming
// the key, the bad value and what is allowed.
func (s *Settings) Validate() Problems {
	v := &validator{ns: s.Project}
	if s.Region == "" {
		v.problems = append(v.problems, Problem{Key: "aws:region", Value: nil, Message: "must be set, e.g. pulumi config set aws:region us-east-1"})
	} else if !inputs.Region.Match(s.Region) {
		v.problems = append(v.problems, Problem{Key: "aws:region", Value: s.Region, Message: "must be an AWS region name such as us-east-1 (a plain string, not a list)"})
	} else if p := RegionPartition(s.Region); !slices.Contains(SupportedPartitions, p) {
		v.problems = append(v.problems, Problem{Key: "aws:region", Value: s.Region, Message: fmt.Sprintf(
			"is in the %s partition, which webstack does not support: its interface endpoint services are not named com.amazonaws.<region>.<service> (cn.com.amazonaws.* in China) and its package repositories differ; choose a region of the %s partitions", p, strings.Join(SupportedPartitions, " or "))})
	}
	if !slices.Contains(Environments, s.Environment) {
		v.add("environment", string(s.Environment), "must be one of dev, staging, prod (default: the stack name)")
	}
	if host.CheckPermissionsBoundary(s.PermissionsBoundary) != nil {
		v.add("permissionsBoundary", s.PermissionsBoundary,
			"must be an IAM managed policy ARN, arn:PARTITION:iam::ACCOUNT:policy/NAME (scripts/bootstrap-ci-roles.sh prints each stack's), or empty for none")
	}
	s.validateNetwork(v)
	s.validateLoadBalancer(v)
	validateHost(v, "web", s.Web.Host)
	validateCapacity(v, "web", s.Web.Capacity)
	validatePort(v, "web.port", s.Web.Port)
	validateHost(v, "app", s.App.Host)
	validateCapacity(v, "app", s.App.Capacity)
	validatePort(v, "app.port", s.App.Port)
	if s.App.Artifact != "" {
		dir, err := os.Getwd()
		arch, archErr := Architecture(s.App.InstanceType)
		if err == nil && archErr == nil {
			if msg := CheckArtifact(dir, s.App.Artifact, arch); msg != "" {
				v.add("app.artifact", s.App.Artifact, "%s", msg)
			}
		}
	}
	s.validateDatabase(v)
	s.validateDNS(v)
	for _, l := range []struct {
		key        string
		principals []string
	}{{"operators.deploy", s.Operators.Deploy}, {"operators.preview", s.Operators.Preview}} {
		for i, p := range l.principals {
			// The account does not matter for the form: the program
			// expands relative entries into the credentials' account.
			if !inputs.PrincipalPattern.Match(inputs.ExpandPrincipal(p, "aws", "123456789012")) {
				v.add(fmt.Sprintf("%s[%d]", l.key, i), p, "must be %s, or role/<path/><name>, user/<name> or root in the stack's account", inputs.PrincipalPattern.Allowed())
			}
		}
	}
	s.validateTags(v)
	s.validateMonitoring(v)
	s.validateEnvironmentRules(v)
	return v.problems
}

func (s *Settings) validateNetwork(v *validator) {
	n := s.Network
	if p, err := netip.ParsePrefix(n.CIDR); err != nil || !p.Addr().Is4() {
		v.add("network.cidr", n.CIDR, "must be an IPv4 CIDR block such as 10.0.0.0/16")
	} else if p != p.Masked() {
		v.add("network.cidr", n.CIDR, "has host bits set; did you mean %s?", p.Masked())
	} else if p.Bits() < MinVPCPrefix || p.Bits() > MaxVPCPrefix {
		v.add("network.cidr", n.CIDR, "must be between /%d and /%d (smaller VPCs leave no room for every tier in every AZ)", MinVPCPrefix, MaxVPCPrefix)
	} else if !isPrivate(p) {
		v.add("network.cidr", n.CIDR, "must be a private range: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10")
	}

	if len(n.AvailabilityZones) > 0 {
		v.add("network.availabilityZones", n.AvailabilityZones, "is replaced by network.zoneIds: zone names map to different physical zones in each account; list the zones by ID (such as use1-az1), which the program maps to this account's names")
	}
	ids := n.ZoneIDs
	if len(ids) == 1 {
		v.add("network.zoneIds", ids, "must list at least 2 zone IDs")
	}
	if len(ids) > MaxZones {
		v.add("network.zoneIds", ids, "lists %d zones; at most %d", len(ids), MaxZones)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		key := fmt.Sprintf("network.zoneIds[%d]", i)
		if seen[id] {
			v.add(key, id, "is listed twice; each zone may appear once")
		}
		seen[id] = true
		if !zoneIDFormRe.MatchString(id) {
			v.add(key, id, "must be an availability zone ID <region-prefix>-az<N>, such as use1-az1 (aws ec2 describe-availability-zones shows each zone's ZoneId)")
		}
	}

	if !slices.Contains([]string{NATNone, NATSingle, NATPerAZ}, n.NATGateways) {
		v.add("network.natGateways", n.NATGateways, "must be one of none, single, perAz")
	}
	if !slices.Contains(FlowLogRetentionValues, n.FlowLogRetentionDays) {
		v.add("network.flowLogRetentionDays", n.FlowLogRetentionDays, "must be a retention CloudWatch Logs accepts: %s", joinInts(FlowLogRetentionValues))
	}
	seenEP := map[string]bool{}
	for i, ep := range n.InterfaceEndpoints {
		key := fmt.Sprintf("network.interfaceEndpoints[%d]", i)
		if !endpointRe.MatchString(ep) || strings.HasPrefix(ep, "com.amazonaws.") {
			v.add(key, ep, "must be a service's short name such as ec2 or ssm (the part after com.amazonaws.<region>.)")
		}
		if seenEP[ep] {
			v.add(key, ep, "is listed twice")
		}
		seenEP[ep] = true
	}
	for _, req := range RequiredEndpoints {
		if !seenEP[req] {
			v.add("network.interfaceEndpoints", n.InterfaceEndpoints, "must include %q: the load balancers have no public IP of their own and reach it through the endpoint", req)
		}
	}
}

// ZoneSlot returns the position of an availability zone in the subnet layout:
// its letter (a=0 … h=7). Keying subnets by the zone's own letter, not by
// its position in a list, keeps every subnet's address when zones are added
// or removed.
func ZoneSlot(region, az string) (int, error) {
	if region != "" && !strings.HasPrefix(az, region) {
		return 0, fmt.Errorf("must be a zone of region %s, such as %sa", region, region)
	}
	if len(az) < 2 {
		return 0, fmt.Errorf("must be a zone name such as us-east-1a")
	}
	slot, err := network.ZoneSlot(az)
	if err != nil {
		return 0, fmt.Errorf("must end in a zone letter a to h (the network's layout has room for %d zones)", network.MaxZones)
	}
	return slot, nil
}

func isPrivate(p netip.Prefix) bool {
	for _, r := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"} {
		rp := netip.MustParsePrefix(r)
		if rp.Bits() <= p.Bits() && rp.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func (s *Settings) validateLoadBalancer(v *validator) {
	lb := s.LoadBalancer
	validateHost(v, "loadBalancer", lb.Host)
	var blocks []netip.Prefix
	var at []int
	for i, c := range lb.AllowedCIDRs {
		key := fmt.Sprintf("loadBalancer.allowedCidrs[%d]", i)
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().Is4() || p != p.Masked() {
			v.add(key, c, "must be an IPv4 CIDR block with no host bits set, such as 0.0.0.0/0 or 203.0.113.0/24")
			continue
		}
		// Each block is one firewall rule named by it: a duplicate would
		// be a second resource of the same name, an overlap a rule that
		// opens nothing the other does not.
		for j, q := range blocks {
			other := lb.AllowedCIDRs[at[j]]
			switch {
			case p == q:
				v.add(key, c, "is listed twice (also allowedCidrs[%d]); list each block once", at[j])
			case q.Bits() <= p.Bits() && q.Contains(p.Addr()):
				v.add(key, c, "lies inside allowedCidrs[%d] = %s, which already allows it; list each address once", at[j], other)
			case p.Bits() < q.Bits() && p.Contains(q.Addr()):
				v.add(key, c, "contains allowedCidrs[%d] = %s; list each address once (drop the smaller block)", at[j], other)
			}
		}
		blocks, at = append(blocks, p), append(at, i)
	}
	// The VPC and the Elastic IP are IPv4-only: an IPv6 client can never
	// reach the site, so a rule for one would open nothing but a reviewer's
	// doubt.
	if len(lb.AllowedIPv6CIDRs) > 0 {
		v.add("loadBalancer.allowedIpv6Cidrs", lb.AllowedIPv6CIDRs, "must be empty: the site's address is IPv4 only (the VPC has no IPv6), so no IPv6 client can reach it")
	}
	if len(lb.AllowedCIDRs) == 0 {
		v.add("loadBalancer.allowedCidrs", lb.AllowedCIDRs, "no client could reach the site: allow at least one IPv4 CIDR block")
	}
	if lb.CertificateSecret != "" && !inputs.SecretID.Match(lb.CertificateSecret) {
		v.add("loadBalancer.certificateSecret", lb.CertificateSecret, "must be %s", inputs.SecretID.Allowed())
	} else if name := secretName(lb.CertificateSecret); lb.CertificateSecret != "" && slices.ContainsFunc(ProgramSecrets, func(own string) bool { return strings.HasPrefix(name, own) }) {
		v.add("loadBalancer.certificateSecret", lb.CertificateSecret, "names a secret the program makes itself (%s): the load balancers would be given its value, the database's password; name the secret holding the site's PEM", strings.Join(ProgramSecrets, ", "))
	}
}

// ProgramSecrets are the names (before Pulumi's random suffix) of the
// secrets the program makes: the database's credentials, the load
// balancers' passwords. No setting may point at them.
var ProgramSecrets = []string{"database" + database.CredentialsSuffix, "lb-secrets"}

// secretName is a secret's name: the part of an ARN after :secret:.
func secretName(id string) string {
	if _, name, ok := strings.Cut(id, ":secret:"); ok {
		return name
	}
	return id
}

func validateHost(v *validator, tier string, h Host) {
	if _, err := Architecture(h.InstanceType); err != nil {
		v.add(tier+".instanceType", h.InstanceType, "%v", err)
	}
	if h.AMI != "" && !amiRe.MatchString(h.AMI) {
		v.add(tier+".ami", h.AMI, "must be an image id such as ami-0123456789abcdef0, or empty for the latest Amazon Linux 2023")
	}
	if h.RootVolumeGiB < 8 || h.RootVolumeGiB > 16384 {
		v.add(tier+".rootVolumeGiB", h.RootVolumeGiB, "must be between 8 (the Amazon Linux 2023 image) and 16384")
	}
}

// Architecture returns the CPU architecture of an EC2 instance type
// (arm64 or x86_64), or why the name is not an instance type.
func Architecture(instanceType string) (string, error) {
	return instancetype.Architecture(instanceType)
}

// Scaling limits: a target below 10 % or above 90 % keeps a group at one
// of its bounds.
const (
	MinScalingTarget = 10
	MaxScalingTarget = 90
)

func validateCapacity(v *validator, tier string, c Capacity) {
	if c.Min < 1 || c.Min > MaxHosts {
		v.add(tier+".min", c.Min, "must be between 1 and %d (a tier with no host serves nothing)", MaxHosts)
	}
	if c.Max < 1 || c.Max > MaxHosts {
		v.add(tier+".max", c.Max, "must be between 1 and %d", MaxHosts)
	} else if c.Max < c.Min {
		v.add(tier+".max", c.Max, "must be at least min (%d)", c.Min)
	}
	if c.Desired < c.Min || c.Desired > c.Max {
		v.add(tier+".desired", c.Desired, "must be between min (%d) and max (%d)", c.Min, c.Max)
	}
	switch c.Scaling.Metric {
	case "":
	case "cpu":
		if c.Scaling.Target < MinScalingTarget || c.Scaling.Target > MaxScalingTarget {
			v.add(tier+".scaling.target", c.Scaling.Target, "must be a percentage between %d and %d", MinScalingTarget, MaxScalingTarget)
		}
	default:
		v.add(tier+".scaling.metric", c.Scaling.Metric, `must be "cpu" (the group's average CPU), or "" for no scaling policy`)
	}
}

func validatePort(v *validator, key string, p int) {
	switch {
	case p < 1 || p > 65535:
		v.add(key, p, "must be a TCP port between 1 and 65535")
	case p == SSHPort:
		v.add(key, p, "must not be 22, SSH's port: the hosts have no SSH and the guardrails refuse any rule to port 22 (reach hosts with SSM Session Manager)")
	}
}

// SupportedPartitions are the partitions whose regions a stack may use:
// the program names every ARN in the partition aws.GetPartition reports,
// and their endpoint services are com.amazonaws.<region>.<service>.
var SupportedPartitions = []string{"aws", "aws-us-gov"}

// SSHPort is refused for every service: no rule may open it.
const SSHPort = 22

// RegionPartition is the AWS partition of a region name: aws-cn for cn-*,
// aws-us-gov for us-gov-*, aws-iso* for the isolated regions, else aws.
func RegionPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	}
	return "aws"
}

func (s *Settings) validateDatabase(v *validator) {
	d := s.Database
	// The component leaves an empty window to AWS; a stack names both, so
	// that backups and maintenance never land in its busy hours by chance.
	if d.BackupWindow == "" {
		v.add("database.backupWindow", d.BackupWindow, "must be hh24:mi-hh24:mi in UTC, at least 30 minutes long, such as 03:00-04:00")
	}
	if d.MaintenanceWindow == "" {
		v.add("database.maintenanceWindow", d.MaintenanceWindow, "must be ddd:hh24:mi-ddd:hh24:mi in UTC, at least 30 minutes long, such as sun:04:30-sun:05:30")
	}
	// Every other rule is the component's: it refuses the same whoever
	// calls it, and each of its fields is a key here.
	for _, p := range d.ComponentArgs().Problems() {
		v.add(databaseKey(p.Field), p.Value, "%s", p.Allowed)
	}
}

// databaseKey is the key of a database.Args field: its JSON name in
// webstack:database (AllocatedStorageGiB → database.allocatedStorageGiB).
func databaseKey(field string) string {
	return "database." + strings.ToLower(field[:1]) + field[1:]
}

func (s *Settings) validateDNS(v *validator) {
	d := s.DNS
	labels := strings.Split(d.Domain, ".")
	ok := len(labels) >= 2 && len(d.Domain) <= 249
	for _, l := range labels {
		ok = ok && labelRe.MatchString(l)
	}
	if !ok {
		v.add("dns.domain", d.Domain, "must be a lower-case domain name such as foobar.com (the site is www.<domain>)")
	} else if labels[0] == "www" {
		ok = false
		v.add("dns.domain", d.Domain, "must not start with www.: the site is www.<domain>, so this would serve www.%s; write %s", d.Domain, strings.TrimPrefix(d.Domain, "www."))
	}
	if d.HostedZoneID != "" && !zoneIDRe.MatchString(d.HostedZoneID) {
		v.add("dns.hostedZoneId", d.HostedZoneID, "must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, or empty for no DNS record")
	}
	// Stacks that share a hosted zone must not write the same record: the
	// second would fail to create it, or (had it overwritten it) point
	// prod's name at another stack. Prod owns www.<domain>; every other
	// stack that writes a record names itself in its domain.
	if d.HostedZoneID != "" && s.Environment != Prod && ok && labels[0] != s.Stack {
		v.add("dns.domain", d.Domain, "a %s stack that writes a DNS record (dns.hostedZoneId is set) must use a domain of its own, starting with its stack name, such as %s.%s, so that it never writes prod's www.%s", s.Environment, s.Stack, d.Domain, d.Domain)
	}
}

func (s *Settings) validateTags(v *validator) {
	if len(s.Tags) > maxUserTags {
		v.add("tags", len(s.Tags), "at most %d tags (AWS allows 50; webstack sets %s)", maxUserTags, strings.Join(reservedTags, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		val := s.Tags[k]
		key := "tags." + redact.Name(k)
		switch {
		case slices.Contains(reservedTags, k):
			v.add(key, val, "is set by webstack on every resource; choose another key")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.add(key, val, "keys starting with aws: are reserved by AWS")
		case len(k) < 1 || len(k) > 128 || !tagRe.MatchString(k):
			v.add(key, val, "tag keys must be 1 to 128 letters, digits, spaces or _ . : / = + - @")
		case len(val) > 256 || !tagRe.MatchString(val):
			v.add(key, val, "tag values must be at most 256 letters, digits, spaces or _ . : / = + - @")
		}
	}
}

// validateEnvironmentRules applies the rules that depend on the kind of
// environment (docs/SETTINGS.md, "Rules per environment").
func (s *Settings) validateEnvironmentRules(v *validator) {
	d := s.Database
	switch s.Environment {
	case Prod:
		if s.Network.NATGateways == NATSingle {
			v.add("network.natGateways", s.Network.NATGateways, "prod must not depend on one AZ's NAT gateway: use perAz (or none, with VPC endpoints only)")
		}
		if s.Web.Min < 2 {
			v.add("web.min", s.Web.Min, "prod keeps at least 2 web servers, in different zones")
		}
		if s.App.Min < 2 {
			v.add("app.min", s.App.Min, "prod keeps at least 2 application servers, in different zones")
		}
		if !d.MultiAZ {
			v.add("database.multiAz", d.MultiAZ, "prod needs a Multi-AZ database")
		}
		if !d.DeletionProtection {
			v.add("database.deletionProtection", d.DeletionProtection, "prod needs deletion protection")
		}
		if d.SkipFinalSnapshot {
			v.add("database.skipFinalSnapshot", d.SkipFinalSnapshot, "prod needs a final snapshot on delete")
		}
		if !d.Protect {
			v.add("database.protect", d.Protect, "prod needs Pulumi's protect on the database")
		}
		if d.BackupRetentionDays < ProdMinBackupDays {
			v.add("database.backupRetentionDays", d.BackupRetentionDays, "prod keeps backups at least %d days", ProdMinBackupDays)
		}
	case Staging:
		if d.BackupRetentionDays < StagingMinBackupDays {
			v.add("database.backupRetentionDays", d.BackupRetentionDays, "staging keeps backups at least %d days", StagingMinBackupDays)
		}
	}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
