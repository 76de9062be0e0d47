//go:build engine

package engine_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/engine"
	"github.com/foobar/webstack/internal/testtools"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// migrationState is a stack deployed with the previous version (fixed EC2
// instances), exported with pulumi stack export: its secrets are
// ciphertext under the engine's passphrase and the salt of its stack file.
type migrationState struct {
	Source         string                    `json:"source"`
	EncryptionSalt string                    `json:"encryptionsalt"`
	State          apitype.UntypedDeployment `json:"state"`
}

func loadMigrationState(t *testing.T, name string) migrationState {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "migration", name+".json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var m migrationState
	if err := json.NewDecoder(z).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEngineMigration previews this version against the state of a stack
// deployed with fixed EC2 instances: what an operator who takes this
// version sees. The plan is kept in testdata/plans/migrate-<stack>.txt
// (-update rewrites it), and the test asserts what must hold: the
// network, the database, its credentials, the bucket and the Elastic IP
// stay (no replace, no delete), the fixed instances go, the groups come.
func TestEngineMigration(t *testing.T) {
	for _, name := range []string{"dev", "prod"} {
		t.Run(name, func(t *testing.T) {
			m := loadMigrationState(t, name)
			e := start(t)
			ctx := context.Background()
			stackFile, err := os.ReadFile(filepath.Join(root, "Pulumi."+name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			stackFile = append(stackFile, []byte("\nencryptionsalt: "+m.EncryptionSalt+"\n")...)
			var timings []string
			st := step(t, "stack init", &timings, func() (*engine.Stack, error) { return e.NewStack(ctx, name, infra.Program, stackFile) })
			step(t, "stack import", &timings, func() (struct{}, error) { return struct{}{}, st.Import(ctx, m.State) })
			plan := step(t, "preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })

			text := migrationPlan(name, m.Source, plan, st)
			testtools.Golden(t, filepath.Join(root, "testdata", "plans", "migrate-"+name+".txt"), text)

			// What must stay: nothing of the data, the network or the
			// site's public address is replaced or deleted. (The NAT
			// gateways and their addresses go: the stacks no longer run
			// any, docs/OPERATIONS.md.)
			kept := []string{
				"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet",
				"aws:rds/instance:Instance", "aws:rds/subnetGroup:SubnetGroup",
				"aws:secretsmanager/secret:Secret", "aws:secretsmanager/secretVersion:SecretVersion",
				"aws:s3/bucketV2:BucketV2", "aws:kms/key:Key",
				// The tiers' security groups moved from one firewall
				// component into the tiers (aliased): the same groups.
				"aws:ec2/securityGroup:SecurityGroup",
			}
			for _, op := range []apitype.OpType{apitype.OpReplace, apitype.OpCreateReplacement, apitype.OpDeleteReplaced, apitype.OpDelete} {
				for _, u := range plan[op] {
					site := resource.URN(u).Type() == "aws:ec2/eip:Eip" && !strings.HasPrefix(resource.URN(u).Name(), "network-nat-")
					if slices.Contains(kept, string(resource.URN(u).Type())) || site {
						t.Errorf("the migration would %s %s", op, u)
					}
				}
			}
			// A resource whose URN changed (a new parent) without an alias is
			// created anew, then the old one deleted: for an S3 object of
			// the same key, that deletes what was just written.
			created := map[string]bool{}
			for _, u := range plan[apitype.OpCreate] {
				created[string(resource.URN(u).Type())+" "+resource.URN(u).Name()] = true
			}
			for _, u := range plan[apitype.OpDelete] {
				if created[string(resource.URN(u).Type())+" "+resource.URN(u).Name()] {
					t.Errorf("%s is deleted and created again under another URN: alias it", u)
				}
			}
			// The fixed hosts poll their bundle until they are deleted, at
			// the end: a bundle changed in place would reach them, and the
			// new web bundle (nginx fed by an agent they cannot run) would
			// empty their upstreams. New bundles get new keys.
			for _, u := range plan[apitype.OpUpdate] {
				if resource.URN(u).Type() == "aws:s3/bucketObjectv2:BucketObjectv2" && strings.HasSuffix(resource.URN(u).Name(), "-bundle") {
					t.Errorf("%s is changed in place: the fixed hosts would apply it before they are replaced", u)
				}
			}
			// The fixed instances go, the groups come.
			var instances, groups int
			for _, u := range plan[apitype.OpDelete] {
				if resource.URN(u).Type() == "aws:ec2/instance:Instance" {
					instances++
				}
			}
			for _, u := range plan[apitype.OpCreate] {
				if resource.URN(u).Type() == "aws:autoscaling/group:Group" {
					groups++
				}
			}
			if instances < 4 || groups != 3 {
				t.Errorf("the migration deletes %d EC2 instances and creates %d groups; want every fixed host deleted and 3 groups", instances, groups)
			}
			t.Logf("%s: %s", name, strings.Join(timings, ", "))
		})
	}
}

// migrationPlan renders a preview as the snapshot keeps it: each
// operation's resources by type and name, with the properties an update
// changes.
func migrationPlan(stack, source string, plan engine.Changes, st *engine.Stack) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# webstack migration plan: stack %[1]s, from fixed EC2 instances to Auto Scaling groups
#
# pulumi preview of this version's program, with Pulumi.%[1]s.yaml, against the state of a stack
# deployed with the previous version (%[2]s).
# Rendered by the engine test (make test-engine) with the fake cloud; rewrite with
# go test -tags engine ./internal/engine/ -run TestEngineMigration -update.
# docs/HOSTS.md explains the order in which pulumi up applies it.
#
`, stack, source)
	ops := []struct {
		op   apitype.OpType
		what string
	}{
		{apitype.OpCreate, "create"}, {apitype.OpUpdate, "update in place"}, {apitype.OpReplace, "replace"},
		{apitype.OpDelete, "delete"}, {apitype.OpSame, "unchanged"},
	}
	var counts []string
	for _, o := range ops {
		counts = append(counts, fmt.Sprintf("%d %s", len(plan[o.op]), o.what))
	}
	fmt.Fprintf(&b, "# %s.\n", strings.Join(counts, ", "))
	for _, o := range ops[:4] {
		if len(plan[o.op]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", o.what, len(plan[o.op]))
		var lines []string
		for _, u := range plan[o.op] {
			urn := resource.URN(u)
			line := fmt.Sprintf("  %s %s", urn.Type(), urn.Name())
			if o.op != apitype.OpCreate && o.op != apitype.OpDelete {
				if d := st.Diffs(u); len(d) > 0 {
					line += "  [" + strings.Join(d, ", ") + "]"
				}
			}
			lines = append(lines, line)
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}
