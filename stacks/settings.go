// Package stacks holds the typed settings of one webstack environment: what
// the stack file says, with the defaults applied in one place (Defaults) and
// every problem reported at once (Validate), before any resource exists.
//
// Settings are read from Pulumi stack config. Each tier is one structured key
// in the project namespace (webstack:network, webstack:web, ...); a stack file
// sets only the fields that differ from Defaults, and Load merges them.
package stacks

// Environment is the kind of environment a stack is. It selects the rules
// Validate applies (see docs/SETTINGS.md, "Rules per environment").
type Environment string

// The environments webstack knows.
const (
	Dev     Environment = "dev"
	Staging Environment = "staging"
	Prod    Environment = "prod"
)

// Environments lists the known environments in promotion order.
var Environments = []Environment{Dev, Staging, Prod}

// NAT gateway strategies for the private subnets.
const (
	NATNone   = "none"   // no NAT: private hosts reach AWS through VPC endpoints only
	NATSingle = "single" // one NAT gateway in the first AZ (a single point of failure)
	NATPerAZ  = "perAz"  // one NAT gateway per AZ
)

// Database engines.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// Settings is everything one environment needs: the network, each tier of
// the diagram, the database, DNS and tags.
type Settings struct {
	Project     string      `json:"-"` // Pulumi project name, the config namespace
	Stack       string      `json:"-"` // Pulumi stack name
	Region      string      `json:"-"` // aws:region
	Environment Environment `json:"-"` // webstack:environment (default: the stack name)
	// PermissionsBoundary is webstack:permissionsBoundary: the ARN of the
	// managed policy every IAM role the program creates (the hosts' and
	// the flow logs') carries as its permissions boundary; "" for none.
	// scripts/bootstrap-ci-roles.sh makes one per environment, and the
	// deploy role it makes may create roles only with it.
	PermissionsBoundary string `json:"-"`

	Network      Network           `json:"network"`
	LoadBalancer LoadBalancer      `json:"loadBalancer"`
	Web          Web               `json:"web"`
	App          App               `json:"app"`
	Database     Database          `json:"database"`
	DNS          DNS               `json:"dns"`
	Operators    Operators         `json:"operators"`
	Monitoring   Monitoring        `json:"monitoring"`
	Tags         map[string]string `json:"tags"`
}

// Operators is webstack:operators: the IAM principals that run Pulumi for
// the stack, as the stack's resource policies name them. Each entry is a
// principal's ARN (a role's with its path, a user's, an account root; * and
// ? match as in ArnLike) or, in the stack's account, role/<path/><name>,
// user/<name> or root.
type Operators struct {
	// Deploy run pulumi up and destroy: only they may write and delete the
	// bucket's objects (the hosts' bundles and releases), and they may read
	// the secrets. Empty: whoever runs the program (a role session: its
	// role). When set, pulumi up by anyone else is refused before anything
	// is registered.
	Deploy []string `json:"deploy"`
	// Preview only preview (pulumi preview --refresh reads the secrets'
	// values): they may read the secrets, not write the bucket.
	Preview []string `json:"preview"`
}

// Network is webstack:network: the VPC and its subnets.
type Network struct {
	// CIDR of the VPC, IPv4, between /16 and /22.
	CIDR string `json:"cidr"`
	// ZoneIDs are the availability zones to spread over, by zone ID
	// (use1-az1), at least 2: a zone ID names the same physical zone in
	// every account, a zone name does not. Committed in the stack file; a
	// change is a reviewed change of the stack's zones. Each must offer
	// every instance type and interface endpoint the stack uses.
	ZoneIDs []string `json:"zoneIds"`
	// AvailabilityZones are the names of ZoneIDs in this account, in their
	// order, filled in by ResolveZones. Not a setting: a stack file that
	// sets it is told to list zoneIds instead.
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
	// NATGateways is none, single or perAz.
	NATGateways string `json:"natGateways"`
	// FlowLogRetentionDays is how long VPC flow logs are kept in CloudWatch
	// Logs; one of the values CloudWatch accepts.
	FlowLogRetentionDays int `json:"flowLogRetentionDays"`
	// InterfaceEndpoints are the AWS services reached through interface VPC
	// endpoints (short names such as ec2, ssm). ec2 and secretsmanager are
	// required: the load balancers have no public IP of their own.
	InterfaceEndpoints []string `json:"interfaceEndpoints"`
}

// Host is what every tier's EC2 hosts share.
type Host struct {
	// InstanceType, e.g. t4g.small; its CPU architecture picks the image.
	InstanceType string `json:"instanceType"`
	// AMI pins an image id; empty means the latest Amazon Linux 2023 for the
	// instance type's architecture, kept (not replaced) on later updates.
	AMI string `json:"ami"`
	// RootVolumeGiB is the size of the encrypted gp3 root volume.
	RootVolumeGiB int `json:"rootVolumeGiB"`
}

