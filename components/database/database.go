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
	"github.com/foobar/webstack/components/inputs"
	"regexp"
	"strings"

	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/foobar/webstack/internal/rdsca"
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

// Engines.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// PasswordSpecials are the punctuation characters the generated password
// may use: RDS refuses /, @, " and spaces.
const PasswordSpecials = "!#$%&*()-_=+[]{}<>:?"

// Args configures the database. Zero values take the documented defaults.
type Args struct {
	// Engine is postgres (default) or mysql; EngineVersion a major version
	// (16, 8.0) or a full one. Required.
	Engine, EngineVersion string
	// InstanceClass, e.g. db.t4g.medium. Required.
	InstanceClass string
	// AllocatedStorageGiB (default 20) and MaxAllocatedStorageGiB, the
	// storage autoscaling ceiling (0: no autoscaling).
	AllocatedStorageGiB, MaxAllocatedStorageGiB int
	// MultiAZ keeps a synchronous standby in another zone.
	MultiAZ bool
	// BackupRetentionDays (0 to 35), BackupWindow and MaintenanceWindow (UTC).
	BackupRetentionDays             int
	BackupWindow, MaintenanceWindow string
	// DeletionProtection makes AWS refuse to delete the instance.
	DeletionProtection bool
	// SkipFinalSnapshot deletes without a snapshot; otherwise the snapshot
	// is FinalSnapshotPrefix-<random hex> (default prefix "final").
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
	// SubnetIDs are the database subnets (at least two zones). Required.
	SubnetIDs pulumi.StringArrayInput
	// SecurityGroupID of the database tier. Required.
	SecurityGroupID pulumi.StringInput
	// Administrators are the IAM principals (role, user or root ARNs, or
	// the role session ARN GetCallerIdentity returns, which stands for its
	// role) that may read the credentials secret besides the roles RestrictSecret
	// names: the principal that deploys the stack, whose Pulumi reads the
	// secret's value on refresh. At least one. Required.
	Administrators []string
}

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

func (a Args) validate() error {
	var errs []error
	if a.Engine != Postgres && a.Engine != MySQL {
		errs = append(errs, fmt.Errorf("database: Args.Engine = %s: must be postgres or mysql", inputs.Show("Engine", a.Engine)))
	}
	if !versionRe.MatchString(a.EngineVersion) {
		errs = append(errs, fmt.Errorf("database: Args.EngineVersion = %s: must be a version such as 16 or 8.0", inputs.Show("EngineVersion", a.EngineVersion)))
	}
	if !strings.HasPrefix(a.InstanceClass, "db.") {
		errs = append(errs, fmt.Errorf("database: Args.InstanceClass = %s: must be db.*", inputs.Show("InstanceClass", a.InstanceClass)))
	}
	if a.BackupRetentionDays < 0 || a.BackupRetentionDays > 35 {
		errs = append(errs, fmt.Errorf("database: Args.BackupRetentionDays = %d: must be 0 to 35", a.BackupRetentionDays))
	}
	if len(a.Administrators) == 0 {
		errs = append(errs, errors.New("database: Args.Administrators is required: the deploying principal's ARN, or the secret's policy would lock Pulumi out of it"))
	}
	for i, p := range a.Administrators {
		if !iampolicy.ValidPrincipal(p) {
			errs = append(errs, fmt.Errorf("database: Args.Administrators[%d] = %s: must be %s", i, inputs.Show("Administrators", p), inputs.PrincipalPattern.Allowed()))
		}
	}
	if a.SubnetIDs == nil || a.SecurityGroupID == nil {
		errs = append(errs, errors.New("database: Args.SubnetIDs and SecurityGroupID are required"))
	}
	return errors.Join(errs...)
}

// DefaultPort is the engine's usual port.
func DefaultPort(engine string) int {
	if engine == MySQL {
		return 3306
	}
	return 5432
}

// Family is the parameter group family of an engine version: postgres16,
// mysql8.0.
func Family(engine, version string) string {
	parts := strings.Split(version, ".")
	if engine == MySQL && len(parts) >= 2 {
		return "mysql" + parts[0] + "." + parts[1]
	}
	return engine + parts[0]
}

