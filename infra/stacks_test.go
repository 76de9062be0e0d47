package infra_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/examples/bluegreen"
	"github.com/foobar/webstack/internal/mocks"
)

// What each environment's network looks like, from its stack file.
func TestNetworkPerEnvironment(t *testing.T) {
	for _, tc := range []struct {
		stack        string
		zones        []string
		natGateways  int
		privateTable int
	}{
		// No stack needs the internet: no NAT gateway (components/network
		// tests the single and per-zone ones).
		{"dev", []string{"us-east-1a", "us-east-1b"}, 0, 2},
		{"staging", []string{"us-east-1a", "us-east-1b", "us-east-1c"}, 0, 3},
		{"prod", []string{"us-east-1a", "us-east-1b", "us-east-1c"}, 0, 3},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			rec := mustRunStack(t, tc.stack)
			var subnets []string
			for _, s := range rec.OfType(subnetT) {
				subnets = append(subnets, s.Str("availabilityZone")+" "+strings.Split(s.Name, "-")[1]+" "+s.Str("cidrBlock"))
			}
			sort.Strings(subnets)
			var want []string
			for _, z := range tc.zones {
				slot := int(z[len(z)-1] - 'a')
				want = append(want,
					fmt.Sprintf("%s database 10.0.%d.0/21", z, 192+8*slot),
					fmt.Sprintf("%s private 10.0.%d.0/20", z, 16*slot),
					fmt.Sprintf("%s public 10.0.%d.0/21", z, 128+8*slot))
			}
			if strings.Join(subnets, "\n") != strings.Join(want, "\n") {
				t.Errorf("subnets:\n%s\nwant:\n%s", strings.Join(subnets, "\n"), strings.Join(want, "\n"))
			}
			if n := len(rec.OfType(natT)); n != tc.natGateways {
				t.Errorf("%d NAT gateways, want %d", n, tc.natGateways)
			}
			private := rec.Where(rtT, func(r *mocks.Resource) bool { return strings.HasPrefix(r.Name, "network-private-") })
			if len(private) != tc.privateTable {
				t.Errorf("%d private route tables, want %d", len(private), tc.privateTable)
			}
			if n := len(rec.OfType(vpcT)); n != 1 {
				t.Errorf("%d VPCs", n)
			}
		})
	}
}

