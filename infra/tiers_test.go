package infra_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
)

var stackShapes = map[string]struct {
	zones, web, app int
}{
	"dev":     {2, 1, 1},
	"staging": {3, 2, 2},
	"prod":    {3, 3, 3},
}

// The load balancers: two nodes in public subnets of two zones, one
// Elastic IP that starts on lb1 and that Pulumi never moves back.
func TestLoadBalancerCluster(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			lbs := hosts(rec, "lb")
			if len(lbs) != 2 || lbs[0].Name != "lb1" || lbs[1].Name != "lb2" {
				t.Fatalf("load balancers = %v", lbs)
			}
			zones := map[string]bool{}
			for _, lb := range lbs {
				subnet := rec.ByID(lb.Str("subnetId"))
				if subnet == nil || !strings.HasPrefix(subnet.Name, "network-public-") {
					t.Errorf("%s is not in a public subnet (%v)", lb.Name, subnet)
					continue
				}
				if subnet.Str("availabilityZone") != lb.Str("availabilityZone") {
					t.Errorf("%s: zone %s but subnet in %s", lb.Name, lb.Str("availabilityZone"), subnet.Str("availabilityZone"))
				}
				zones[lb.Str("availabilityZone")] = true
			}
			if len(zones) != 2 {
				t.Errorf("both load balancers in one zone: %v", zones)
			}
			eips := rec.Where(eipT, func(r *mocks.Resource) bool { return !strings.HasPrefix(r.Name, "network-nat-") })
			if len(eips) != 1 {
				t.Fatalf("%d Elastic IPs for the site, want 1", len(eips))
			}
			if eips[0].Str("instance") != lbs[0].ID || !slices.Contains(eips[0].IgnoreChanges, "instance") {
				t.Errorf("Elastic IP: instance %q (lb1 is %s), ignoreChanges %v", eips[0].Str("instance"), lbs[0].ID, eips[0].IgnoreChanges)
			}
		})
	}
}

// Every host: IMDSv2 only, encrypted gp3 root volume, no key pair, no
// public IP, valid cloud-config user data under EC2's limit.
func TestEveryHostIsHardened(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		shape := stackShapes[stack]
		instances := rec.OfType(instanceT)
		if want := 2 + shape.web + shape.app; len(instances) != want {
			t.Errorf("%s: %d instances, want %d", stack, len(instances), want)
		}
		for _, i := range instances {
			for path, want := range map[string]any{
				"metadataOptions.httpTokens": "required", "metadataOptions.httpPutResponseHopLimit": 1.0,
				"rootBlockDevice.encrypted": true, "rootBlockDevice.volumeType": "gp3",
				"associatePublicIpAddress": false, "userDataReplaceOnChange": true,
			} {
				if got := mocks.Reveal(i.In(path)); got != want {
					t.Errorf("%s/%s: %s = %v, want %v", stack, i.Name, path, got, want)
				}
			}
			if i.In("keyName") != nil {
				t.Errorf("%s/%s has a key pair", stack, i.Name)
			}
			ud := i.Str("userData")
			if ud == "" || len(ud) > cloudinit.MaxUserData || !strings.HasPrefix(ud, "#cloud-config\n") {
				t.Errorf("%s/%s: user data of %d bytes", stack, i.Name, len(ud))
			}
			if i.Str("ami") != mocks.LatestAMI("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64") || !slices.Contains(i.IgnoreChanges, "ami") {
				t.Errorf("%s/%s: ami %s, ignoreChanges %v", stack, i.Name, i.Str("ami"), i.IgnoreChanges)
			}
		}
	}
}

// Web and app servers: N per environment, spread over the zones.
func TestTiersSpreadOverZones(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		shape := stackShapes[stack]
		for tier, n := range map[string]int{"web": shape.web, "app": shape.app} {
			hs := hosts(rec, tier)
			if len(hs) != n {
				t.Errorf("%s: %d %s hosts, want %d", stack, len(hs), tier, n)
			}
			zones := map[string]int{}
			for _, h := range hs {
				subnet := rec.ByID(h.Str("subnetId"))
				if subnet == nil || !strings.HasPrefix(subnet.Name, "network-private-") {
					t.Errorf("%s/%s is not in a private subnet", stack, h.Name)
				}
				zones[h.Str("availabilityZone")]++
			}
			if want := min(n, shape.zones); len(zones) != want {
				t.Errorf("%s: %s hosts in %d zones %v, want %d", stack, tier, len(zones), zones, want)
			}
		}
	}
}

