// Package stacks holds the typed settings of one webstack environment: what
// the stack file says, with the defaults applied in one place (Defaults) and
// every problem reported at once (Validate), before any resource exists.
//
// Settings are read from Pulumi stack config. Each tier is one structured key
// in the project namespace (webstack:network, webstack:web, ...); a stack file
// sets only the fields that differ from Defaults, and Load merges them.
package stacks

import (
	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/network"
)

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

// NAT gateway strategies for the private subnets (network owns them).
const (
	NATNone   = network.NATNone   // no NAT: private hosts reach AWS through VPC endpoints only
	NATSingle = network.NATSingle // one NAT gateway in the first AZ (a single point of failure)
	NATPerAZ  = network.NATPerAZ  // one NAT gateway per AZ
)

// Database engines (database owns them).
const (
	Postgres = database.Postgres
	MySQL    = database.MySQL
)

// Settings is everything one environment needs: the network, each tier of
// the diagram, the database, DNS and tags.
type Settings struct {
	Project     string      `json:"-"`                                                                                                                                                                                          // Pulumi project name, the config namespace
	Stack       string      `json:"-"`                                                                                                                                                                                          // Pulumi stack name
	Region      string      `json:"-"`                                                                                                                                                                                          // aws:region
	Environment Environment `json:"-" config:"environment" doc:"'dev', 'staging', 'prod'; default: the stack name. The stacks named dev, staging and prod must leave it unset or name themselves; any other stack must set it"` // webstack:environment (default: the stack name)
	// PermissionsBoundary is webstack:permissionsBoundary: the ARN of the
	// managed policy every IAM role the program creates (the hosts' and
	// the flow logs') carries as its permissions boundary; "" for none.
	// scripts/bootstrap-ci-roles.sh makes one per environment, and the
	// deploy role it makes may create roles only with it.
	PermissionsBoundary string `json:"-" config:"permissionsBoundary" doc:"'\"\"': none; or an IAM managed policy ARN of the stack’s own account and partition, 'arn:PARTITION:iam::ACCOUNT:policy/NAME', which every IAM role the program creates carries as its permissions boundary (see below)"`

	Network      Network           `json:"network" doc:"the VPC and its subnets"`
	LoadBalancer LoadBalancer      `json:"loadBalancer" doc:"the two HAProxy nodes"`
	Web          Web               `json:"web" doc:"the nginx web servers’ Auto Scaling group"`
	App          App               `json:"app" doc:"the application servers’ Auto Scaling group"`
	Database     Database          `json:"database" doc:"the RDS database"`
	DNS          DNS               `json:"dns" doc:"the site’s name and an optional Route 53 record"`
	Operators    Operators         `json:"operators" doc:"who runs Pulumi for the stack"`
	Monitoring   Monitoring        `json:"monitoring" secret:"allowed" doc:"who is told when the site hurts, logs, the health check and the alarms’ thresholds; the one key that may be set with '--secret' (its webhooks may carry tokens)"`
	Tags         map[string]string `json:"tags" doc:"up to 46 tags; not 'Name', 'Project', 'Environment', 'ManagedBy', nor 'aws:*'"`
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
	Deploy []string `json:"deploy" doc:"IAM principals that run 'pulumi up' and 'destroy' ('[]': whoever runs the program); see below"`
	// Preview only preview (pulumi preview --refresh reads the secrets'
	// values): they may read the secrets, not write the bucket.
	Preview []string `json:"preview" doc:"IAM principals that only preview; see below"`
}

// Network is webstack:network: the VPC and its subnets.
type Network struct {
	// CIDR of the VPC, IPv4, between /16 and /22.
	CIDR string `json:"cidr" doc:"IPv4, private range (10/8, 172.16/12, 192.168/16, 100.64/10), no host bits; prefix '/16' to '/22'"`
	// ZoneIDs are the availability zones to spread over, by zone ID
	// (use1-az1), at least 2: a zone ID names the same physical zone in
	// every account, a zone name does not. Committed in the stack file; a
	// change is a reviewed change of the stack's zones. Each must offer
	// every instance type and interface endpoint the stack uses.
	ZoneIDs []string `json:"zoneIds" doc:"availability zone IDs ('use1-az1'), 2 to 8, distinct, each offering every instance type of the hosts and every 'interfaceEndpoints' service; '[]' is refused, the error lists the zone IDs that qualify (docs/NETWORK.md)"`
	// AvailabilityZones are the names of ZoneIDs in this account, in their
	// order, filled in by ResolveZones. Not a setting: a stack file that
	// sets it is told to list zoneIds instead.
	AvailabilityZones []string `json:"availabilityZones,omitempty" doc:"refused: zone names differ per account; list 'zoneIds'"`
	// NATGateways is none, single or perAz.
	NATGateways string `json:"natGateways" doc:"'none', 'single', 'perAz' (prod: not 'single'). Nothing webstack runs needs the internet; choose one for an application that calls out"`
	// FlowLogRetentionDays is how long VPC flow logs are kept in CloudWatch
	// Logs; one of the values CloudWatch accepts.
	FlowLogRetentionDays int `json:"flowLogRetentionDays" doc:"a CloudWatch Logs retention: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"`
	// InterfaceEndpoints are the AWS services reached through interface VPC
	// endpoints (short names such as ec2, ssm). ec2 and secretsmanager are
	// required: the load balancers have no public IP of their own.
	InterfaceEndpoints []string `json:"interfaceEndpoints" doc:"service short names ('ssm', not 'com.amazonaws.…'), distinct; must include 'autoscaling', 'ec2' and 'secretsmanager'"`
}

