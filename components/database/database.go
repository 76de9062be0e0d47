// Package database provides the diagram's database server: an RDS instance
// (PostgreSQL by default, MySQL selectable) in the database subnets, behind
// the database security group, never publicly accessible, with encrypted gp3
// storage that grows by itself, automatic minor upgrades, its own parameter
// group forcing TLS, a server certificate from the CA CertIdentifier
// (rds-ca-rsa2048-g1), log exports and, where the class has it, Performance
// Insights.
//
// The master password comes from pulumi-random (only characters RDS
// accepts), stays a Pulumi secret and is stored, with everything a client
// needs, in a Secrets Manager secret (JSON: engine, host, port, dbname,
// username, password, tls). The component never outputs the password; give
// the secret's ARN to the role that may read it.
//
// Replacing a database loses its data unless restored from a snapshot. The
// settings that force a replacement are listed in docs/DATABASE.md; Protect
// (Pulumi refuses to replace or delete) and DeletionProtection (AWS refuses
// to delete) guard production.
package database

import (
	"errors"
	"fmt"
	"github.com/foobar/webstack/components/database/dbsecret"
	"github.com/foobar/webstack/components/firewall"
	"github.com/foobar/webstack/components/inputs"
	"regexp"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/internal/rdsca"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// CertIdentifier is the CA that signs the instance's server certificate,
// set explicitly rather than left to the region's default so that it is
// always one whose root is in the RDS CA bundle the application trusts
// (internal/rdsca owns both).
const CertIdentifier = rdsca.CertIdentifier

// Engines (dbsecret owns their names and default ports).
const (
	Postgres = dbsecret.Postgres
	MySQL    = dbsecret.MySQL
)

// PasswordSpecials are the punctuation characters the generated password
// may use: RDS refuses /, @, " and spaces.
const PasswordSpecials = "!#$%&*()-_=+[]{}<>:?"

// Args configures the database. Zero values take the documented defaults.
type Args struct {
	// Engine is postgres (default) or mysql; EngineVersion its major
	// version only (16, 8.0): AWS applies minor upgrades itself
	// (auto_minor_version_upgrade), and a pinned full version would then
	// read as a downgrade on every later diff. Changing the major upgrades
	// the instance in place, with a parameter group of the new family.
	// Required.
	Engine, EngineVersion string
	// InstanceClass, e.g. db.t4g.medium. Required.
	InstanceClass string
	// AllocatedStorageGiB (default 20) and MaxAllocatedStorageGiB, the
	// storage autoscaling ceiling (0: no autoscaling).
	AllocatedStorageGiB, MaxAllocatedStorageGiB int
	// MultiAZ keeps a synchronous standby in another zone.
	MultiAZ bool
	// ApplyImmediately applies modifications (class, storage, Multi-AZ,
	// parameter group, major version) during pulumi up; false leaves them
	// pending until the maintenance window, and until then every preview
	// shows the same update again. Either way, a class change or a major
	// upgrade restarts the database (Multi-AZ: a failover).
	ApplyImmediately bool
	// LogRetentionDays is how long the CloudWatch log groups of the
	// engine's log exports keep their events (default 30); one of the
	// values CloudWatch accepts (LogRetentionValues).
	LogRetentionDays int
	// BackupRetentionDays (0 to 35), BackupWindow and MaintenanceWindow (UTC).
	BackupRetentionDays             int
	BackupWindow, MaintenanceWindow string
	// DeletionProtection makes AWS refuse to delete the instance.
	DeletionProtection bool
	// SkipFinalSnapshot deletes without a snapshot; otherwise the snapshot
	// is FinalSnapshotPrefix-<random hex> (default prefix "final"), the hex
	// renewed whenever a replacement is forced (ReplacingFields).
	SkipFinalSnapshot   bool
	FinalSnapshotPrefix string
	// Protect makes Pulumi refuse to replace or delete the instance and
	// its credentials secret.
	Protect bool
	// Name of the database and Username of the master user (default
	// "webstack" for both); Port (0: the engine's default).
	Name, Username string
	Port           int
	// PerformanceInsights, where the instance class supports it.
	PerformanceInsights bool
	// Parameters are extra engine parameters for the instance's parameter
	// group (work_mem, log_min_duration_statement, ...), beside the one that
	// forces TLS (TLSParameter), which no entry may name. Optional.
	Parameters []Parameter
	// SubnetIDs are the database subnets (at least two zones). Required.
	SubnetIDs pulumi.StringArrayInput
	// VpcID is the VPC of the database's own security group
	// (Database.Connections): nothing reaches the database until the
	// program allows it (Connections.AllowDefaultPortFrom). Required.
	VpcID pulumi.StringInput
	// Administrators are the IAM principals (role, user or root ARNs, or
	// the role session ARN GetCallerIdentity returns, which stands for its
	// role) that may read the credentials secret besides the roles RestrictSecret
	// names: the principal that deploys the stack, whose Pulumi reads the
	// secret's value on refresh. At least one. Required.
	Administrators []string
	// EnhancedMonitoring, if set, turns on RDS enhanced monitoring (the
	// operating system's metrics, per process) with a role of its own.
	EnhancedMonitoring *EnhancedMonitoring
}

// Parameter is an engine parameter of the database's parameter group.
type Parameter struct {
	// Name and Value as the engine spells them.
	Name, Value string
	// ApplyMethod is "immediate" (default; dynamic parameters only) or
	// "pending-reboot" (static parameters: applied at the next reboot).
	ApplyMethod string
}

// parameterNameRe is what RDS parameter names look like (letters, digits,
// '_', '.', '-').
var parameterNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,254}$`)

// Database is the RDS instance and its secret.
type Database struct {
	pulumi.ResourceState

	Instance *rds.Instance
	// Address and Endpoint (address:port) of the instance, Port, and the
	// database's Name.
	Address, Endpoint pulumi.StringOutput
	Port              pulumi.IntOutput
	Name              string
	// SecretArn is the Secrets Manager secret with the connection details
	// and the password.
	SecretArn pulumi.StringOutput
	// Connections is the database's firewall: its security group and port.
	Connections *firewall.Connections

	secret         *secretsmanager.Secret
	administrators []string
	keep           []pulumi.ResourceOption
}

func (a Args) withDefaults() Args {
	if a.Engine == "" {
		a.Engine = Postgres
	}
	if a.AllocatedStorageGiB == 0 {
		a.AllocatedStorageGiB = 20
	}
	if a.LogRetentionDays == 0 {
		a.LogRetentionDays = 30
	}
	if a.FinalSnapshotPrefix == "" {
		a.FinalSnapshotPrefix = "final"
	}
	if a.Name == "" {
		a.Name = "webstack"
	}
	if a.Username == "" {
		a.Username = "webstack"
	}
	if a.Port == 0 {
		a.Port = DefaultPort(a.Engine)
	}
	return a
}

var versionRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)

// EnhancedMonitoring is RDS enhanced monitoring: RDS's agent on the
// instance sends the operating system's metrics every IntervalSeconds
// (1, 5, 10, 15, 30 or 60) to CloudWatch Logs (RDSOSMetrics), with a role
// RDS assumes for this account's instances only.
type EnhancedMonitoring struct {
	IntervalSeconds              int
	Partition, Region, AccountID string
	// PermissionsBoundary is the role's boundary ("" for none).
	PermissionsBoundary string
}

// EnhancedMonitoringPolicy is the AWS managed policy RDS's monitoring role
// carries (CloudWatch Logs writes to RDSOSMetrics only).
func EnhancedMonitoringPolicy(partition string) string {
	return "arn:" + partition + ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

// LogRetentionValues are the retention periods, in days, CloudWatch Logs
// accepts for a log group.
var LogRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// MajorVersion is the part of an engine version that names the parameter
// group family and that AWS upgrades only when asked: 16 for PostgreSQL
// 16.4, 8.0 for MySQL 8.0.39.
func MajorVersion(engine, version string) string {
	parts := strings.Split(version, ".")
	if engine == MySQL && len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

func (a Args) validate() error {
	var errs []error
	for _, p := range a.Problems() {
		value := fmt.Sprint(p.Value)
		if str, ok := p.Value.(string); ok {
			value = inputs.Show(p.Field, str)
		}
		errs = append(errs, fmt.Errorf("database: Args.%s = %s: %s", p.Field, value, p.Allowed))
	}
	if m := a.EnhancedMonitoring; m != nil {
		if !slices.Contains([]int{1, 5, 10, 15, 30, 60}, m.IntervalSeconds) {
			errs = append(errs, fmt.Errorf("database: Args.EnhancedMonitoring.IntervalSeconds = %d: must be 1, 5, 10, 15, 30 or 60", m.IntervalSeconds))
		}
		if m.Partition == "" || m.Region == "" || m.AccountID == "" {
			errs = append(errs, fmt.Errorf("database: Args.EnhancedMonitoring: Partition, Region and AccountID are required (they scope the role's trust)"))
		}
		if err := iampolicy.CheckBoundary(m.PermissionsBoundary); err != nil {
			errs = append(errs, fmt.Errorf("database: Args.EnhancedMonitoring.PermissionsBoundary %w", err))
		}
	}
	if len(a.Administrators) == 0 {
		errs = append(errs, errors.New("database: Args.Administrators is required: the deploying principal's ARN, or the secret's policy would lock Pulumi out of it"))
	}
	for i, p := range a.Administrators {
		if !iampolicy.ValidPrincipal(p) {
			errs = append(errs, fmt.Errorf("database: Args.Administrators[%d] = %s: must be %s", i, inputs.Show("Administrators", p), inputs.PrincipalPattern.Allowed()))
		}
	}
	if a.SubnetIDs == nil || a.VpcID == nil {
		errs = append(errs, errors.New("database: Args.SubnetIDs and VpcID are required"))
	}
	return errors.Join(errs...)
}

// DefaultPort is the engine's usual port.
func DefaultPort(engine string) int { return dbsecret.DefaultPort(engine) }

// Family is the parameter group family of an engine version: postgres16,
// mysql8.0.
func Family(engine, version string) string {
	return engine + MajorVersion(engine, version)
}

// TLSParameter is the parameter that makes the engine refuse clients
// without TLS.
func TLSParameter(engine string) (name, value string) {
	if engine == MySQL {
		return "require_secure_transport", "1"
	}
	return "rds.force_ssl", "1"
}

// parameters are the parameter group's entries: the caller's, then the one
// forcing TLS (validate refuses a caller's entry of that name).
func parameters(extra []Parameter, tlsName, tlsValue string) rds.ParameterGroupParameterArray {
	out := rds.ParameterGroupParameterArray{}
	for _, p := range extra {
		method := p.ApplyMethod
		if method == "" {
			method = "immediate"
		}
		out = append(out, &rds.ParameterGroupParameterArgs{Name: pulumi.String(p.Name), Value: pulumi.String(p.Value), ApplyMethod: pulumi.String(method)})
	}
	// Both engines' TLS parameters are dynamic: the engine applies them
	// without a reboot, so immediate (the provider's default) is right;
	// pending-reboot would leave them off until someone reboots.
	return append(out, &rds.ParameterGroupParameterArgs{Name: pulumi.String(tlsName), Value: pulumi.String(tlsValue), ApplyMethod: pulumi.String("immediate")})
}

// LogGroupName is the CloudWatch log group RDS writes an instance's log
// export to (AWS's fixed layout, /aws/rds/instance/<identifier>/<type>).
// The component creates these groups, with a retention, before the
// instance, so that RDS does not create them itself (kept forever, and
// left behind by pulumi destroy).
func LogGroupName(identifier, logType string) string {
	return "/aws/rds/instance/" + identifier + "/" + logType
}

// ForceNewFields are the rds.Instance inputs whose change replaces the
// instance (ForceNew in the Terraform provider's aws_db_instance schema,
// which pulumi-aws v6 wraps). The identifier is not among them: AWS renames
// an instance in place.
var ForceNewFields = []string{
	"availabilityZone", "backupTarget", "characterSetName", "customIamInstanceProfile", "dbName", "engine",
	"kmsKeyId", "ncharCharacterSetName", "restoreToPointInTime", "snapshotIdentifier", "storageEncrypted",
	"timezone", "username",
}

// ReplacingFields are the instance's inputs whose change makes AWS (the
// ForceNewFields) replace the instance, as the component sets them:
// the keepers of the random suffix of the identifier and of the final
// snapshot, so a replacement gets a new identifier (created before the old
// instance is deleted) and a final snapshot name no earlier instance used.
// The component leaves the other ForceNew fields (availabilityZone,
// kmsKeyId, characterSetName, snapshotIdentifier, ...) unset.
func ReplacingFields(a Args) map[string]string {
	return map[string]string{
		"engine":           a.Engine,
		"dbName":           a.Name,
		"username":         a.Username,
		"storageEncrypted": "true",
	}
}

// maxIdentifier is RDS's limit on a DB instance identifier.
const maxIdentifier = 63

var notIdentifier = regexp.MustCompile(`[^a-z0-9]+`)

// Identifier is the DB instance identifier: prefix (lower-cased, runs of
// other characters made one hyphen, shortened to fit) and the random hex,
// within RDS's rules (1 to 63 letters, digits and hyphens, starting with a
// letter, no two hyphens in a row, no hyphen at the end).
func Identifier(prefix, hex string) string {
	p := strings.Trim(notIdentifier.ReplaceAllString(strings.ToLower(prefix), "-"), "-")
	if p == "" || p[0] < 'a' || p[0] > 'z' {
		p = "db-" + p
	}
	if room := maxIdentifier - len(hex) - 1; len(p) > room {
		p = p[:room]
	}
	return strings.TrimRight(p, "-") + "-" + hex
}

// LogExports are the logs the engine sends to CloudWatch Logs.
func LogExports(engine string) []string {
	if engine == MySQL {
		return []string{"error", "slowquery"}
	}
	return []string{"postgresql", "upgrade"}
}

// SupportsPerformanceInsights reports whether a class has Performance
// Insights: not the db.t2 family, nor the micro and small burstable sizes.
func SupportsPerformanceInsights(class string) bool {
	parts := strings.Split(class, ".")
	if len(parts) != 3 {
		return false
	}
	if parts[1] == "t2" {
		return false
	}
	return !(strings.HasPrefix(parts[1], "t") && (parts[2] == "micro" || parts[2] == "small"))
}

// New creates the database.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Database, error) {
	args = args.withDefaults()
	if err := args.validate(); err != nil {
		return nil, err
	}
	d := &Database{Name: args.Name}
	if err := ctx.RegisterComponentResource("webstack:database:Database", name, d, opts...); err != nil {
		return nil, err
	}
	b := &builder{ctx: ctx, name: name, args: args, d: d, child: pulumi.Parent(d)}
	for _, step := range []func() error{
		b.firewall,    // closed until the program draws the arrow
		b.subnets,     // the isolated subnets
		b.parameters,  // TLS forced, and the caller's parameters
		b.password,    // the master password
		b.generation,  // the instance's identifier and final snapshot name
		b.logGroups,   // the exports' log groups, with a retention
		b.monitoring,  // enhanced monitoring's role, if asked for
		b.instance,    // the RDS instance
		b.credentials, // the secret the application reads
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{
		"endpoint":  d.Endpoint,
		"port":      d.Port,
		"name":      pulumi.String(d.Name),
		"secretArn": d.SecretArn,
	})
}

// builder carries what New's steps share.
type builder struct {
	ctx   *pulumi.Context
	name  string
	args  Args
	d     *Database
	child pulumi.ResourceOption

	subnetGroup    *rds.SubnetGroup
	parameterGroup *rds.ParameterGroup
	pass           *random.RandomPassword
	gen            *random.RandomId
	identifier     pulumi.StringOutput
	exportGroups   []pulumi.Resource // and whatever else the instance needs first
	monitoringRole *iam.Role
}

// firewall makes the database's security group: no rule until the
// program draws the arrow from the application servers; no egress (it
// opens no connection).
func (b *builder) firewall() error {
	var err error
	b.d.Connections, err = firewall.NewConnections(b.ctx, b.name, b.args.VpcID, firewall.TCP(b.args.Port),
		"webstack database: from the application servers only", b.child)
	return err
}

func (b *builder) subnets() error {
	var err error
	b.subnetGroup, err = rds.NewSubnetGroup(b.ctx, b.name, &rds.SubnetGroupArgs{
		Description: pulumi.String("webstack database subnets: no route out of the VPC"),
		SubnetIds:   b.args.SubnetIDs,
		Tags:        names.Tags(b.ctx, b.name),
	}, b.child)
	return err
}

// parameters makes an auto-named parameter group: when it must be
// replaced (a new family on a major upgrade), the new one is created
// before the old one is deleted, so the instance always has one.
func (b *builder) parameters() error {
	args := b.args
	tlsName, tlsValue := TLSParameter(args.Engine)
	var err error
	b.parameterGroup, err = rds.NewParameterGroup(b.ctx, b.name, &rds.ParameterGroupArgs{
		Family:      pulumi.String(Family(args.Engine, args.EngineVersion)),
		Description: pulumi.String("webstack database: TLS required"),
		Parameters:  parameters(args.Parameters, tlsName, tlsValue),
		Tags:        names.Tags(b.ctx, b.name),
	}, b.child, pulumi.DeleteBeforeReplace(false))
	return err
}

func (b *builder) password() error {
	var err error
	b.pass, err = random.NewRandomPassword(b.ctx, b.name+"-password", &random.RandomPasswordArgs{
		Length:          pulumi.Int(32),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(PasswordSpecials),
		MinLower:        pulumi.Int(2), MinUpper: pulumi.Int(2), MinNumeric: pulumi.Int(2),
	}, b.child)
	return err
}

// generation is one random suffix per generation of the instance, renewed
// whenever a field that forces a replacement changes: it names the
// instance (so the replacement can exist beside the old one, and its log
// groups can be created before it) and its final snapshot (so the next
// delete never meets an earlier instance's snapshot).
func (b *builder) generation() error {
	var err error
	b.gen, err = random.NewRandomId(b.ctx, b.name+"-generation", &random.RandomIdArgs{
		ByteLength: pulumi.Int(4),
		Keepers:    pulumi.ToStringMap(ReplacingFields(b.args)),
	}, b.child)
	if err != nil {
		return err
	}
	b.identifier = b.gen.Hex.ApplyT(func(hex string) string {
		return Identifier(names.Tag(b.ctx, b.name), hex)
	}).(pulumi.StringOutput)
	return nil
}

// logGroups makes the log groups RDS writes the exports to, with a
// retention, before the instance, so that RDS finds them instead of
// creating its own (which would keep logs forever and outlive the stack).
func (b *builder) logGroups() error {
	for _, logType := range LogExports(b.args.Engine) {
		group, err := cloudwatch.NewLogGroup(b.ctx, b.name+"-"+logType, &cloudwatch.LogGroupArgs{
			Name: b.identifier.ApplyT(func(id string) string {
				return LogGroupName(id, logType)
			}).(pulumi.StringOutput),
			RetentionInDays: pulumi.Int(b.args.LogRetentionDays),
			Tags:            names.Tags(b.ctx, b.name+"-"+logType),
		}, b.child)
		if err != nil {
			return err
		}
		b.exportGroups = append(b.exportGroups, group)
	}
	return nil
}

// monitoring makes the role RDS enhanced monitoring assumes, for this
// account's instances only, when Args.EnhancedMonitoring asks for it.
func (b *builder) monitoring() error {
	m := b.args.EnhancedMonitoring
	if m == nil {
		return nil
	}
	role, err := iam.NewRole(b.ctx, b.name+"-monitoring", &iam.RoleArgs{
		Description: pulumi.String("RDS enhanced monitoring of the " + b.name + " instance"),
		AssumeRolePolicy: pulumi.String(iampolicy.AssumeRoleFrom("monitoring.rds.amazonaws.com", m.AccountID,
			iampolicy.ARN(m.Partition, "rds", m.Region, m.AccountID, "db:*"))),
		PermissionsBoundary: iampolicy.Boundary(m.PermissionsBoundary),
		Tags:                names.Tags(b.ctx, b.name+"-monitoring"),
	}, b.child)
	if err != nil {
		return err
	}
	attach, err := iam.NewRolePolicyAttachment(b.ctx, b.name+"-monitoring", &iam.RolePolicyAttachmentArgs{
		Role: role.Name, PolicyArn: pulumi.String(EnhancedMonitoringPolicy(m.Partition)),
	}, b.child)
	if err != nil {
		return err
	}
	b.monitoringRole = role
	b.exportGroups = append(b.exportGroups, attach)
	return nil
}

func (b *builder) instance() error {
	args, d := b.args, b.d
	instanceArgs := &rds.InstanceArgs{
		Identifier:              b.identifier,
		Engine:                  pulumi.String(args.Engine),
		EngineVersion:           pulumi.String(args.EngineVersion),
		InstanceClass:           pulumi.String(args.InstanceClass),
		AllocatedStorage:        pulumi.Int(args.AllocatedStorageGiB),
		StorageType:             pulumi.String("gp3"),
		StorageEncrypted:        pulumi.Bool(true),
		DbName:                  pulumi.String(args.Name),
		Username:                pulumi.String(args.Username),
		Password:                b.pass.Result,
		Port:                    pulumi.Int(args.Port),
		DbSubnetGroupName:       b.subnetGroup.Name,
		VpcSecurityGroupIds:     pulumi.StringArray{d.Connections.ID},
		ParameterGroupName:      b.parameterGroup.Name,
		CaCertIdentifier:        pulumi.String(CertIdentifier),
		PubliclyAccessible:      pulumi.Bool(false),
		MultiAz:                 pulumi.Bool(args.MultiAZ),
		BackupRetentionPeriod:   pulumi.Int(args.BackupRetentionDays),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		// A major upgrade is the supported way to a new major version
		// (docs/DATABASE.md): AWS refuses one without this flag, and the
		// flag does nothing while the major stays the same.
		AllowMajorVersionUpgrade:     pulumi.Bool(true),
		ApplyImmediately:             pulumi.Bool(args.ApplyImmediately),
		CopyTagsToSnapshot:           pulumi.Bool(true),
		DeletionProtection:           pulumi.Bool(args.DeletionProtection),
		SkipFinalSnapshot:            pulumi.Bool(args.SkipFinalSnapshot),
		EnabledCloudwatchLogsExports: pulumi.ToStringArray(LogExports(args.Engine)),
		Tags:                         names.Tags(b.ctx, b.name),
	}
	if args.MaxAllocatedStorageGiB > 0 {
		instanceArgs.MaxAllocatedStorage = pulumi.Int(args.MaxAllocatedStorageGiB)
	}
	if args.BackupWindow != "" {
		instanceArgs.BackupWindow = pulumi.String(args.BackupWindow)
	}
	if args.MaintenanceWindow != "" {
		instanceArgs.MaintenanceWindow = pulumi.String(args.MaintenanceWindow)
	}
	if args.PerformanceInsights && SupportsPerformanceInsights(args.InstanceClass) {
		instanceArgs.PerformanceInsightsEnabled = pulumi.Bool(true)
		instanceArgs.PerformanceInsightsRetentionPeriod = pulumi.Int(7)
	}
	if b.monitoringRole != nil {
		instanceArgs.MonitoringInterval = pulumi.Int(args.EnhancedMonitoring.IntervalSeconds)
		instanceArgs.MonitoringRoleArn = b.monitoringRole.Arn
	}
	if !args.SkipFinalSnapshot {
		instanceArgs.FinalSnapshotIdentifier = pulumi.Sprintf("%s-%s", args.FinalSnapshotPrefix, b.gen.Hex)
	}
	var err error
	d.Instance, err = rds.NewInstance(b.ctx, b.name, instanceArgs, b.child, pulumi.Protect(args.Protect), pulumi.DependsOn(b.exportGroups))
	if err != nil {
		return err
	}
	d.Address, d.Endpoint, d.Port = d.Instance.Address, d.Instance.Endpoint, d.Instance.Port
	return nil
}

// credentials makes the secret the application reads. The credentials
// live as long as the data they open: protected with the instance, and
// kept in AWS when the instance is deleted with a final snapshot (a
// database restored from it has the same master password). pulumi
// destroy then removes them from the state only.
func (b *builder) credentials() error {
	args, d := b.args, b.d
	keep := []pulumi.ResourceOption{b.child, pulumi.Protect(args.Protect), pulumi.RetainOnDelete(!args.SkipFinalSnapshot)}
	secret, err := secretsmanager.NewSecret(b.ctx, b.name+CredentialsSuffix, &secretsmanager.SecretArgs{
		Description:          pulumi.String("webstack database: connection details and master password (JSON)"),
		RecoveryWindowInDays: pulumi.Int(7),
		Tags:                 names.Tags(b.ctx, b.name+CredentialsSuffix),
	}, keep...)
	if err != nil {
		return err
	}
	if _, err := secretsmanager.NewSecretVersion(b.ctx, b.name+CredentialsSuffix, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: pulumi.ToSecret(Credentials(args, d.Instance.Address, d.Instance.Port, b.pass.Result)).(pulumi.StringOutput),
	}, keep...); err != nil {
		return err
	}
	d.SecretArn, d.secret, d.administrators, d.keep = secret.Arn, secret, args.Administrators, keep
	return nil
}

// RestrictSecret gives the credentials secret its resource policy: only
// readers (the roles of the hosts that connect, known once their tier
// exists) and Args.Administrators may read its value; any other principal
// of the account is denied, whatever its IAM policies allow. Call it once,
// after creating the tiers that read the secret; the guardrails flag a
// secret without a policy.
func (d *Database) RestrictSecret(ctx *pulumi.Context, name string, readers ...pulumi.StringInput) error {
	if len(readers) == 0 {
		return errors.New("database: RestrictSecret needs at least one reader role")
	}
	all := pulumi.StringArray{}
	for _, r := range readers {
		all = append(all, r)
	}
	for _, a := range iampolicy.ReadersOf(d.administrators) {
		all = append(all, pulumi.String(a))
	}
	_, err := secretsmanager.NewSecretPolicy(ctx, name, &secretsmanager.SecretPolicyArgs{
		SecretArn:         d.secret.Arn,
		Policy:            all.ToStringArrayOutput().ApplyT(iampolicy.OnlyReaders).(pulumi.StringOutput),
		BlockPublicPolicy: pulumi.Bool(true),
	}, d.keep...)
	return err
}

// Credentials is the secret's JSON: what a client needs to connect.
func Credentials(args Args, host pulumi.StringOutput, port pulumi.IntOutput, password pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.All(host, port, password).ApplyT(func(v []any) (string, error) {
		return credentialsJSON(args.Engine, v[0].(string), v[1].(int), args.Name, args.Username, v[2].(string))
	}).(pulumi.StringOutput)
}

// CredentialsSuffix ends the name of the secret holding the database's
// connection details and master password (the component's name plus it,
// plus Pulumi's random suffix): no other setting may point at it.
const CredentialsSuffix = "-credentials"

// ReservedUsernames are master user names the engines keep for
// themselves or SQL reserves (RDS refuses them, after the subnet group and
// the parameter group exist), lower case.
var ReservedUsernames = map[string][]string{
	"postgres": {"postgres", "rdsadmin", "rdsrepladmin", "rds_superuser", "pg_signal_backend", "public", "user", "current_user", "session_user", "all", "select", "table", "grant", "default", "none", "admin"},
	"mysql":    {"rdsadmin", "rdsrepladmin", "mysql", "root", "mysql.sys", "mysql.session", "mysql.infoschema", "user", "select", "table", "grant", "default"},
}
