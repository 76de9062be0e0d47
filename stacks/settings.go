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
	Secrets      Secrets           `json:"secrets"`
	Bucket       Bucket            `json:"bucket"`
	Tags         map[string]string `json:"tags"`
}

// Bucket is webstack:bucket: who may write the stack's bucket.
type Bucket struct {
	// Writers are the IAM principals (aws:PrincipalArn values: role ARNs
	// with their path, user ARNs, an account root; or role/<path/><name>,
	// user/<name>, root in the stack's account) that may write and delete
	// the bucket's objects; the bucket policy denies it to every other
	// principal. Empty: the deploying principal, as sts:GetCallerIdentity
	// names it (a role session: its role). Set it when several principals
	// deploy the stack, or when previews run as another principal; it must
	// include the one that runs pulumi up.
	Writers []string `json:"writers"`
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
	Engine        string `json:"engine"`        // postgres or mysql
	EngineVersion string `json:"engineVersion"` // major (16, 8.0) or full version
	InstanceClass string `json:"instanceClass"` // db.*
	// AllocatedStorageGiB and MaxAllocatedStorageGiB (storage autoscaling
	// ceiling; 0 turns autoscaling off).
	AllocatedStorageGiB    int    `json:"allocatedStorageGiB"`
	MaxAllocatedStorageGiB int    `json:"maxAllocatedStorageGiB"`
	MultiAZ                bool   `json:"multiAz"`
	BackupRetentionDays    int    `json:"backupRetentionDays"`
	BackupWindow           string `json:"backupWindow"`      // hh24:mi-hh24:mi, UTC
	MaintenanceWindow      string `json:"maintenanceWindow"` // ddd:hh24:mi-ddd:hh24:mi, UTC
	DeletionProtection     bool   `json:"deletionProtection"`
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

// Secrets is webstack:secrets: who may read the stack's secrets besides the
// hosts that use them.
type Secrets struct {
	// Administrators are IAM principal ARNs (roles, users, root, or a role
	// session, which stands for its role) the secrets' resource policies let
	// read the values, as Pulumi does on refresh. Empty: the principal
	// running the program. List every principal that runs it (CI's deploy
	// and preview roles, a break-glass role), or each run rewrites the
	// policies for its own caller and locks the others out of refresh.
	Administrators []string `json:"administrators"`
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