// Host is what every tier's EC2 hosts share.
type Host struct {
	// InstanceType, e.g. t4g.small; its CPU architecture picks the image.
	InstanceType string `json:"instanceType" doc:"an EC2 instance type offered in every zone; its architecture picks the image"`
	// AMI pins an image id; empty means the latest Amazon Linux 2023 for the
	// instance type's architecture, kept (not replaced) on later updates.
	AMI string `json:"ami" doc:"'\"\"': the latest Amazon Linux 2023, kept on later updates; or 'ami-…' of the instance type’s architecture"`
	// RootVolumeGiB is the size of the encrypted gp3 root volume.
	RootVolumeGiB int `json:"rootVolumeGiB" doc:"GiB of the encrypted gp3 root volume" range:"8,16384"`
}

// LoadBalancer is webstack:loadBalancer: the two HAProxy nodes.
type LoadBalancer struct {
	Host
	// AllowedCIDRs and AllowedIPv6CIDRs may reach ports 80 and 443.
	AllowedCIDRs     []string `json:"allowedCidrs" doc:"IPv4 CIDR blocks that may reach 80 (443 with a certificate): at least one, no host bits, none listed twice or inside another"`
	AllowedIPv6CIDRs []string `json:"allowedIpv6Cidrs" doc:"must stay empty: the VPC and the Elastic IP are IPv4 only, so no IPv6 client can reach the site"`
	// CertificateSecret names a Secrets Manager secret (name or ARN) whose
	// value is the site's PEM (certificate, chain and key). Empty: HTTP only.
	CertificateSecret string `json:"certificateSecret" doc:"'\"\"': HTTP only; or a Secrets Manager secret name or ARN (partition 'aws', 'aws-cn' or 'aws-us-gov') holding the site’s PEM; not one of the secrets the program makes"`
}

// Capacity is how many hosts a tier's Auto Scaling group keeps.
type Capacity struct {
	// Min and Max bound the group; Desired is how many it runs (with a
	// scaling policy, only the first count: the policy moves it).
	Min     int `json:"min" doc:"the group never has fewer hosts (prod: at least 2)" range:"1,20"`
	Max     int `json:"max" doc:"nor more; at least 'min'" range:"1,20"`
	Desired int `json:"desired" doc:"'min' to 'max': how many run; with a scaling policy, only the first value"`
	// Scaling is an optional target-tracking policy.
	Scaling Scaling `json:"scaling" doc:"a target-tracking policy"`
}

// Scaling is a target-tracking policy: the group adds and removes hosts to
// keep Metric near Target.
type Scaling struct {
	// Metric is "" (no policy) or cpu (the group's average CPU).
	Metric string `json:"metric" doc:"'\"\"': no policy; 'cpu': the group’s average CPU"`
	// Target is the metric's target, in percent.
	Target int `json:"target" doc:"percent, with 'metric: cpu'" range:"10,90"`
}

// Web is webstack:web: the nginx hosts.
type Web struct {
	Host
	Capacity
	Port int `json:"port" doc:"TCP port the tier serves on; not 22" range:"1,65535"`
}

// App is webstack:app: the application hosts.
type App struct {
	Host
	Capacity
	Port int `json:"port" doc:"TCP port the tier serves on; not 22" range:"1,65535"`
	// Artifact is a path to your own Linux executable to run instead of the
	// default application built from this repository. Empty: the default.
	Artifact string `json:"artifact" doc:"'\"\"': the default application; or the path, inside the project, of a Linux ELF executable for the application servers’ architecture"`
}

