package infra_test

import (
	"encoding/base64"
	"encoding/json"
	"github.com/foobar/webstack/components/database"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/foobar/webstack/internal/mocks"
)

// decode is base64 user data, decoded.
func decode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("user data is not base64: %v", err)
	}
	return string(b)
}

var stackShapes = map[string]struct {
	zones    int
	web, app [3]int // min, max, desired
	scaling  bool
}{
	"dev":     {2, [3]int{1, 2, 1}, [3]int{1, 2, 1}, false},
	"staging": {3, [3]int{2, 4, 2}, [3]int{2, 4, 2}, false},
	"prod":    {3, [3]int{3, 6, 3}, [3]int{3, 6, 3}, true},
}

// group returns a tier's Auto Scaling group and its launch template.
func group(t *testing.T, rec *mocks.Recorder, tier string) (asg, lt *mocks.Resource) {
	t.Helper()
	asg, lt = rec.Named(asgT, tier), rec.Named(ltT, tier)
	if asg == nil || lt == nil {
		t.Fatalf("no group or launch template %q", tier)
	}
	if asg.Str("launchTemplate.id") != lt.ID {
		t.Fatalf("group %s launches %q, not its template %s", tier, asg.Str("launchTemplate.id"), lt.ID)
	}
	return asg, lt
}

// subnetsOf names the subnets a group spreads over, with their zones.
func subnetsOf(rec *mocks.Recorder, asg *mocks.Resource) (names []string, zones map[string]bool) {
	zones = map[string]bool{}
	for _, id := range asg.Strings("vpcZoneIdentifiers") {
		if s := rec.ByID(id); s != nil {
			names = append(names, s.Name)
			zones[s.Str("availabilityZone")] = true
		}
	}
	return names, zones
}

// The load balancers: a group of two over the public subnets, replacing one
// node at a time, and one Elastic IP that only the MASTER node attaches.
func TestLoadBalancerCluster(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			asg, _ := group(t, rec, "lb")
			if asg.Int("minSize") != 2 || asg.Int("maxSize") != 2 || asg.Int("desiredCapacity") != 2 {
				t.Errorf("the pair keeps %d to %d nodes (desired %d), want exactly 2", asg.Int("minSize"), asg.Int("maxSize"), asg.Int("desiredCapacity"))
			}
			if asg.Int("instanceRefresh.preferences.maxHealthyPercentage") != 150 || asg.Int("instanceRefresh.preferences.minHealthyPercentage") != 100 {
				t.Errorf("refresh %v: one node at a time, the new one ready first", asg.In("instanceRefresh"))
			}
			names, zones := subnetsOf(rec, asg)
			for _, n := range names {
				if !strings.HasPrefix(n, "network-public-") {
					t.Errorf("the pair launches in %s, not a public subnet", n)
				}
			}
			if len(zones) != stackShapes[stack].zones {
				t.Errorf("the pair spans %v", zones)
			}
			if len(rec.OfType(instanceT)) != 0 {
				t.Errorf("%d standalone instances: every host belongs to a group", len(rec.OfType(instanceT)))
			}
			eips := rec.Where(eipT, func(r *mocks.Resource) bool { return !strings.HasPrefix(r.Name, "network-nat-") })
			if len(eips) != 1 {
				t.Fatalf("%d Elastic IPs for the site, want 1", len(eips))
			}
			if eips[0].Str("instance") != "" || !slices.Contains(eips[0].IgnoreChanges, "instance") || !slices.Contains(eips[0].IgnoreChanges, "networkInterface") {
				t.Errorf("Elastic IP: instance %q, ignoreChanges %v", eips[0].Str("instance"), eips[0].IgnoreChanges)
			}
		})
	}
}

