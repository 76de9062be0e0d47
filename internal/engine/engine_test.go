//go:build engine

// The engine tests: make test-engine (go test -tags engine ./internal/engine/).
// They build the pinned Pulumi CLI once if none is found (about 3 minutes;
// see scripts/pulumi-cli.sh), so they are behind a build tag instead of in
// go test ./...; CI runs them.
package engine_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/examples/bluegreen"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/engine"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/internal/testtools"
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

var root, _ = filepath.Abs("../..")

// start serves a fresh fake cloud and its providers for one test.
func start(t *testing.T) *engine.Engine {
	t.Helper()
	cli, err := engine.CLI(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e, err := engine.Start(ctx, engine.Options{ProjectDir: root, CLI: cli, Dir: t.TempDir(), Cloud: mocks.CloudOptions{Region: "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// step runs one engine step; a failure stops the test with the step and
// the engine's own message.
func step[T any](t *testing.T, name string, timings *[]string, f func() (T, error)) T {
	t.Helper()
	began := time.Now()
	v, err := f()
	*timings = append(*timings, fmt.Sprintf("%s %.1fs", name, time.Since(began).Seconds()))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// changing lists the steps that change something, refreshes aside.
func changing(c engine.Changes) []string {
	var out []string
	for _, s := range c.NotSame() {
		if !strings.HasPrefix(s, string(apitype.OpRefresh)+" ") {
			out = append(out, s)
		}
	}
	return out
}

// TestEngineStacks takes each committed stack through the engine: preview,
// up, an empty second preview, an empty preview after the cloud drifted
// the way it will (a newer Amazon Linux image, the Elastic IP moved to the
// other node by keepalived), a scale-out preview that creates and updates
// only what it should, the stack's outputs, no generated password in plain
// text anywhere the engine wrote, and destroy as docs/OPERATIONS.md says.
func TestEngineStacks(t *testing.T) {
	for _, name := range []string{"dev", "staging", "prod"} {
		t.Run(name, func(t *testing.T) { lifecycle(t, name) })
	}
}

func lifecycle(t *testing.T, name string) {
	began := time.Now()
	e := start(t)
	ctx := context.Background()
	var timings []string
	st := step(t, "stack init", &timings, func() (*engine.Stack, error) { return e.NewStack(ctx, name, infra.Program, nil) })

	planned := step(t, "preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	if n := planned.Count(apitype.OpCreate); n < 50 || len(changing(planned)) != n {
		t.Fatalf("first preview: %d creates among %v", n, changing(planned))
	}
	done := step(t, "up", &timings, func() (engine.Changes, error) { return st.Up(ctx) })
	if !slices.Equal(planned[apitype.OpCreate], done[apitype.OpCreate]) {
		t.Errorf("up created other resources than the preview planned:\npreview: %v\nup: %v", planned[apitype.OpCreate], done[apitype.OpCreate])
	}

	again := step(t, "second preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	if c := changing(again); len(c) > 0 {
		t.Errorf("a preview right after up wants changes (a nondeterministic program?):\n%s", strings.Join(c, "\n"))
	}

	// Drift: AWS publishes a newer image, and keepalived moved the Elastic
	// IP to the second load balancer.
	// The group launched the nodes (AWS, not Pulumi), and the MASTER node
	// took the address; where a policy scales them, the groups grew.
	s := settings(t, name)
	e.World.PublishImages("2026.12")
	moved := e.World.Mutate(func(l *engine.Live) bool { return l.Type() == "aws:ec2/eip:Eip" && l.URN.Name() == "lb-eip" }, func(l *engine.Live) {
		l.Set("instance", "i-0a1b2c3d4e5f60718")
		l.Set("networkInterface", "eni-0a1b2c3d4e5f60718")
	})
	if s.Web.Scaling.Metric != "" {
		e.World.Mutate(func(l *engine.Live) bool {
			return l.Type() == "aws:autoscaling/group:Group" && (l.URN.Name() == "web" || l.URN.Name() == "app")
		}, func(l *engine.Live) {
			l.Inputs["desiredCapacity"] = resource.NewProperty(float64(s.Web.Desired + 1))
			l.Outputs["desiredCapacity"] = l.Inputs["desiredCapacity"]
		})
	}
	if moved != 1 {
		t.Fatalf("moved %d Elastic IPs", moved)
	}
	drifted := step(t, "preview --refresh after drift", &timings, func() (engine.Changes, error) { return st.Preview(ctx, true) })
	if c := changing(drifted); len(c) > 0 {
		t.Errorf("after a newer image and an Elastic IP takeover, the preview wants changes:\n%s", strings.Join(c, "\n"))
	}

	// Scale out: one more web server. The web servers' group changes in
	// place, and nothing else: the load balancers discover the new host.
	scale := scaleOut(s)
	setAll := func(values map[string]string) func() (struct{}, error) {
		return func() (struct{}, error) {
			for _, k := range slices.Sorted(maps.Keys(values)) {
				if err := st.SetConfigWithOptions(ctx, k, auto.ConfigValue{Value: values[k]}, &auto.ConfigOptions{Path: true}); err != nil {
					return struct{}{}, err
				}
			}
			return struct{}{}, nil
		}
	}
	step(t, "config set "+fmt.Sprint(scale.set), &timings, setAll(scale.set))
	grown := step(t, "scale-out preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	if got := changing(grown); len(got) != 1 || !strings.HasSuffix(got[0], "$aws:autoscaling/group:Group::web") || !strings.HasPrefix(got[0], "update ") {
		t.Errorf("scaling out (%v) wants %v; want only an update of the web servers' group", scale.set, got)
	}
	step(t, "config restore", &timings, setAll(scale.restore))

	// A rolling change: another instance type for the web servers is a new
	// version of their launch template and an update of their group (which
	// then refreshes its hosts); the group is not replaced.
	roll := map[string]string{s.Project + ":web.instanceType": "t4g.medium"}
	step(t, "config set "+fmt.Sprint(roll), &timings, setAll(roll))
	rolled := step(t, "rolling change preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	if got := changing(rolled); len(got) != 2 || !strings.HasSuffix(got[0], "$aws:autoscaling/group:Group::web") || !strings.HasSuffix(got[1], "$aws:ec2/launchTemplate:LaunchTemplate::web") ||
		!strings.HasPrefix(got[0], "update ") || !strings.HasPrefix(got[1], "update ") {
		t.Errorf("a new instance type for the web servers wants %v; want updates of their launch template and group", got)
	}
	step(t, "config restore", &timings, setAll(map[string]string{s.Project + ":web.instanceType": s.Web.InstanceType}))

	// A bundle change: another domain changes the web servers' nginx
	// configuration and the load balancers' health check, which they
	// apply in place. Each bundle's counter gets its next version, which
	// is the serial the new signed bundle carries; no launch template
	// changes. After the up, the live bundle opens with the key the
	// launch template pins, at serial 2, and a preview is empty again.
	rebundle := map[string]string{s.Project + ":dns.domain": "example.org"}
	step(t, "config set "+fmt.Sprint(rebundle), &timings, setAll(rebundle))
	bundled := step(t, "bundle change preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	for _, want := range []string{"$aws:ssm/parameter:Parameter::web-bundle-serial", "$aws:s3/bucketObjectv2:BucketObjectv2::web-bundle",
		"$aws:ssm/parameter:Parameter::lb-bundle-serial", "$aws:s3/bucketObjectv2:BucketObjectv2::lb-bundle"} {
		if !slices.ContainsFunc(changing(bundled), func(c string) bool { return strings.HasPrefix(c, "update ") && strings.HasSuffix(c, want) }) {
			t.Errorf("another domain: %v; want an update of %s", changing(bundled), want)
		}
	}
	for _, c := range changing(bundled) {
		if strings.Contains(c, "LaunchTemplate") || strings.Contains(c, "RandomBytes") || !strings.HasPrefix(c, "update ") {
			t.Errorf("a bundle change wants %s", c)
		}
	}
	step(t, "bundle change up", &timings, func() (engine.Changes, error) { return st.Up(ctx) })
	checkSignedBundle(t, e, "web", 2)
	checkSignedBundle(t, e, "app", 0)
	if c := changing(step(t, "preview after the bundle change", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })); len(c) > 0 {
		t.Errorf("a preview right after a bundle change wants changes:\n%s", strings.Join(c, "\n"))
	}
	step(t, "config restore", &timings, setAll(map[string]string{s.Project + ":dns.domain": s.DNS.Domain}))

	// A database replacement (another database name, a ForceNew field),
	// where Pulumi may replace it and AWS takes a final snapshot: the
	// instance gets a new identifier (created beside the old one), new log
	// groups, and a final snapshot name no earlier instance used, so the
	// replacement's delete now and the destroy at the end both succeed.
	if !s.Database.Protect && !s.Database.SkipFinalSnapshot {
		rename := map[string]string{s.Project + ":database.name": s.Database.Name + "2"}
		step(t, "config set "+fmt.Sprint(rename), &timings, setAll(rename))
		replacing := step(t, "database replacement preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
		for _, want := range []string{"$aws:rds/instance:Instance::database", "$random:index/randomId:RandomId::database-generation"} {
			if !slices.ContainsFunc(changing(replacing), func(c string) bool { return strings.HasPrefix(c, "replace ") && strings.HasSuffix(c, want) }) {
				t.Errorf("another database name: %v; want a replacement of %s", changing(replacing), want)
			}
		}
		step(t, "database replacement up", &timings, func() (engine.Changes, error) { return st.Up(ctx) })
		if snaps := e.World.Snapshots(); len(snaps) != 1 {
			t.Errorf("after the replacement, final snapshots %v; want the old instance's", snaps)
		}
		logs := e.World.Live(func(l *engine.Live) bool {
			return l.Type() == "aws:cloudwatch/logGroup:LogGroup" && strings.HasPrefix(liveString(l.Inputs["name"]), "/aws/rds/instance/")
		})
		db := e.World.Live(func(l *engine.Live) bool { return l.Type() == "aws:rds/instance:Instance" })
		if len(db) != 1 || len(logs) != len(database.LogExports(s.Database.Engine)) {
			t.Fatalf("after the replacement: %d instances, %d RDS log groups", len(db), len(logs))
		}
		for _, l := range logs {
			if !strings.HasPrefix(liveString(l.Inputs["name"]), "/aws/rds/instance/"+liveString(db[0].Inputs["identifier"])+"/") {
				t.Errorf("log group %s is not the live instance's (%s)", liveString(l.Inputs["name"]), liveString(db[0].Inputs["identifier"]))
			}
		}
	}

	// What the stack exports, and where its secrets are.
	outputs := step(t, "stack output", &timings, func() (auto.OutputMap, error) { return st.Outputs(ctx) })
	for _, key := range []string{"url", "publicIp", "vpcId", "bucket", "databaseEndpoint", "databaseSecretArn", "loadBalancerGroup", "webServerGroup", "appServerGroup"} {
		if v, ok := outputs[key]; !ok || v.Value == nil || v.Secret {
			t.Errorf("output %s = %+v; want a plain value", key, v)
		}
	}
	if url, _ := outputs["url"].Value.(string); !strings.HasPrefix(url, "http://203.0.113.") {
		t.Errorf("url = %q", outputs["url"].Value)
	}
	state := step(t, "stack export", &timings, func() (apitype.UntypedDeployment, error) { return st.ExportState(ctx) })
	passwords := e.World.Passwords()
	if len(passwords) < 3 {
		t.Fatalf("the random provider generated %d passwords; want the database's, the stats and the VRRP ones", len(passwords))
	}
	outJSON, _ := json.Marshal(outputs)
	places := map[string]string{"the exported state": string(state.Deployment), "the stack outputs": string(outJSON), "the CLI's output": st.Log()}
	filepath.WalkDir(e.BackendDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			places["backend file "+strings.TrimPrefix(p, e.BackendDir())] = string(b)
		}
		return nil
	})
	for where, text := range places {
		for i, pw := range passwords {
			if strings.Contains(text, pw) {
				t.Errorf("generated password #%d appears in plain text in %s", i+1, where)
			}
		}
	}
	if len(places) < 4 {
		t.Errorf("searched only %d places: the backend wrote no files?", len(places))
	}
	if !encrypted(t, state, "database-credentials", "secretString") {
		t.Error("the database credentials' secretString is not stored encrypted in the state")
	}

	before := liveNames(e.World.Live(nil))
	destroying := time.Now()
	_, err := st.Destroy(ctx)
	timings = append(timings, fmt.Sprintf("destroy %.1fs", time.Since(destroying).Seconds()))
	checkDestroy(t, e, s, before, err)
	testtools.Report(t, "%s: %d resources; %s; total %.1fs", name, done.Count(apitype.OpCreate), strings.Join(timings, ", "), time.Since(began).Seconds())
}

// checkSignedBundle: the live bundle object of a tier opens with the public
// key its live launch template pins, for its own key, at the serial given.
func checkSignedBundle(t *testing.T, e *engine.Engine, tier string, serial int64) {
	t.Helper()
	named := func(typ, name string) *engine.Live {
		live := e.World.Live(func(l *engine.Live) bool { return l.Type() == typ && l.URN.Name() == name })
		if len(live) != 1 {
			t.Fatalf("%d live %s %s", len(live), typ, name)
		}
		return &live[0]
	}
	lt, obj := named("aws:ec2/launchTemplate:LaunchTemplate", tier), named("aws:s3/bucketObjectv2:BucketObjectv2", tier+"-bundle")
	ud, err := base64.StdEncoding.DecodeString(liveString(lt.Inputs["userData"]))
	if err != nil {
		t.Fatal(err)
	}
	pin := regexp.MustCompile(`(?s)-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----`).FindString(string(ud))
	var lines []string
	for _, l := range strings.Split(pin, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	pub, err := host.ParsePublicKeyPEM(strings.Join(lines, "\n") + "\n")
	if err != nil {
		t.Fatalf("%s: the launch template pins no key: %v", tier, err)
	}
	env, err := host.Open(pub, liveString(obj.Inputs["content"]))
	if err != nil || env.Key != liveString(obj.Inputs["key"]) || env.Serial != serial {
		t.Errorf("%s: the live bundle: %v, key %s at %s, serial %d (want %d)", tier, err, env.Key, liveString(obj.Inputs["key"]), env.Serial, serial)
	}
}

func liveString(v resource.PropertyValue) string {
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// settings are a stack's settings as the program reads them.
func settings(t *testing.T, name string) *stacks.Settings {
	t.Helper()
	opts, err := mocks.StackOptions(root, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := stacks.FromConfig(opts.Project, name, opts.Config["aws:region"], func(key string) (string, bool) {
		v, ok := opts.Config[opts.Project+":"+key]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scaling is a scale-out: the settings to change, and back.
type scaling struct{ set, restore map[string]string }

// scaleOut adds one web server: one more desired host, or, where a
// scaling policy owns the desired count, one more at least.
func scaleOut(s *stacks.Settings) scaling {
	key := func(field string) string { return s.Project + ":web." + field }
	w := s.Web
	if w.Scaling.Metric != "" {
		return scaling{
			set:     map[string]string{key("min"): fmt.Sprint(w.Min + 1), key("desired"): fmt.Sprint(max(w.Desired, w.Min+1))},
			restore: map[string]string{key("min"): fmt.Sprint(w.Min), key("desired"): fmt.Sprint(w.Desired)},
		}
	}
	return scaling{
		set:     map[string]string{key("desired"): fmt.Sprint(w.Desired + 1), key("max"): fmt.Sprint(max(w.Max, w.Desired+1))},
		restore: map[string]string{key("desired"): fmt.Sprint(w.Desired), key("max"): fmt.Sprint(w.Max)},
	}
}

// encrypted reports whether a property of the resource named name is a
// Pulumi secret in the state: a ciphertext, not a value.
func encrypted(t *testing.T, state apitype.UntypedDeployment, name, key string) bool {
	t.Helper()
	var d struct {
		Resources []struct {
			URN     string         `json:"urn"`
			Inputs  map[string]any `json:"inputs"`
			Outputs map[string]any `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range d.Resources {
		if !strings.HasSuffix(r.URN, "::"+name) || !strings.Contains(r.URN, "secretVersion") {
			continue
		}
		for _, props := range []map[string]any{r.Inputs, r.Outputs} {
			v, ok := props[key].(map[string]any)
			if !ok || v["ciphertext"] == nil || v["4dabf18193072939515e22adb298388d"] != "1b47061264138c4ac30d75fd1eb44270" {
				return false
			}
			found = true
		}
	}
	return found
}

func liveNames(live []engine.Live) []string {
	var out []string
	for _, l := range live {
		out = append(out, l.Type()+" "+l.URN.Name())
	}
	return out
}

// checkDestroy: dev and staging go away (staging leaving its final
// snapshot and the credentials that open it, still readable only by the
// principals their resource policy names); a protected stack (prod)
// refuses, and deletes nothing.
func checkDestroy(t *testing.T, e *engine.Engine, s *stacks.Settings, before []string, err error) {
	t.Helper()
	left := liveNames(e.World.Live(nil))
	switch {
	case s.Database.Protect:
		if err == nil || !strings.Contains(err.Error(), "destroy-guard") || !strings.Contains(err.Error(), "protected") {
			t.Errorf("destroy of a protected stack: %v; want a refusal naming the destroy guard", err)
		}
		if !slices.Equal(left, before) {
			t.Errorf("destroy was refused, but %d of %d resources were deleted anyway", len(before)-len(left), len(before))
		}
	case err != nil:
		t.Errorf("destroy: %v", err)
	case s.Database.SkipFinalSnapshot:
		if len(left) > 0 || len(e.World.Snapshots()) > 0 {
			t.Errorf("after destroy: left %v, snapshots %v; want nothing", left, e.World.Snapshots())
		}
	default:
		// One final snapshot per instance deleted: the replaced one and
		// the last, each with its own name.
		snaps := e.World.Snapshots()
		if len(snaps) != 2 || snaps[0] == snaps[1] {
			t.Errorf("final snapshots %v; want two (the replaced instance's and the last one's), named %s-<random>", snaps, s.Database.FinalSnapshotPrefix)
		}
		for _, snap := range snaps {
			if !strings.HasPrefix(snap, s.Database.FinalSnapshotPrefix+"-") {
				t.Errorf("final snapshot %s; want %s-<random>", snap, s.Database.FinalSnapshotPrefix)
			}
		}
		want := []string{
			"aws:secretsmanager/secret:Secret database-credentials",
			"aws:secretsmanager/secretPolicy:SecretPolicy database-credentials",
			"aws:secretsmanager/secretVersion:SecretVersion database-credentials",
		}
		if !slices.Equal(left, want) {
			t.Errorf("after destroy the cloud holds %v; want only the credentials of the final snapshot: %v", left, want)
		}
	}
}

// TestEngineComponentsTwice builds two of every component in one program
// (examples/bluegreen) under the engine, which refuses a duplicate URN, and
// a cloud that refuses two resources writing one bucket key.
func TestEngineComponentsTwice(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	var timings []string
	st := step(t, "stack init", &timings, func() (*engine.Stack, error) {
		return e.NewStack(ctx, "bluegreen", bluegreen.Program, []byte("config:\n  aws:region: us-east-1\n"))
	})
	step(t, "preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	done := step(t, "up", &timings, func() (engine.Changes, error) { return st.Up(ctx) })
	again := step(t, "second preview", &timings, func() (engine.Changes, error) { return st.Preview(ctx, false) })
	if c := changing(again); len(c) > 0 {
		t.Errorf("second preview wants changes: %v", c)
	}
	objects := e.World.Live(func(l *engine.Live) bool { return l.Type() == "aws:s3/bucketObjectv2:BucketObjectv2" })
	for _, color := range bluegreen.Colors {
		for _, key := range []string{"bundles/web-" + color + "/current.sh", "bundles/lb-" + color + "/current.sh", "bundles/app-" + color + "/"} {
			if !slices.ContainsFunc(objects, func(l engine.Live) bool { return strings.HasPrefix(l.Inputs["key"].StringValue(), key) }) {
				t.Errorf("no object %s in the bucket", key)
			}
		}
	}
	step(t, "destroy", &timings, func() (engine.Changes, error) { return st.Destroy(ctx) })
	testtools.Report(t, "two of every component: %d resources; %s", done.Count(apitype.OpCreate), strings.Join(timings, ", "))
}