// Database is webstack:database: the RDS instance.
type Database struct {
	Engine string `json:"engine" doc:"'postgres', 'mysql'"` // postgres or mysql
	// EngineVersion is the major version only (16, 8.0): AWS applies minor
	// upgrades in the maintenance window. Raising it upgrades the instance
	// in place (docs/DATABASE.md, "Major version upgrade").
	EngineVersion string `json:"engineVersion" doc:"the major version only: PostgreSQL 13 to 17, MySQL 8.0 or 8.4, that RDS still has in the region (asked at preview); AWS applies minor upgrades; raising it is a major upgrade, docs/DATABASE.md"`
	InstanceClass string `json:"instanceClass" doc:"an RDS class 'db.<family>.<size>' that RDS offers in the region for the engine version with gp3 storage (asked at preview)"` // db.*
	// AllocatedStorageGiB and MaxAllocatedStorageGiB (storage autoscaling
	// ceiling; 0 turns autoscaling off).
	AllocatedStorageGiB    int  `json:"allocatedStorageGiB" doc:"GiB of gp3 storage" range:"20,65536"`
	MaxAllocatedStorageGiB int  `json:"maxAllocatedStorageGiB" doc:"storage autoscaling ceiling: 0 (off) or at least 110 % of 'allocatedStorageGiB', at most 65536"`
	MultiAZ                bool `json:"multiAz" doc:"a standby in a second zone (prod: 'true')"`
	// ApplyImmediately applies class, storage, Multi-AZ, parameter group
	// and version changes during pulumi up; false leaves them pending
	// until the maintenance window (each preview shows them until then).
	ApplyImmediately bool `json:"applyImmediately" doc:"'true': modifications apply during 'pulumi up'; 'false': in the maintenance window"`
	// LogRetentionDays is how long the log groups of the engine's log
	// exports keep events; one of the values CloudWatch accepts.
	LogRetentionDays    int    `json:"logRetentionDays" doc:"a CloudWatch Logs retention (as 'network.flowLogRetentionDays') for the log exports’ log groups"`
	BackupRetentionDays int    `json:"backupRetentionDays" doc:"days of backups; 0: none (prod: at least 14, staging: at least 7)" range:"0,35"`
	BackupWindow        string `json:"backupWindow" doc:"'hh24:mi-hh24:mi' UTC, at least 30 minutes"`                                                 // hh24:mi-hh24:mi, UTC
	MaintenanceWindow   string `json:"maintenanceWindow" doc:"'ddd:hh24:mi-ddd:hh24:mi' UTC, at least 30 minutes, not overlapping the backup window"` // ddd:hh24:mi-ddd:hh24:mi, UTC
	DeletionProtection  bool   `json:"deletionProtection" doc:"(prod: 'true')"`
	// SkipFinalSnapshot deletes without a final snapshot; otherwise the
	// snapshot is named FinalSnapshotPrefix plus a random suffix.
	SkipFinalSnapshot   bool   `json:"skipFinalSnapshot" doc:"(prod: 'false')"`
	FinalSnapshotPrefix string `json:"finalSnapshotPrefix" doc:"RDS snapshot identifier rules, 1 to 246 letters, digits, hyphens, starting with a letter (a random suffix is appended)"`
	// Protect sets Pulumi's protect option: pulumi refuses to delete or
	// replace the database until it is turned off.
	Protect             bool   `json:"protect" doc:"Pulumi’s 'protect' on the database (prod: 'true')"`
	Name                string `json:"name" doc:"letters, digits, '_', starting with a letter; not 'template0', 'template1', 'rdsadmin'"`                                       // database name
	Username            string `json:"username" doc:"letters, digits, '_', starting with a letter; not 'rds…' nor a name the engine reserves ('postgres', 'admin', 'root', …)"` // master user
	Port                int    `json:"port" doc:"or 0: the engine’s default (5432, 3306)" range:"1150,65535"`                                                                   // 0: the engine's default
	PerformanceInsights bool   `json:"performanceInsights" doc:"turned off automatically for classes without it"`
}

// DNS is webstack:dns: the site's name and an optional Route 53 record.
type DNS struct {
	// Domain is the site's domain; the site is www.<domain>.
	Domain string `json:"domain" doc:"a lower-case domain name, not starting with 'www.': the site is 'www.<domain>'"`
	// HostedZoneID, when set, gets an A record www.<domain> pointing at the
	// load balancers' Elastic IP.
	HostedZoneID string `json:"hostedZoneId" doc:"'\"\"': no record; or a Route 53 hosted zone id that gets the A record 'www.<domain>'; a stack other than prod must then use a domain starting with its stack name"`
}

// SiteName is the host name the site answers to: www.<domain>.
func (s *Settings) SiteName() string { return "www." + s.DNS.Domain }

// DatabasePort is the configured port or the engine's default.
func (d Database) DatabasePort() int {
	if d.Port != 0 {
		return d.Port
	}
	return database.DefaultPort(d.Engine)
}