// Every group's hosts: IMDSv2 only, encrypted gp3 root volume, no key
// pair, no public IP, the latest image kept until pinned, valid
// cloud-config user data under EC2's limit naming the group's bundle.
func TestEveryHostIsHardened(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		for _, tier := range []string{"lb", "web", "app"} {
			_, lt := group(t, rec, tier)
			for path, want := range map[string]any{
				"metadataOptions.httpTokens": "required", "metadataOptions.httpPutResponseHopLimit": 1.0,
				"blockDeviceMappings.0.ebs.encrypted": "true", "blockDeviceMappings.0.ebs.volumeType": "gp3",
				"networkInterfaces.0.associatePublicIpAddress": "false", "monitoring.enabled": true,
			} {
				if got := mocks.Reveal(lt.In(path)); got != want {
					t.Errorf("%s/%s: %s = %v, want %v", stack, tier, path, got, want)
				}
			}
			if lt.In("keyName") != nil {
				t.Errorf("%s/%s has a key pair", stack, tier)
			}
			raw, err := base64.StdEncoding.DecodeString(lt.Str("userData"))
			ud := string(raw)
			if err != nil || len(raw) > cloudinit.MaxUserData || !strings.HasPrefix(ud, "#cloud-config\n") ||
				!strings.Contains(ud, "WEBSTACK_GROUP=webstack-"+stack+"-"+tier) || !strings.Contains(ud, "WEBSTACK_BUNDLE_KEY=bundles/"+tier) {
				t.Errorf("%s/%s: user data of %d bytes (%v):\n%s", stack, tier, len(raw), err, ud)
			}
			if lt.Str("imageId") != mocks.LatestAMI("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64") || !slices.Contains(lt.IgnoreChanges, "imageId") {
				t.Errorf("%s/%s: image %s, ignoreChanges %v", stack, tier, lt.Str("imageId"), lt.IgnoreChanges)
			}
		}
	}
}

// Web and app servers: groups over every private subnet, sized per
// environment, scaling on CPU in prod; gated by both lifecycle hooks.
func TestTierGroupsPerEnvironment(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		shape := stackShapes[stack]
		for tier, size := range map[string][3]int{"web": shape.web, "app": shape.app} {
			asg, _ := group(t, rec, tier)
			if got := [3]int{asg.Int("minSize"), asg.Int("maxSize"), asg.Int("desiredCapacity")}; got != size {
				t.Errorf("%s/%s: min, max, desired %v, want %v", stack, tier, got, size)
			}
			names, zones := subnetsOf(rec, asg)
			for _, n := range names {
				if !strings.HasPrefix(n, "network-private-") {
					t.Errorf("%s/%s launches in %s", stack, tier, n)
				}
			}
			if len(zones) != shape.zones {
				t.Errorf("%s/%s spans %v, want %d zones", stack, tier, zones, shape.zones)
			}
			policy := rec.Named("aws:autoscaling/policy:Policy", tier+"-cpu")
			if (policy != nil) != shape.scaling || slices.Contains(asg.IgnoreChanges, "desiredCapacity") != shape.scaling {
				t.Errorf("%s/%s: scaling policy %v, ignoreChanges %v", stack, tier, policy != nil, asg.IgnoreChanges)
			}
			if asg.Str("initialLifecycleHooks.0.name") != "webstack-"+stack+"-"+tier+"-launch" || asg.Str("initialLifecycleHooks.1.name") != "webstack-"+stack+"-"+tier+"-terminate" {
				t.Errorf("%s/%s hooks %v", stack, tier, asg.In("initialLifecycleHooks"))
			}
		}
	}
}

// Each tier's agents discover the tier behind: HAProxy's backend is the web
// group, nginx's upstream the application group, keepalived's peers the
// pair's own group; neither configuration lists an address.
func TestEachTierDiscoversTheNext(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			lb := agentConfig(t, bundle(t, rec, "lb-bundle"))
			web := agentConfig(t, bundle(t, rec, "web-bundle"))
			app := agentConfig(t, bundle(t, rec, rec.Named(objectT, "app-bundle").Name))
			prefix := "webstack-" + stack + "-"
			if len(lb.Discover) != 2 || lb.Discover[0].Group != prefix+"web" || lb.Discover[0].Port != 80 ||
				lb.Discover[1].Group != prefix+"lb" || !lb.Discover[1].ExcludeSelf {
				t.Errorf("load balancers discover %+v", lb.Discover)
			}
			if len(web.Discover) != 1 || web.Discover[0].Group != prefix+"app" || web.Discover[0].Port != 8080 {
				t.Errorf("web servers discover %+v", web.Discover)
			}
			if len(app.Discover) != 0 || app.Group != prefix+"app" || app.Drain.Port != 8080 {
				t.Errorf("application servers: %+v", app)
			}
			cfg := file(t, bundle(t, rec, "lb-bundle"), "/etc/haproxy/haproxy.cfg")
			conf := file(t, bundle(t, rec, "web-bundle"), "/etc/nginx/nginx.conf")
			if addr := regexp.MustCompile(`\b10\.\d+\.\d+\.\d+:\d+`); addr.MatchString(cfg) || addr.MatchString(conf) {
				t.Errorf("a configuration lists a host's address: it is discovered")
			}
			if !strings.Contains(conf, "include /etc/nginx/webstack/app-servers.conf;") {
				t.Errorf("nginx.conf does not include the discovered servers:\n%s", conf)
			}
		})
	}
}

