package guardrails

import (
	"fmt"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
)

// WS019: every VPC has flow logs of all its traffic.
func checkFlowLogs(g *Graph) []Finding {
	var out []Finding
	for _, v := range g.OfType(vpcT) {
		var traffic []string
		for _, f := range g.OfType(flowLogT) {
			if f.Str("vpcId") == v.ID {
				traffic = append(traffic, f.Str("trafficType"))
			}
		}
		switch {
		case len(traffic) == 0:
			out = append(out, flag(v, "has no flow logs"))
		case !contains(traffic, "ALL"):
			out = append(out, flag(v, "flow logs record %v traffic only, not ALL (accepted and rejected)", traffic))
		}
	}
	return out
}

// WS020: log groups keep logs for a set time.
func checkLogRetention(g *Graph) []Finding {
	return each(g, func(l *mocks.Resource) string {
		if l.Int("retentionInDays") < 1 {
			return fmt.Sprintf("retentionInDays is %d: logs are kept forever (and paid for forever); set a retention", l.Int("retentionInDays"))
		}
		return ""
	}, logGroupT)
}

// engineFamily is postgres or mysql (mariadb counts as mysql).
func engineFamily(engine string) string {
	switch {
	case strings.Contains(engine, "postgres"):
		return "postgres"
	case strings.Contains(engine, "mysql"), strings.Contains(engine, "mariadb"):
		return "mysql"
	}
	return engine
}

// WS021: database storage is encrypted.
func checkDBEncrypted(g *Graph) []Finding {
	return each(g, func(db *mocks.Resource) string {
		if !db.Bool("storageEncrypted") {
			return "storageEncrypted is not true"
		}
		return ""
	}, rdsT)
}

// WS022: the database is never publicly accessible.
func checkDBPrivate(g *Graph) []Finding {
	return each(g, func(db *mocks.Resource) string {
		if db.Bool("publiclyAccessible") {
			return "publiclyAccessible is true: it would get a public DNS name and address"
		}
		return ""
	}, rdsT)
}

// WS023: the database refuses connections without TLS.
func checkDBTLS(g *Graph) []Finding {
	var out []Finding
	for _, db := range g.OfType(rdsT) {
		name := db.Str("parameterGroupName")
		pg := g.Ref(name, paramGroupT)
		if pg == nil {
			for _, p := range g.OfType(paramGroupT) {
				if p.Str("name") == name && name != "" {
					pg = p
				}
			}
		}
		if pg == nil {
			out = append(out, flag(db, "parameter group %q is not one of this stack's: AWS's default groups accept plain connections", name))
			continue
		}
		params, methods := map[string]string{}, map[string]string{}
		list, _ := mocks.Reveal(pg.In("parameters")).([]any)
		for i := range list {
			name := pg.Str(fmt.Sprintf("parameters.%d.name", i))
			params[name] = strings.ToLower(pg.Str(fmt.Sprintf("parameters.%d.value", i)))
			methods[name] = pg.Str(fmt.Sprintf("parameters.%d.applyMethod", i))
		}
		// Both parameters are dynamic; pending-reboot would leave TLS off
		// until someone reboots the instance, which AWS never does itself.
		for _, p := range []string{"rds.force_ssl", "require_secure_transport"} {
			if methods[p] == "pending-reboot" {
				out = append(out, flag(db, "parameter group %s sets %s with applyMethod pending-reboot: TLS is not forced until someone reboots the instance; the parameter is dynamic, use immediate", pg.Name, p))
			}
		}
		on := func(v string) bool { return v == "1" || v == "on" || v == "true" }
		ok := false
		switch engineFamily(db.Str("engine")) {
		case "postgres":
			ok = on(params["rds.force_ssl"])
		case "mysql":
			ok = on(params["require_secure_transport"])
		default:
			ok = on(params["rds.force_ssl"]) || on(params["require_secure_transport"])
		}
		if !ok {
			out = append(out, flag(db, "parameter group %s does not force TLS (rds.force_ssl=1 for PostgreSQL, require_secure_transport=1 for MySQL)", pg.Name))
		}
	}
	return out
}

// minBackupDays is how many days of backups an environment keeps at least
// (stacks/validate.go, docs/SETTINGS.md).
func (g *Graph) minBackupDays() int {
	switch g.Environment {
	case stacks.Dev:
		return 1
	case stacks.Staging:
		return stacks.StagingMinBackupDays
	}
	return stacks.ProdMinBackupDays
}

// WS024: backups are on, and kept long enough for the environment.
func checkDBBackups(g *Graph) []Finding {
	return each(g, func(db *mocks.Resource) string {
		if days, want := db.Int("backupRetentionPeriod"), g.minBackupDays(); days < want {
			return fmt.Sprintf("backupRetentionPeriod is %d days; %s keeps at least %d", days, g.envName(), want)
		}
		return ""
	}, rdsT)
}

func (g *Graph) envName() string {
	if g.Environment == "" {
		return "an unknown environment (production's rules)"
	}
	return string(g.Environment)
}

// WS025: in production, neither AWS nor Pulumi deletes the database.
func checkDBDeletionProtection(g *Graph) []Finding {
	if !g.prodRules() {
		return nil
	}
	var out []Finding
	for _, db := range g.OfType(rdsT) {
		var problems []string
		if !db.Bool("deletionProtection") {
			problems = append(problems, "deletionProtection is off")
		}
		if !db.Protect {
			problems = append(problems, "Pulumi's protect is off")
		}
		if len(problems) > 0 {
			out = append(out, flag(db, "%s: %s's database must never be deleted or replaced silently", strings.Join(problems, " and "), g.envName()))
		}
	}
	return out
}