// The firewall graph is the same in every environment: clients reach only
// the load balancers, each tier only the next.
func TestFirewallGraphPerEnvironment(t *testing.T) {
	for _, stack := range stackNames {
		t.Run(stack, func(t *testing.T) {
			rec := mustRunStack(t, stack)
			name := func(id string) string {
				if r := rec.ByID(id); r != nil {
					return strings.TrimPrefix(strings.TrimPrefix(r.Name, "firewall-"), "network-")
				}
				return id
			}
			var flows []string
			for _, r := range rec.OfType(ingressT) {
				src := r.Str("cidrIpv4") + r.Str("cidrIpv6")
				if id := r.Str("referencedSecurityGroupId"); id != "" {
					src = name(id)
				}
				flows = append(flows, fmt.Sprintf("%s -> %s %s/%d", src, name(r.Str("securityGroupId")), r.Str("ipProtocol"), r.Int("fromPort")))
			}
			sort.Strings(flows)
			want := []string{
				// No stack file sets a certificate: HAProxy serves
				// HTTP only, so 443 stays closed; the VPC is IPv4-only,
				// so there is no ::/0 rule.
				"0.0.0.0/0 -> lb tcp/80",
				"10.0.0.0/16 -> endpoints tcp/443",
				"app -> database tcp/5432",
				"lb -> lb 112/0",
				"lb -> web tcp/80",
				"web -> app tcp/8080",
			}
			if strings.Join(flows, "\n") != strings.Join(want, "\n") {
				t.Errorf("ingress flows:\n%s\nwant:\n%s", strings.Join(flows, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Tags are set once, on the providers, and every AWS resource uses one:
// the bucket's objects the objects' provider, everything else the main one.
func TestCommonTagsOnEveryResource(t *testing.T) {
	for _, stack := range stackNames {
		rec := mustRunStack(t, stack)
		p, objects := rec.Named(providerT, "aws"), rec.Named(providerT, "aws-objects")
		if p == nil || objects == nil || len(rec.OfType(providerT)) != 2 {
			t.Fatalf("%s: %d aws providers, want aws and aws-objects", stack, len(rec.OfType(providerT)))
		}
		for _, prov := range []*mocks.Resource{p, objects} {
			for k, want := range map[string]string{"Project": "webstack", "Environment": stack, "ManagedBy": "pulumi"} {
				if got := prov.Str("defaultTags.tags." + k); got != want {
					t.Errorf("%s: provider %s default tag %s = %q, want %q", stack, prov.Name, k, got, want)
				}
			}
		}
		for _, r := range rec.Resources() {
			if !r.Custom || !strings.HasPrefix(r.Type, "aws:") {
				continue
			}
			want := p
			if r.Type == "aws:s3/bucketObjectv2:BucketObjectv2" {
				want = objects
			}
			if !strings.HasPrefix(r.Provider, want.URN+"::") {
				t.Errorf("%s: %s %s does not use the provider %s (%q)", stack, r.Type, r.Name, want.Name, r.Provider)
			}
		}
	}
}

// S3 objects take at most 10 tags, the provider's default tags included:
// with as many user tags as the settings allow, every object's own tags
// plus its provider's default tags stay within the limit.
func TestObjectTagsFitWhateverTheUserTags(t *testing.T) {
	var user []string
	for i := range 46 {
		user = append(user, fmt.Sprintf(`"Team%d": "v"`, i))
	}
	rec, err := runStack(t, "dev", map[string]string{"webstack:tags": "{" + strings.Join(user, ",") + "}"})
	if err != nil {
		t.Fatal(err)
	}
	objects := rec.OfType("aws:s3/bucketObjectv2:BucketObjectv2")
	if len(objects) == 0 {
		t.Fatal("no objects")
	}
	for _, o := range objects {
		prov := rec.ByURN(o.Provider[:max(strings.LastIndex(o.Provider, "::"), 0)])
		if prov == nil {
			t.Fatalf("%s: provider %q not found", o.Name, o.Provider)
		}
		all := map[string]bool{}
		for _, m := range []any{o.In("tags"), prov.In("defaultTags.tags")} {
			if mm, ok := m.(map[string]any); ok {
				for k := range mm {
					all[k] = true
				}
			}
		}
		if len(all) > store.MaxObjectTags || !all["Name"] {
			t.Errorf("%s carries %d tags (%v), want Name and at most %d", o.Name, len(all), all, store.MaxObjectTags)
		}
	}
}

func TestUserTagsReachTheProvider(t *testing.T) {
	rec, err := runStack(t, "dev", map[string]string{"webstack:tags": `{"CostCenter": "web-42"}`})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.OfType(providerT)[0].Str("defaultTags.tags.CostCenter"); got != "web-42" {
		t.Errorf("CostCenter tag = %q", got)
	}
}

// Every component used twice in one program (examples/bluegreen): no two
// resources share a URN (the mocks refuse that, as the engine does) and no
// two objects share a bucket key.
func TestComponentsTwiceInOneProgram(t *testing.T) {
	rec, err := mocks.Run(bluegreen.Program, mocks.Options{Project: "webstack", Stack: "dev", Config: map[string]string{"aws:region": "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, o := range rec.OfType(objectT) {
		if other, ok := keys[o.Str("key")]; ok {
			t.Errorf("objects %s and %s both write %s", other, o.Name, o.Str("key"))
		}
		keys[o.Str("key")] = o.Name
	}
	for _, color := range bluegreen.Colors {
		for _, want := range []string{"bundles/web-" + color + "/current.sh", "bundles/lb-" + color + "/current.sh"} {
			if _, ok := keys[want]; !ok {
				t.Errorf("no object at %s; keys: %v", want, keys)
			}
		}
		for _, g := range []string{"web-" + color, "app-" + color, "lb-" + color} {
			if asg := rec.Named(asgT, g); asg == nil || asg.Str("name") != "webstack-dev-"+g {
				t.Errorf("no group %s", g)
			}
		}
	}
}