// agentConfig reads the agent's configuration out of a bundle.
func agentConfig(t *testing.T, b host.Bundle) hostagent.Config {
	t.Helper()
	var c hostagent.Config
	if err := json.Unmarshal([]byte(file(t, b, host.AgentConfigPath)), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("agent configuration: %v", err)
	}
	return c
}

// policyDoc is an IAM policy as the tests read it.
type policyDoc struct {
	Statement []struct {
		Effect   string
		Action   []string
		Resource []string
	}
}

// rolePolicies returns, per role name, the actions and resources its
// inline policies allow.
func rolePolicies(t *testing.T, rec *mocks.Recorder) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	for _, p := range rec.OfType(rolePolT) {
		role := rec.ByID(p.Str("role"))
		if role == nil {
			t.Fatalf("policy %s on unknown role %q", p.Name, p.Str("role"))
		}
		var doc policyDoc
		if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if out[role.Name] == nil {
			out[role.Name] = map[string][]string{}
		}
		for _, st := range doc.Statement {
			if st.Effect != "Allow" {
				continue
			}
			for _, a := range st.Action {
				out[role.Name][a] = append(out[role.Name][a], st.Resource...)
				sort.Strings(out[role.Name][a])
			}
		}
	}
	return out
}

// Each role may do exactly what its hosts need, on exactly its resources.
func TestRolesAreLeastPrivilege(t *testing.T) {
	rec := mustRunStack(t, "prod")
	policies := rolePolicies(t, rec)
	bucket := "arn:aws:s3:::webstack-prod-123456789012-us-east-1/"
	dbSecret := rec.Named(secretT, "database-credentials").Outputs["arn"].(string)
	lbSecret := rec.Named(secretT, "lb-secrets").Outputs["arn"].(string)
	eip := rec.Named(eipT, "lb-eip").Outputs["arn"].(string)
	own := func(tier string) []string {
		return []string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/webstack-prod-" + tier}
	}
	agent := func(tier string, actions map[string][]string) map[string][]string {
		for _, a := range []string{"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"} {
			actions[a] = own(tier)
		}
		actions["autoscaling:DescribeAutoScalingGroups"] = []string{"*"}
		actions["ec2:DescribeInstances"] = []string{"*"}
		// Their CloudWatch agent: their own tier's log group, and metrics
		// (PutMetricData takes no resource; TestHostsShipToTheirOwnLogGroup
		// checks its namespace condition).
		logs := "arn:aws:logs:us-east-1:123456789012:log-group:/webstack/webstack-prod/" + tier
		for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"} {
			actions[a] = []string{logs + ":*", logs + ":log-stream:*"}
		}
		actions["cloudwatch:PutMetricData"] = []string{"*"}
		for _, a := range host.SessionManagerActions {
			actions[a] = []string{"*"}
		}
		return actions
	}
	nodes := []string{"arn:aws:ec2:us-east-1:123456789012:instance/*", "arn:aws:ec2:us-east-1:123456789012:network-interface/*"}
	want := map[string]map[string][]string{
		"lb-role": agent("lb", map[string][]string{
			"s3:GetObject":                  {bucket + "bundles/lb/current.sh", bucket + "releases/lb/*"},
			"secretsmanager:GetSecretValue": {lbSecret},
			"ec2:AssociateAddress":          append([]string{eip}, nodes...),
		}),
		"web-role": agent("web", map[string][]string{"s3:GetObject": {bucket + "bundles/web/current.sh", bucket + "releases/web/*"}}),
		"app-role": agent("app", map[string][]string{
			"s3:GetObject":                  {bucket + "bundles/app/*", bucket + "releases/app/*"},
			"secretsmanager:GetSecretValue": {dbSecret},
		}),
		"network-flow-logs": policies["network-flow-logs"], // checked in the network tests
	}
	for role, actions := range policies {
		w, ok := want[role]
		if !ok {
			t.Errorf("unexpected role %s with %v", role, actions)
			continue
		}
		for action, resources := range actions {
			sort.Strings(w[action])
			if !slices.Equal(resources, w[action]) {
				t.Errorf("%s: %s on %v, want %v", role, action, resources, w[action])
			}
		}
		for action := range w {
			if _, ok := actions[action]; !ok {
				t.Errorf("%s lacks %s", role, action)
			}
		}
	}
	// The Elastic IP moves only onto the pair's own nodes.
	for _, p := range rec.OfType(rolePolT) {
		if strings.Contains(p.Str("policy"), `"arn:aws:ec2:us-east-1:123456789012:instance/*"`) &&
			!strings.Contains(p.Str("policy"), `"Condition":{"StringEquals":{"aws:ResourceTag/webstack:group":"webstack-prod-lb"}}`) {
			t.Errorf("%s lets AssociateAddress reach any instance: %s", p.Name, p.Str("policy"))
		}
	}
	// The database secret: only the application servers' role names it.
	for role, actions := range policies {
		for _, resources := range actions {
			if slices.Contains(resources, dbSecret) && role != "app-role" {
				t.Errorf("%s can read the database secret", role)
			}
		}
	}
	// No managed policy: Session Manager's permissions are inline
	// (host.SessionManagerActions), AmazonSSMManagedInstanceCore would let
	// every host read every SSM parameter. The one managed policy is the
	// database's enhanced monitoring role's, which RDS (not a host)
	// assumes: AWS's AmazonRDSEnhancedMonitoringRole.
	for _, a := range rec.OfType(attachT) {
		if a.Name == "database-monitoring" && a.Str("policyArn") == database.EnhancedMonitoringPolicy("aws") {
			continue
		}
		t.Errorf("%s attaches %s", a.Name, a.Str("policyArn"))
	}
}