// TLSParameter is the parameter that makes the engine refuse clients
// without TLS.
func TLSParameter(engine string) (name, value string) {
	if engine == MySQL {
		return "require_secure_transport", "1"
	}
	return "rds.force_ssl", "1"
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
	child := pulumi.Parent(d)

	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Description: pulumi.String("webstack database subnets: no route out of the VPC"),
		SubnetIds:   args.SubnetIDs,
		Tags:        names.Tags(ctx, name),
	}, child)
	if err != nil {
		return nil, err
	}
	// An auto-named parameter group: when it must be replaced (a new
	// family on a major upgrade), the new one is created before the old one
	// is deleted, so the instance always has one.
	tlsName, tlsValue := TLSParameter(args.Engine)
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String(Family(args.Engine, args.EngineVersion)),
		Description: pulumi.String("webstack database: TLS required"),
		Parameters: rds.ParameterGroupParameterArray{&rds.ParameterGroupParameterArgs{
			Name: pulumi.String(tlsName), Value: pulumi.String(tlsValue), ApplyMethod: pulumi.String("pending-reboot"),
		}},
		Tags: names.Tags(ctx, name),
	}, child, pulumi.DeleteBeforeReplace(false))
	if err != nil {
		return nil, err
	}

	password, err := random.NewRandomPassword(ctx, name+"-password", &random.RandomPasswordArgs{
		Length:          pulumi.Int(32),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(PasswordSpecials),
		MinLower:        pulumi.Int(2), MinUpper: pulumi.Int(2), MinNumeric: pulumi.Int(2),
	}, child)
	if err != nil {
		return nil, err
	}

	instanceArgs := &rds.InstanceArgs{
		Engine:                       pulumi.String(args.Engine),
		EngineVersion:                pulumi.String(args.EngineVersion),
		InstanceClass:                pulumi.String(args.InstanceClass),
		AllocatedStorage:             pulumi.Int(args.AllocatedStorageGiB),
		StorageType:                  pulumi.String("gp3"),
		StorageEncrypted:             pulumi.Bool(true),
		DbName:                       pulumi.String(args.Name),
		Username:                     pulumi.String(args.Username),
		Password:                     password.Result,
		Port:                         pulumi.Int(args.Port),
		DbSubnetGroupName:            subnets.Name,
		VpcSecurityGroupIds:          pulumi.StringArray{args.SecurityGroupID},
		ParameterGroupName:           params.Name,
		CaCertIdentifier:             pulumi.String(CertIdentifier),
		PubliclyAccessible:           pulumi.Bool(false),
		MultiAz:                      pulumi.Bool(args.MultiAZ),
		BackupRetentionPeriod:        pulumi.Int(args.BackupRetentionDays),
		AutoMinorVersionUpgrade:      pulumi.Bool(true),
		AllowMajorVersionUpgrade:     pulumi.Bool(false),
		CopyTagsToSnapshot:           pulumi.Bool(true),
		DeletionProtection:           pulumi.Bool(args.DeletionProtection),
		SkipFinalSnapshot:            pulumi.Bool(args.SkipFinalSnapshot),
		EnabledCloudwatchLogsExports: pulumi.ToStringArray(LogExports(args.Engine)),
		Tags:                         names.Tags(ctx, name),
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
	if !args.SkipFinalSnapshot {
		// A random suffix, renewed whenever a setting that replaces the
		// instance changes, so a re-created database's final snapshot never
		// collides with an earlier one.
		suffix, err := random.NewRandomId(ctx, name+"-final-snapshot", &random.RandomIdArgs{
			ByteLength: pulumi.Int(4),
			Keepers: pulumi.StringMap{
				"engine": pulumi.String(args.Engine), "name": pulumi.String(args.Name), "username": pulumi.String(args.Username),
			},
		}, child)
		if err != nil {
			return nil, err
		}
		instanceArgs.FinalSnapshotIdentifier = pulumi.Sprintf("%s-%s", args.FinalSnapshotPrefix, suffix.Hex)
	}
	d.Instance, err = rds.NewInstance(ctx, name, instanceArgs, child, pulumi.Protect(args.Protect))
	if err != nil {
		return nil, err
	}
	d.Address, d.Endpoint, d.Port = d.Instance.Address, d.Instance.Endpoint, d.Instance.Port

	// The credentials live as long as the data they open: protected with
	// the instance, and kept in AWS when the instance is deleted with a
	// final snapshot (a database restored from it has the same master
	// password). pulumi destroy then removes them from the state only.
	keepCredentials := []pulumi.ResourceOption{child, pulumi.Protect(args.Protect), pulumi.RetainOnDelete(!args.SkipFinalSnapshot)}
	secret, err := secretsmanager.NewSecret(ctx, name+"-credentials", &secretsmanager.SecretArgs{
		Description:          pulumi.String("webstack database: connection details and master password (JSON)"),
		RecoveryWindowInDays: pulumi.Int(7),
		Tags:                 names.Tags(ctx, name+"-credentials"),
	}, keepCredentials...)
	if err != nil {
		return nil, err
	}
	if _, err := secretsmanager.NewSecretVersion(ctx, name+"-credentials", &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: pulumi.ToSecret(Credentials(args, d.Instance.Address, d.Instance.Port, password.Result)).(pulumi.StringOutput),
	}, keepCredentials...); err != nil {
		return nil, err
	}
	d.SecretArn, d.secret, d.administrators, d.keep = secret.Arn, secret, args.Administrators, keepCredentials

	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{
		"endpoint":  d.Endpoint,
		"port":      d.Port,
		"name":      pulumi.String(d.Name),
		"secretArn": d.SecretArn,
	})
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