// WS026: in production, deleting the database leaves a final snapshot.
func checkDBFinalSnapshot(g *Graph) []Finding {
	if !g.prodRules() {
		return nil
	}
	return each(g, func(db *mocks.Resource) string {
		if db.Bool("skipFinalSnapshot") || db.Str("finalSnapshotIdentifier") == "" {
			return fmt.Sprintf("no final snapshot on delete (skipFinalSnapshot %v, finalSnapshotIdentifier %q)", db.Bool("skipFinalSnapshot"), db.Str("finalSnapshotIdentifier"))
		}
		return ""
	}, rdsT)
}

// WS027: in production, the database has a standby in another zone.
func checkDBMultiAZ(g *Graph) []Finding {
	if !g.prodRules() {
		return nil
	}
	return each(g, func(db *mocks.Resource) string {
		if !db.Bool("multiAz") {
			return fmt.Sprintf("multiAz is off: one zone's failure stops %s's database", g.envName())
		}
		return ""
	}, rdsT)
}

// WS028: minor engine upgrades are applied automatically.
func checkDBMinorUpgrades(g *Graph) []Finding {
	return each(g, func(db *mocks.Resource) string {
		if v, ok := mocks.Reveal(db.In("autoMinorVersionUpgrade")).(bool); ok && !v {
			return "autoMinorVersionUpgrade is false: security fixes of the engine wait for someone"
		}
		return ""
	}, rdsT)
}

// WS029: the engine's logs go to CloudWatch Logs.
func checkDBLogExports(g *Graph) []Finding {
	want := map[string]string{"postgres": "postgresql", "mysql": "error"}
	var out []Finding
	for _, db := range g.OfType(rdsT) {
		logs := db.Strings("enabledCloudwatchLogsExports")
		main := want[engineFamily(db.Str("engine"))]
		switch {
		case len(logs) == 0:
			out = append(out, flag(db, "exports no logs to CloudWatch Logs"))
		case main != "" && !contains(logs, main):
			out = append(out, flag(db, "exports %v but not the engine's main log %q", logs, main))
		}
	}
	return out
}

// WS039: the secret holding a database's password is protected with the
// database and retained when the database leaves a final snapshot.
func checkCredentialsOutliveDatabase(g *Graph) []Finding {
	var out []Finding
	for _, db := range g.OfType(rdsT) {
		pw := db.Str("password")
		if pw == "" {
			continue
		}
		for _, v := range g.OfType(secretVersionT) {
			if !strings.Contains(v.Str("secretString"), pw) {
				continue
			}
			holders := []*mocks.Resource{v}
			if s := g.Ref(v.Str("secretId"), secretT); s != nil {
				holders = append(holders, s)
			}
			for _, r := range holders {
				var problems []string
				if db.Protect && !r.Protect {
					problems = append(problems, "is not protected like its database")
				}
				if !db.Bool("skipFinalSnapshot") && !r.RetainOnDelete {
					problems = append(problems, "would be deleted with the database while its final snapshot needs it (retainOnDelete)")
				}
				if len(problems) > 0 {
					out = append(out, flag(r, "holds the password of database %s but %s", db.Name, strings.Join(problems, " and ")))
				}
			}
		}
	}
	return out
}

// destroyGuardT is the resource that stands in front of a protected stack.
const destroyGuardT = "webstack:index:DestroyGuard"

// WS040: a stack with protected resources has a protected destroy guard
// that depends on every other resource.
func checkDestroyGuard(g *Graph) []Finding {
	var protected []*mocks.Resource
	for _, r := range g.Resources {
		if r.Protect && r.Type != destroyGuardT {
			protected = append(protected, r)
		}
	}
	if len(protected) == 0 {
		return nil
	}
	guards := g.OfType(destroyGuardT)
	if len(guards) == 0 {
		return []Finding{flag(protected[0], "is protected, but nothing guards the rest of the stack: pulumi destroy would delete everything that does not depend on it")}
	}
	var out []Finding
	for _, guard := range guards {
		if !guard.Protect {
			out = append(out, flag(guard, "the destroy guard is not protected"))
			continue
		}
		var missing []string
		for _, r := range g.Resources {
			if r.Custom && r.Type != destroyGuardT && !strings.HasPrefix(r.Type, "pulumi:providers:") && !slices.Contains(guard.Dependencies, r.URN) {
				missing = append(missing, r.Type+" "+r.Name)
			}
		}
		if len(missing) > 0 {
			out = append(out, flag(guard, "does not depend on %d resources (%s), which destroy would delete before reaching it", len(missing), strings.Join(missing[:min(3, len(missing))], ", ")))
		}
	}
	return out
}

// WS048: every log export of a database goes to a log group of the stack,
// created before the instance, so RDS does not create one itself (no
// retention, left behind by destroy).
func checkDBLogGroups(g *Graph) []Finding {
	var out []Finding
	groups := map[string]*mocks.Resource{}
	for _, l := range g.OfType(logGroupT) {
		groups[l.Str("name")] = l
	}
	for _, db := range g.OfType(rdsT) {
		exports := db.Strings("enabledCloudwatchLogsExports")
		id := db.Str("identifier")
		if id == "" && len(exports) > 0 {
			out = append(out, flag(db, "exports logs %v but has no identifier: its log groups cannot be named before it exists, so RDS creates them, without a retention", exports))
			continue
		}
		for _, e := range exports {
			name := database.LogGroupName(id, e)
			l, ok := groups[name]
			switch {
			case !ok:
				out = append(out, flag(db, "exports %s logs, but the stack has no log group %s: RDS creates it without a retention, and destroy leaves it", e, name))
			case !slices.Contains(db.Dependencies, l.URN):
				out = append(out, flag(db, "does not depend on its log group %s: RDS may create it first, and the stack's create then fails", name))
			}
		}
	}
	return out
}