// The application servers run the release the program built.
func TestAppRunsTheBuiltRelease(t *testing.T) {
	rec := mustRunStack(t, "dev")
	object := rec.Named(objectT, "app-release")
	if object == nil {
		t.Fatal("no release uploaded")
	}
	asset, ok := object.In("source").(mocks.Asset)
	if !ok || asset.Path == "" {
		t.Fatalf("release source = %#v", object.In("source"))
	}
	art, err := release.FileArtifact(asset.Path)
	if err != nil {
		t.Fatal(err)
	}
	if object.Str("key") != store.ReleaseKey("app", art.SHA256) {
		t.Errorf("release key %s, want %s", object.Str("key"), store.ReleaseKey("app", art.SHA256))
	}
	env := file(t, bundle(t, rec, "app-bundle"), "/etc/webstack/release.env")
	// The application tier is immutable: its bundle lives under its own
	// content's key, named in the launch template, so a new release rolls.
	key := rec.Named(objectT, "app-bundle").Str("key")
	if _, lt := group(t, rec, "app"); !regexp.MustCompile(`^bundles/app/[0-9a-f]{16}\.sh$`).MatchString(key) || !strings.Contains(decode(t, lt.Str("userData")), "WEBSTACK_BUNDLE_KEY="+key) {
		t.Errorf("app bundle key %q is not content-addressed, or not named by the launch template", key)
	}
	if !strings.Contains(env, `WEBSTACK_RELEASE_SHA256="`+art.SHA256+`"`) {
		t.Errorf("release.env does not name the uploaded release %s:\n%s", art.SHA256, env)
	}
}

// Building twice gives the same bytes: a preview shows no change when
// nothing changed.
func TestReleaseBuildIsReproducible(t *testing.T) {
	root := ".."
	a, err := release.Build(release.BuildArgs{ModuleDir: root, Package: "./app", Arch: "arm64", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := release.Build(release.BuildArgs{ModuleDir: root, Package: "./app", Arch: "arm64", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 || a.Size == 0 {
		t.Errorf("two builds differ: %s (%d bytes) vs %s", a.SHA256, a.Size, b.SHA256)
	}
}

// Every group of hosts (lb, web, app) waits for the S3 gateway endpoint and
// every route-table association: a host booting before them cannot reach
// its packages or bundle (cloud-init's install is not retried).
func TestHostsBootAfterTheirRoutesToS3(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		var need []string
		for _, r := range rec.OfType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
			need = append(need, r.URN)
		}
		for _, r := range rec.OfType("aws:ec2/vpcEndpoint:VpcEndpoint") {
			if r.Str("vpcEndpointType") == "Gateway" {
				need = append(need, r.URN)
			}
		}
		if len(need) < 2 {
			t.Fatalf("%s: %d associations and gateway endpoints", stack, len(need))
		}
		groups := rec.OfType("aws:autoscaling/group:Group")
		if len(groups) != 3 {
			t.Fatalf("%s: %d groups, want lb, web and app", stack, len(groups))
		}
		for _, g := range groups {
			for _, urn := range need {
				if !slices.Contains(g.Dependencies, urn) {
					t.Errorf("%s: group %s does not depend on %s", stack, g.Name, urn)
				}
			}
		}
	}
}