var (
	serverLineRe   = regexp.MustCompile(`(?m)^\s*server (\S+) ([0-9.]+):(\d+)`)
	upstreamLineRe = regexp.MustCompile(`(?m)^\s*server ([0-9.]+):(\d+)`)
)

// HAProxy's backend is exactly the web servers; nginx's upstream exactly the
// application servers.
func TestEachTierPointsAtTheNext(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			ips := func(tier string, port int) []string {
				var out []string
				for _, h := range hosts(rec, tier) {
					out = append(out, fmt.Sprintf("%s:%d", h.Outputs["privateIp"], port))
				}
				sort.Strings(out)
				return out
			}
			for _, lb := range []string{"lb1", "lb2"} {
				cfg := file(t, bundle(t, rec, "lb-"+lb+"-bundle"), "/etc/haproxy/haproxy.cfg")
				var backends []string
				for _, m := range serverLineRe.FindAllStringSubmatch(cfg, -1) {
					backends = append(backends, m[2]+":"+m[3])
				}
				sort.Strings(backends)
				if want := ips("web", 80); !slices.Equal(backends, want) {
					t.Errorf("%s backends = %v, want the web servers %v", lb, backends, want)
				}
			}
			conf := file(t, bundle(t, rec, "web-bundle"), "/etc/nginx/nginx.conf")
			var upstreams []string
			for _, m := range upstreamLineRe.FindAllStringSubmatch(conf, -1) {
				upstreams = append(upstreams, m[1]+":"+m[2])
			}
			sort.Strings(upstreams)
			if want := ips("app", 8080); !slices.Equal(upstreams, want) {
				t.Errorf("nginx upstream = %v, want the app servers %v", upstreams, want)
			}
		})
	}
}

// keepalived on each node talks to the other node, from its own address.
func TestKeepalivedPeersAreTheOtherNode(t *testing.T) {
	rec := mustRunStack(t, "prod")
	lbs := hosts(rec, "lb")
	for i, lb := range lbs {
		conf := file(t, bundle(t, rec, "lb-"+lb.Name+"-bundle"), "/etc/keepalived/keepalived.conf")
		self, peer := lb.Outputs["privateIp"].(string), lbs[1-i].Outputs["privateIp"].(string)
		if !strings.Contains(conf, "unicast_src_ip "+self) || !regexp.MustCompile(`unicast_peer \{\s*`+regexp.QuoteMeta(peer)+`\s*\}`).MatchString(conf) {
			t.Errorf("%s keepalived.conf does not pair %s with %s:\n%s", lb.Name, self, peer, conf)
		}
		env := file(t, bundle(t, rec, "lb-"+lb.Name+"-bundle"), "/etc/webstack/lb.env")
		if !strings.Contains(env, "WEBSTACK_EIP_ALLOCATION_ID=eipalloc-") {
			t.Errorf("%s lb.env lacks the Elastic IP: %s", lb.Name, env)
		}
	}
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
	var takeover []string
	for _, lb := range hosts(rec, "lb") {
		takeover = append(takeover, lb.Outputs["arn"].(string),
			"arn:aws:ec2:us-east-1:123456789012:network-interface/"+lb.Outputs["primaryNetworkInterfaceId"].(string))
	}
	takeover = append(takeover, eip)
	sort.Strings(takeover)

	want := map[string]map[string][]string{
		"lb-role": {
			"s3:GetObject":                  {bucket + "bundles/lb1.sh", bucket + "bundles/lb2.sh"},
			"secretsmanager:GetSecretValue": {lbSecret},
			"ec2:AssociateAddress":          takeover,
		},
		"web-role": {"s3:GetObject": {bucket + "bundles/web.sh"}},
		"app-role": {
			"s3:GetObject":                  {bucket + "bundles/app.sh", bucket + "releases/app/*"},
			"secretsmanager:GetSecretValue": {dbSecret},
		},
		"network-flow-logs": policies["network-flow-logs"], // checked in the network tests
	}
	for role, actions := range policies {
		w, ok := want[role]
		if !ok {
			t.Errorf("unexpected role %s with %v", role, actions)
			continue
		}
		for action, resources := range actions {
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
	// The database secret: only the application servers' role names it.
	for role, actions := range policies {
		for _, resources := range actions {
			if slices.Contains(resources, dbSecret) && role != "app-role" {
				t.Errorf("%s can read the database secret", role)
			}
		}
	}
	for _, a := range rec.OfType(attachT) {
		if a.Str("policyArn") != "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" {
			t.Errorf("%s attaches %s", a.Name, a.Str("policyArn"))
		}
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
