package database_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/internal/rdsca"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	instanceT = "aws:rds/instance:Instance"
	paramsT   = "aws:rds/parameterGroup:ParameterGroup"
	versionT  = "aws:secretsmanager/secretVersion:SecretVersion"
	passwordT = "random:index/randomPassword:RandomPassword"
	randomIDT = "random:index/randomId:RandomId"
	logGroupT = "aws:cloudwatch/logGroup:LogGroup"
)

func prodArgs() database.Args {
	return database.Args{
		Engine: "postgres", EngineVersion: "16", InstanceClass: "db.t4g.medium",
		AllocatedStorageGiB: 20, MaxAllocatedStorageGiB: 100, MultiAZ: true,
		BackupRetentionDays: 14, BackupWindow: "03:00-04:00", MaintenanceWindow: "sun:04:30-sun:05:30",
		DeletionProtection: true, FinalSnapshotPrefix: "webstack-final", Protect: true,
		PerformanceInsights: true,
		SubnetIDs:           pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		VpcID:               pulumi.String("vpc-1"),
		Administrators:      []string{deployer},
	}
}

const deployer = "arn:aws:iam::123456789012:role/deployer"

func run(t *testing.T, args database.Args) *mocks.Recorder {
	t.Helper()
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := database.New(ctx, "db", args)
		return err
	}, mocks.Options{Project: "webstack", Stack: "test", Config: map[string]string{"aws:region": "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestProductionDatabase(t *testing.T) {
	rec := run(t, prodArgs())
	db := rec.OfType(instanceT)[0]
	for path, want := range map[string]any{
		"storageEncrypted": true, "publiclyAccessible": false, "storageType": "gp3",
		"multiAz": true, "deletionProtection": true, "skipFinalSnapshot": false,
		"backupRetentionPeriod": 14.0, "autoMinorVersionUpgrade": true, "maxAllocatedStorage": 100.0,
		"performanceInsightsEnabled": true, "port": 5432.0, "engine": "postgres", "copyTagsToSnapshot": true,
	} {
		if got := mocks.Reveal(db.In(path)); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if !db.Protect {
		t.Error("protect is off")
	}
	if !regexp.MustCompile(`^webstack-final-[0-9a-f]{8}$`).MatchString(db.Str("finalSnapshotIdentifier")) {
		t.Errorf("final snapshot = %q", db.Str("finalSnapshotIdentifier"))
	}
	if got := db.Strings("enabledCloudwatchLogsExports"); strings.Join(got, ",") != "postgresql,upgrade" {
		t.Errorf("log exports = %v", got)
	}
	if db.Str("caCertIdentifier") != "rds-ca-rsa2048-g1" || !rdsca.HasRoot(db.Str("caCertIdentifier"), "us-east-1") {
		t.Errorf("caCertIdentifier = %q: want rds-ca-rsa2048-g1, whose root the application's bundle holds", db.Str("caCertIdentifier"))
	}
	pg := rec.OfType(paramsT)[0]
	if pg.Str("family") != "postgres16" || pg.Str("parameters.0.name") != "rds.force_ssl" || pg.Str("parameters.0.value") != "1" {
		t.Errorf("parameter group = %v", pg.Inputs)
	}
	if pg.DeleteBeforeReplace || pg.Str("name") != "" {
		t.Error("the parameter group must be auto-named and created before the old one is deleted")
	}
	if db.Str("parameterGroupName") != pg.Outputs["name"] && db.Str("parameterGroupName") != pg.ID {
		t.Errorf("instance uses parameter group %q", db.Str("parameterGroupName"))
	}
}

func TestDevDatabaseSkipsProtection(t *testing.T) {
	args := prodArgs()
	args.InstanceClass, args.MultiAZ, args.DeletionProtection, args.SkipFinalSnapshot, args.Protect = "db.t4g.micro", false, false, true, false
	args.BackupRetentionDays, args.MaxAllocatedStorageGiB = 1, 0
	rec := run(t, args)
	db := rec.OfType(instanceT)[0]
	if db.Bool("multiAz") || db.Bool("deletionProtection") || !db.Bool("skipFinalSnapshot") || db.Protect {
		t.Errorf("dev database = %v (protect %v)", db.Inputs, db.Protect)
	}
	if db.In("finalSnapshotIdentifier") != nil || db.In("maxAllocatedStorage") != nil {
		t.Errorf("unexpected final snapshot or autoscaling: %v", db.Inputs)
	}
	if db.Bool("performanceInsightsEnabled") {
		t.Error("Performance Insights on a class without it")
	}
	if !db.Bool("storageEncrypted") || db.Bool("publiclyAccessible") {
		t.Error("every database is encrypted and private")
	}
}

func TestMySQL(t *testing.T) {
	args := prodArgs()
	args.Engine, args.EngineVersion = "mysql", "8.0"
	rec := run(t, args)
	db := rec.OfType(instanceT)[0]
	pg := rec.OfType(paramsT)[0]
	if db.Int("port") != 3306 || pg.Str("family") != "mysql8.0" || pg.Str("parameters.0.name") != "require_secure_transport" {
		t.Errorf("mysql: port %d, family %s, %s", db.Int("port"), pg.Str("family"), pg.Str("parameters.0.name"))
	}
}

func TestCredentialsSecret(t *testing.T) {
	rec := run(t, prodArgs())
	pw := rec.OfType(passwordT)[0]
	password, _ := mocks.Reveal(pw.Outputs["result"]).(string)
	if password == "" || !pw.Bool("special") || pw.Str("overrideSpecial") != database.PasswordSpecials {
		t.Fatalf("password generator = %v", pw.Inputs)
	}
	if strings.ContainsAny(database.PasswordSpecials, `/@" `) {
		t.Error("password may contain characters RDS refuses")
	}
	db := rec.OfType(instanceT)[0]
	if !db.IsSecret("password") {
		t.Error("the instance's password input is not secret")
	}
	v := rec.OfType(versionT)[0]
	if !v.IsSecret("secretString") {
		t.Fatal("the secret's value is not a Pulumi secret")
	}
	var got database.Secret
	if err := json.Unmarshal([]byte(v.Str("secretString")), &got); err != nil {
		t.Fatal(err)
	}
	want := database.Secret{Engine: "postgres", Host: db.Outputs["address"].(string), Port: 5432, DBName: "webstack", Username: "webstack", Password: password, TLS: "verify-full"}
	if got != want {
		t.Errorf("secret = %+v, want %+v", got, want)
	}
}

func TestPerformanceInsightsSupport(t *testing.T) {
	for class, want := range map[string]bool{
		"db.t4g.micro": false, "db.t4g.small": false, "db.t3.small": false, "db.t2.large": false,
		"db.t4g.medium": true, "db.m7g.large": true, "db.r6i.xlarge": true,
	} {
		if got := database.SupportsPerformanceInsights(class); got != want {
			t.Errorf("%s: %v, want %v", class, got, want)
		}
	}
}

func TestInvalidArgsRegisterNothing(t *testing.T) {
	for name, mutate := range map[string]func(*database.Args){
		"engine":    func(a *database.Args) { a.Engine = "oracle" },
		"class":     func(a *database.Args) { a.InstanceClass = "t3.micro" },
		"retention": func(a *database.Args) { a.BackupRetentionDays = 36 },
		"subnets":   func(a *database.Args) { a.SubnetIDs = nil },
		"no admin":  func(a *database.Args) { a.Administrators = nil },
		"admin":     func(a *database.Args) { a.Administrators = []string{"deployer"} },
		// A full version with automatic minor upgrades: after AWS's first
		// upgrade every diff would ask to go back down.
		"full version":  func(a *database.Args) { a.EngineVersion = "16.4" },
		"log retention": func(a *database.Args) { a.LogRetentionDays = 10 },
		// The forced-TLS parameter cannot be turned off through the extras.
		"tls override": func(a *database.Args) {
			a.Parameters = []database.Parameter{{Name: "rds.force_ssl", Value: "0"}}
		},
		"parameter twice": func(a *database.Args) {
			a.Parameters = []database.Parameter{{Name: "work_mem", Value: "8192"}, {Name: "WORK_MEM", Value: "1"}}
		},
		"parameter name": func(a *database.Args) { a.Parameters = []database.Parameter{{Name: "a b", Value: "1"}} },
		"parameter method": func(a *database.Args) {
			a.Parameters = []database.Parameter{{Name: "work_mem", Value: "1", ApplyMethod: "now"}}
		},
	} {
		args := prodArgs()
		mutate(&args)
		rec, err := mocks.Run(func(ctx *pulumi.Context) error {
			_, err := database.New(ctx, "db", args)
			return err
		}, mocks.Options{Project: "webstack", Stack: "test"})
		if err == nil || rec.Count() != 0 {
			t.Errorf("%s: err=%v, %d resources", name, err, rec.Count())
		}
	}
}

// Extra parameters go into the parameter group beside the forced-TLS one,
// which stays last and immediate.
func TestExtraParametersBesideTLS(t *testing.T) {
	args := prodArgs()
	args.Parameters = []database.Parameter{
		{Name: "log_min_duration_statement", Value: "500"},
		{Name: "shared_preload_libraries", Value: "pg_stat_statements", ApplyMethod: "pending-reboot"},
	}
	pg := run(t, args).OfType("aws:rds/parameterGroup:ParameterGroup")[0]
	got, _ := mocks.Reveal(pg.In("parameters")).([]any)
	want := []map[string]any{
		{"name": "log_min_duration_statement", "value": "500", "applyMethod": "immediate"},
		{"name": "shared_preload_libraries", "value": "pg_stat_statements", "applyMethod": "pending-reboot"},
		{"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"},
	}
	if len(got) != len(want) {
		t.Fatalf("parameters = %v", got)
	}
	for i, w := range want {
		p, _ := got[i].(map[string]any)
		for k, v := range w {
			if mocks.Reveal(p[k]) != v {
				t.Errorf("parameters[%d].%s = %v, want %v", i, k, p[k], v)
			}
		}
	}
}

// The credentials secret denies its value to every principal but the
// readers' roles and the administrators (the deployer, whose Pulumi reads
// it on refresh); it is kept and protected like the secret.
func TestSecretPolicyDeniesEveryoneButReadersAndAdministrators(t *testing.T) {
	const app = "arn:aws:iam::123456789012:role/app-role-1234567"
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		d, err := database.New(ctx, "db", prodArgs())
		if err != nil {
			return err
		}
		return d.RestrictSecret(ctx, "db-credentials", pulumi.String(app))
	}, mocks.Options{Project: "webstack", Stack: "test", Config: map[string]string{"aws:region": "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	policies := rec.OfType("aws:secretsmanager/secretPolicy:SecretPolicy")
	secret := rec.Named("aws:secretsmanager/secret:Secret", "db-credentials")
	if len(policies) != 1 || secret == nil {
		t.Fatalf("%d secret policies", len(policies))
	}
	p := policies[0]
	if p.Str("secretArn") != secret.Outputs["arn"] || !p.Bool("blockPublicPolicy") || !p.Protect || !p.RetainOnDelete {
		t.Errorf("policy = %+v (protect %v, retain %v)", p.Inputs, p.Protect, p.RetainOnDelete)
	}
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Sid": "OnlyTheNamedPrincipalsReadTheValue", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
		"Action": []any{"secretsmanager:GetSecretValue"}, "Resource": []any{"*"},
		"Condition": map[string]any{"ArnNotLike": map[string]any{"aws:PrincipalArn": []any{app, deployer}}},
	}
	if len(doc.Statement) != 1 || !reflect.DeepEqual(doc.Statement[0], want) {
		t.Errorf("policy = %v\nwant %v", doc.Statement, want)
	}
}

// Changes are applied as the caller says, a major version change is
// allowed (AWS refuses one without the flag), and the TLS parameter, which
// both engines apply without a reboot, is applied immediately instead of
// waiting for a reboot nobody schedules.
func TestChangesApplyAsConfigured(t *testing.T) {
	for _, immediately := range []bool{false, true} {
		args := prodArgs()
		args.ApplyImmediately = immediately
		rec := run(t, args)
		db := rec.OfType(instanceT)[0]
		if db.Bool("applyImmediately") != immediately || db.In("applyImmediately") == nil {
			t.Errorf("applyImmediately = %v, want %v set explicitly", db.In("applyImmediately"), immediately)
		}
		if !db.Bool("allowMajorVersionUpgrade") {
			t.Error("allowMajorVersionUpgrade is off: a major version change would fail")
		}
		if got := rec.OfType(paramsT)[0].Str("parameters.0.applyMethod"); got != "immediate" {
			t.Errorf("TLS parameter applyMethod = %q, want immediate", got)
		}
	}
}

// The engine version is the major one only, and the parameter group's
// family follows it, so raising it is an in-place major upgrade with the
// new family's group.
func TestMajorVersionNamesTheFamily(t *testing.T) {
	for _, c := range []struct{ engine, version, family string }{
		{"postgres", "16", "postgres16"}, {"postgres", "17", "postgres17"}, {"mysql", "8.0", "mysql8.0"}, {"mysql", "8.4", "mysql8.4"},
	} {
		args := prodArgs()
		args.Engine, args.EngineVersion = c.engine, c.version
		rec := run(t, args)
		if got := rec.OfType(paramsT)[0].Str("family"); got != c.family {
			t.Errorf("%s %s: family %s, want %s", c.engine, c.version, got, c.family)
		}
		if got := rec.OfType(instanceT)[0].Str("engineVersion"); got != c.version {
			t.Errorf("%s %s: engineVersion %s", c.engine, c.version, got)
		}
	}
}

// Every log export has its log group, named as RDS names it, with the
// retention asked for, created before the instance (which depends on it),
// so RDS never creates one without a retention that destroy leaves behind.
func TestLogGroupsOfTheExports(t *testing.T) {
	for _, engine := range []string{"postgres", "mysql"} {
		args := prodArgs()
		args.Engine, args.LogRetentionDays = engine, 60
		if engine == "mysql" {
			args.EngineVersion = "8.0"
		}
		rec := run(t, args)
		db := rec.OfType(instanceT)[0]
		id := db.Str("identifier")
		groups := map[string]bool{}
		for _, g := range rec.OfType(logGroupT) {
			groups[g.Str("name")] = true
			if g.Int("retentionInDays") != 60 {
				t.Errorf("%s: log group %s keeps %d days, want 60", engine, g.Str("name"), g.Int("retentionInDays"))
			}
			if !slices.Contains(db.Dependencies, g.URN) {
				t.Errorf("%s: the instance does not depend on log group %s", engine, g.Str("name"))
			}
		}
		exports := db.Strings("enabledCloudwatchLogsExports")
		if len(exports) == 0 || len(groups) != len(exports) {
			t.Errorf("%s: log groups %v for exports %v", engine, groups, exports)
		}
		for _, e := range exports {
			if want := "/aws/rds/instance/" + id + "/" + e; !groups[want] {
				t.Errorf("%s: no log group %s (have %v)", engine, want, groups)
			}
		}
	}
}

// A setting that forces a replacement renews the random suffix of the
// identifier and of the final snapshot: the keepers hold every ForceNew
// field the instance sets, with the value it sets, so the replacement is
// created beside the old instance and its final snapshot never collides
// with the old one's.
func TestReplacementRenewsIdentifierAndSnapshot(t *testing.T) {
	rec := run(t, prodArgs())
	db := rec.OfType(instanceT)[0]
	ids := rec.OfType(randomIDT)
	if len(ids) != 1 {
		t.Fatalf("%d random ids, want 1", len(ids))
	}
	keepers, _ := mocks.Reveal(ids[0].In("keepers")).(map[string]any)
	set := 0
	for _, field := range database.ForceNewFields {
		v := db.In(field)
		if v == nil {
			continue
		}
		set++
		if got, ok := keepers[field]; !ok || fmt.Sprint(got) != fmt.Sprint(mocks.Reveal(v)) {
			t.Errorf("keeper %s = %v, want the instance's %v: changing it would replace the instance and reuse the final snapshot name", field, got, mocks.Reveal(v))
		}
	}
	if set < 4 {
		t.Errorf("only %d ForceNew fields set on the instance: %v", set, db.Inputs)
	}
	hex, _ := mocks.Reveal(ids[0].Out("hex")).(string)
	if hex == "" || db.Str("finalSnapshotIdentifier") != "webstack-final-"+hex || db.Str("identifier") != "webstack-test-db-"+hex {
		t.Errorf("identifier %q, final snapshot %q: want both to end in the random hex %q", db.Str("identifier"), db.Str("finalSnapshotIdentifier"), hex)
	}
}

// The identifier obeys RDS's rules whatever the project and stack names.
func TestIdentifierRules(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	for _, prefix := range []string{"webstack-prod-database", "Web_Stack.prod--db", "9lives-db", "", "---", strings.Repeat("long-name", 20)} {
		id := database.Identifier(prefix, "0a1b2c3d")
		if len(id) > 63 || !valid.MatchString(id) || strings.Contains(id, "--") || strings.HasSuffix(id, "-") || !strings.HasSuffix(id, "-0a1b2c3d") {
			t.Errorf("Identifier(%q) = %q: not a valid RDS identifier ending in the hex", prefix, id)
		}
	}
	if got := database.Identifier("webstack-prod-database", "0a1b2c3d"); got != "webstack-prod-database-0a1b2c3d" {
		t.Errorf("Identifier = %q", got)
	}
}

// The component refuses, naming the field, what RDS or the engine would
// refuse later (or what would break the stack), whoever calls it.
func TestRulesNameTheField(t *testing.T) {
	for want, mutate := range map[string]func(*database.Args){
		`Args.EngineVersion = "12"`:                                        func(a *database.Args) { a.EngineVersion = "12" },
		`Args.InstanceClass = "t3.micro"`:                                  func(a *database.Args) { a.InstanceClass = "t3.micro" },
		"Args.AllocatedStorageGiB = 10":                                    func(a *database.Args) { a.AllocatedStorageGiB = 10 },
		"Args.MaxAllocatedStorageGiB = 21":                                 func(a *database.Args) { a.MaxAllocatedStorageGiB = 21 },
		`Args.BackupWindow = "03:00-03:10"`:                                func(a *database.Args) { a.BackupWindow = "03:00-03:10" },
		`Args.MaintenanceWindow = "sun:03:30-sun:04:30": must not overlap`: func(a *database.Args) { a.MaintenanceWindow = "sun:03:30-sun:04:30" },
		`Args.FinalSnapshotPrefix = "final--x"`:                            func(a *database.Args) { a.FinalSnapshotPrefix = "final--x" },
		`Args.Name = "template1"`:                                          func(a *database.Args) { a.Name = "template1" },
		`Args.Username = "rdsadmin"`:                                       func(a *database.Args) { a.Username = "rdsadmin" },
		"Args.Port = 80":                                                   func(a *database.Args) { a.Port = 80 },
		`Args.Parameters[0].ApplyMethod = "now"`: func(a *database.Args) {
			a.Parameters = []database.Parameter{{Name: "work_mem", Value: "1", ApplyMethod: "now"}}
		},
	} {
		args := prodArgs()
		mutate(&args)
		rec, err := mocks.Run(func(ctx *pulumi.Context) error {
			_, err := database.New(ctx, "db", args)
			return err
		}, mocks.Options{Project: "webstack", Stack: "test"})
		if err == nil || !strings.Contains(err.Error(), "database: "+want) || rec.Count() != 0 {
			t.Errorf("%s: err=%v, %d resources", want, err, rec.Count())
		}
	}
}

// Enhanced monitoring: the instance reports every IntervalSeconds with a
// role that RDS assumes for this account's instances only, under the
// stack's permissions boundary; a bad interval is refused.
func TestEnhancedMonitoring(t *testing.T) {
	boundary := "arn:aws:iam::123456789012:policy/b"
	a := prodArgs()
	a.EnhancedMonitoring = &database.EnhancedMonitoring{IntervalSeconds: 60, Partition: "aws", Region: "us-east-1", AccountID: "123456789012", PermissionsBoundary: boundary}
	rec := run(t, a)
	db := rec.OfType("aws:rds/instance:Instance")[0]
	role := rec.Named("aws:iam/role:Role", "db-monitoring")
	if db.Int("monitoringInterval") != 60 || role == nil || db.Str("monitoringRoleArn") != role.Outputs["arn"] {
		t.Fatalf("instance monitoringInterval %d, role ARN %q; role %v", db.Int("monitoringInterval"), db.Str("monitoringRoleArn"), role)
	}
	trust := role.Str("assumeRolePolicy")
	for _, want := range []string{`"Service":"monitoring.rds.amazonaws.com"`, `"aws:SourceAccount":"123456789012"`, `"aws:SourceArn":"arn:aws:rds:us-east-1:123456789012:db:*"`} {
		if !strings.Contains(trust, want) {
			t.Errorf("trust policy lacks %s: %s", want, trust)
		}
	}
	if role.Str("permissionsBoundary") != boundary {
		t.Errorf("role boundary %q", role.Str("permissionsBoundary"))
	}
	a.EnhancedMonitoring = &database.EnhancedMonitoring{IntervalSeconds: 45, Partition: "aws", Region: "us-east-1", AccountID: "123456789012"}
	_, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := database.New(ctx, "db", a)
		return err
	}, mocks.Options{Project: "webstack", Stack: "test", Config: map[string]string{"aws:region": "us-east-1"}})
	if err == nil || !strings.Contains(err.Error(), "EnhancedMonitoring.IntervalSeconds = 45: must be 1, 5, 10, 15, 30 or 60") {
		t.Errorf("interval 45: %v", err)
	}
}