// LoadBalancer is webstack:loadBalancer: the two HAProxy nodes.
type LoadBalancer struct {
	Host
	// AllowedCIDRs and AllowedIPv6CIDRs may reach ports 80 and 443.
	AllowedCIDRs     []string `json:"allowedCidrs"`
	AllowedIPv6CIDRs []string `json:"allowedIpv6Cidrs"`
	// CertificateSecret names a Secrets Manager secret (name or ARN) whose
	// value is the site's PEM (certificate, chain and key). Empty: HTTP only.
	CertificateSecret string `json:"certificateSecret"`
}

// Capacity is how many hosts a tier's Auto Scaling group keeps.
type Capacity struct {
	// Min and Max bound the group; Desired is how many it runs (with a
	// scaling policy, only the first count: the policy moves it).
	Min     int `json:"min"`
	Max     int `json:"max"`
	Desired int `json:"desired"`
	// Scaling is an optional target-tracking policy.
	Scaling Scaling `json:"scaling"`
}

// Scaling is a target-tracking policy: the group adds and removes hosts to
// keep Metric near Target.
type Scaling struct {
	// Metric is "" (no policy) or cpu (the group's average CPU).
	Metric string `json:"metric"`
	// Target is the metric's target, in percent.
	Target int `json:"target"`
}

// Web is webstack:web: the nginx hosts.
type Web struct {
	Host
	Capacity
	Port int `json:"port"`
}

// App is webstack:app: the application hosts.
type App struct {
	Host
	Capacity
	Port int `json:"port"`
	// Artifact is a path to your own Linux executable to run instead of the
	// default application built from this repository. Empty: the default.
	Artifact string `json:"artifact"`
}

// Database is webstack:database: the RDS instance.
type Database struct {
	Engine string `json:"engine"` // postgres or mysql
	// EngineVersion is the major version only (16, 8.0): AWS applies minor
	// upgrades in the maintenance window. Raising it upgrades the instance
	// in place (docs/DATABASE.md, "Major version upgrade").
	EngineVersion string `json:"engineVersion"`
	InstanceClass string `json:"instanceClass"` // db.*
	// AllocatedStorageGiB and MaxAllocatedStorageGiB (storage autoscaling
	// ceiling; 0 turns autoscaling off).
	AllocatedStorageGiB    int  `json:"allocatedStorageGiB"`
	MaxAllocatedStorageGiB int  `json:"maxAllocatedStorageGiB"`
	MultiAZ                bool `json:"multiAz"`
	// ApplyImmediately applies class, storage, Multi-AZ, parameter group
	// and version changes during pulumi up; false leaves them pending
	// until the maintenance window (each preview shows them until then).
	ApplyImmediately bool `json:"applyImmediately"`
	// LogRetentionDays is how long the log groups of the engine's log
	// exports keep events; one of the values CloudWatch accepts.
	LogRetentionDays    int    `json:"logRetentionDays"`
	BackupRetentionDays int    `json:"backupRetentionDays"`
	BackupWindow        string `json:"backupWindow"`      // hh24:mi-hh24:mi, UTC
	MaintenanceWindow   string `json:"maintenanceWindow"` // ddd:hh24:mi-ddd:hh24:mi, UTC
	DeletionProtection  bool   `json:"deletionProtection"`
	// SkipFinalSnapshot deletes without a final snapshot; otherwise the
	// snapshot is named FinalSnapshotPrefix plus a random suffix.
	SkipFinalSnapshot   bool   `json:"skipFinalSnapshot"`
	FinalSnapshotPrefix string `json:"finalSnapshotPrefix"`
	// Protect sets Pulumi's protect option: pulumi refuses to delete or
	// replace the database until it is turned off.
	Protect             bool   `json:"protect"`
	Name                string `json:"name"`     // database name
	Username            string `json:"username"` // master user
	Port                int    `json:"port"`     // 0: the engine's default
	PerformanceInsights bool   `json:"performanceInsights"`
}

// DNS is webstack:dns: the site's name and an optional Route 53 record.
type DNS struct {
	// Domain is the site's domain; the site is www.<domain>.
	Domain string `json:"domain"`
	// HostedZoneID, when set, gets an A record www.<domain> pointing at the
	// load balancers' Elastic IP.
	HostedZoneID string `json:"hostedZoneId"`
}

// SiteName is the host name the site answers to: www.<domain>.
func (s *Settings) SiteName() string { return "www." + s.DNS.Domain }

// DatabasePort is the configured port or the engine's default.
func (d Database) DatabasePort() int {
	if d.Port != 0 {
		return d.Port
	}
	if d.Engine == MySQL {
		return 3306
	}
	return 5432
}
