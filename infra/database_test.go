package infra_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

// What each environment's database looks like, from its stack file.
func TestDatabasePerEnvironment(t *testing.T) {
	for _, tc := range []struct {
		stack                       string
		multiAZ, deletionProtection bool
		finalSnapshot, protect      bool
		minBackupDays               int
	}{
		{"dev", false, false, false, false, 0},
		{"staging", false, false, true, false, 7},
		{"prod", true, true, true, true, 14},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			rec := mustRunStack(t, tc.stack)
			dbs := rec.OfType(rdsT)
			if len(dbs) != 1 {
				t.Fatalf("%d databases", len(dbs))
			}
			db := dbs[0]
			if db.Bool("multiAz") != tc.multiAZ || db.Bool("deletionProtection") != tc.deletionProtection || db.Protect != tc.protect {
				t.Errorf("multiAz %v, deletionProtection %v, protect %v", db.Bool("multiAz"), db.Bool("deletionProtection"), db.Protect)
			}
			if hasSnapshot := !db.Bool("skipFinalSnapshot") && db.Str("finalSnapshotIdentifier") != ""; hasSnapshot != tc.finalSnapshot {
				t.Errorf("final snapshot: %v (%q)", hasSnapshot, db.Str("finalSnapshotIdentifier"))
			}
			if db.Int("backupRetentionPeriod") < tc.minBackupDays {
				t.Errorf("backups kept %d days, want at least %d", db.Int("backupRetentionPeriod"), tc.minBackupDays)
			}
			if !db.Bool("storageEncrypted") || db.Bool("publiclyAccessible") {
				t.Error("the database must be encrypted and private")
			}
			group := rec.ByID(db.Str("vpcSecurityGroupIds.0"))
			if group == nil || group.Name != "firewall-database" {
				t.Errorf("database behind %v, want the database tier's group", group)
			}
			subnets := rec.Where("aws:rds/subnetGroup:SubnetGroup", func(*mocks.Resource) bool { return true })
			for _, id := range subnets[0].Strings("subnetIds") {
				if s := rec.ByID(id); s == nil || !strings.HasPrefix(s.Name, "network-database-") {
					t.Errorf("database subnet group holds %v", s)
				}
			}
		})
	}
}

// secrets are the values Pulumi must keep secret in a run: every generated
// password.
func secrets(t *testing.T, rec *mocks.Recorder) []string {
	var out []string
	for _, p := range rec.OfType(passwordT) {
		v, ok := p.Outputs["result"].(mocks.Secret)
		if !ok {
			t.Errorf("%s: result is not secret", p.Name)
		}
		out = append(out, mocks.Reveal(v).(string))
	}
	if len(out) < 3 {
		t.Fatalf("found %d passwords, want the database's, the stats and the VRRP ones", len(out))
	}
	return out
}

// No password appears in plain text anywhere Pulumi writes: no resource's
// inputs or outputs (user data, bundles, tags, policies included) and no
// stack output; where a password is an input, it is a secret.
func TestPasswordsAppearNowhereInPlainText(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			opts := stackOptions(t, stack, nil)
			rec, err := mocks.Run(infra.Program, opts)
			if err != nil {
				t.Fatal(err)
			}
			pws := secrets(t, rec)
			for _, r := range rec.Resources() {
				for _, pw := range pws {
					if where := append(mocks.FindPlain(r.Inputs, pw, "inputs"), mocks.FindPlain(r.Outputs, pw, "outputs")...); len(where) > 0 {
						// Do not print the password itself: only where it is.
						t.Errorf("%s %s holds a password in plain text at %v", r.Type, r.Name, where)
					}
				}
			}
			values, _ := exports(t, opts)
			for name, v := range values {
				for _, pw := range pws {
					if strings.Contains(fmt.Sprint(v), pw) {
						t.Errorf("stack output %s holds a password", name)
					}
				}
			}
			for _, name := range []string{"databaseEndpoint", "databaseSecretArn", "url"} {
				if values[name] == nil || values[name] == "" {
					t.Errorf("stack output %s is missing", name)
				}
			}
		})
	}
}
