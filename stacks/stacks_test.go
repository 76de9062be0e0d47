package stacks_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
)

// Pulumi.yaml documents every setting with its default; the program applies
// stacks.Defaults. They must say the same thing.
func TestPulumiYAMLDeclaresTheDefaults(t *testing.T) {
	project, err := mocks.ReadProject("..")
	if err != nil {
		t.Fatal(err)
	}
	d := stacks.Defaults()
	goDefaults := map[string]any{
		"network": d.Network, "loadBalancer": d.LoadBalancer, "web": d.Web, "app": d.App,
		"database": d.Database, "dns": d.DNS, "operators": d.Operators, "tags": d.Tags, "environment": "",
		"permissionsBoundary": "", "monitoring": d.Monitoring,
	}
	for _, key := range stacks.ConfigKeys() {
		decl, ok := project.Config[key]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", key)
			continue
		}
		if decl.Description == "" {
			t.Errorf("Pulumi.yaml: %s has no description", key)
		}
		if got, want := normalize(t, decl.Default), normalize(t, goDefaults[key]); !reflect.DeepEqual(got, want) {
			t.Errorf("Pulumi.yaml default of %s =\n  %v\nstacks.Defaults says\n  %v", key, got, want)
		}
	}
	if len(project.Config) != len(stacks.ConfigKeys()) {
		t.Errorf("Pulumi.yaml declares %d keys, the program reads %d", len(project.Config), len(stacks.ConfigKeys()))
	}
}

func normalize(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func lookup(values map[string]string) stacks.Lookup {
	return func(k string) (string, bool) { v, ok := values[k]; return v, ok }
}

func TestPartialObjectsMergeWithDefaults(t *testing.T) {
	s, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{
		"web":     `{"desired": 3}`,
		"network": `{"zoneIds": ["use1-az1", "use1-az2"]}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := stacks.Defaults()
	if s.Web.Desired != 3 || s.Web.Min != d.Web.Min || s.Web.Max != d.Web.Max || s.Web.Port != d.Web.Port || s.Web.InstanceType != d.Web.InstanceType {
		t.Errorf("web = %+v: desired from the stack, the rest from the defaults", s.Web)
	}
	if got := s.Network.ZoneIDs; len(got) != 2 || s.Network.CIDR != d.Network.CIDR {
		t.Errorf("network = %+v", s.Network)
	}
	if s.Environment != stacks.Dev {
		t.Errorf("environment = %q, want the stack name", s.Environment)
	}
}

func TestEveryDecodingProblemIsReported(t *testing.T) {
	_, err := stacks.FromConfig("webstack", "dev", "us-east-1", lookup(map[string]string{
		"web":      `{"cont": 3, "port": "eighty"}`,
		"database": `{"multiAz": "yes"}`,
		"tags":     `{"team": 7}`,
		"dns":      `[1]`,
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`webstack:web.cont = 3: unknown setting; allowed: ami, desired, instanceType, max, min, port, rootVolumeGiB, scaling`,
		`webstack:web.port = "eighty": must be a whole number`,
		`webstack:database.multiAz = "yes": must be true or false`,
		`webstack:tags.team = 7: must be a string`,
		`webstack:dns = "[1]": must be an object`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Zones are chosen by ID and mapped to this account's names; a zone that
// lacks a type the stack uses is refused, and an empty list is refused
// with the zone IDs that qualify (never "the first available" at each run).
func TestResolveZones(t *testing.T) {
	region := []stacks.Zone{
		{ID: "use1-az1", Name: "us-east-1a"}, {ID: "use1-az2", Name: "us-east-1b"},
		{ID: "use1-az4", Name: "us-east-1c"}, {ID: "use1-az3", Name: "us-east-1d", Missing: []string{"instance type t4g.small"}},
	}
	s := stacks.Defaults()
	s.Project, s.Region = "webstack", "us-east-1"
	s.Network.ZoneIDs = []string{"use1-az4", "use1-az1"}
	if err := s.ResolveZones(region); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Network.AvailabilityZones, ","); got != "us-east-1c,us-east-1a" {
		t.Errorf("zones = %s, want the IDs' names in their order", got)
	}
	s.Network.ZoneIDs = []string{"use1-az3", "use1-az9"}
	err := s.ResolveZones(region)
	for _, want := range []string{
		`webstack:network.zoneIds[0] = "use1-az3": zone use1-az3 (us-east-1d) does not offer instance type t4g.small`,
		`webstack:network.zoneIds[1] = "use1-az9": is not an available zone of region us-east-1`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	s.Network.ZoneIDs = []string{}
	err = s.ResolveZones(region)
	if err == nil || !strings.Contains(err.Error(), "webstack:network.zoneIds = []: is not set") || !strings.Contains(err.Error(), "[use1-az1, use1-az2, use1-az4]") {
		t.Errorf("empty zoneIds: %v", err)
	}
}

func TestMaintenanceMayNotOverlapBackups(t *testing.T) {
	for _, tc := range []struct {
		backup, maint string
		ok            bool
	}{
		{"03:00-04:00", "sun:04:30-sun:05:30", true},
		{"03:00-04:00", "sun:03:30-sun:04:30", false},
		{"23:30-00:30", "mon:00:00-mon:01:00", false}, // backup crosses midnight
		{"23:30-00:30", "sun:23:45-mon:00:15", false}, // maintenance crosses the week
		{"05:00-06:00", "sat:22:00-sun:02:00", true},
	} {
		s := stacks.Defaults()
		s.Project, s.Stack, s.Region, s.Environment = "webstack", "dev", "us-east-1", stacks.Dev
		s.Database.BackupWindow, s.Database.MaintenanceWindow = tc.backup, tc.maint
		problems := s.Validate()
		if ok := len(problems) == 0; ok != tc.ok {
			t.Errorf("backup %s, maintenance %s: ok = %v, want %v (%v)", tc.backup, tc.maint, ok, tc.ok, problems)
		}
	}
}

// The tiers' groups: bounds, the desired count inside them, a known
// scaling metric, prod's minimum; and the old count key says what to
// write instead.
func TestCapacityRules(t *testing.T) {
	for _, tc := range []struct {
		name, stack, web, want string
	}{
		{"min above max", "dev", `{"min": 3, "max": 2, "desired": 2}`, `webstack:web.max = 2: must be at least min (3)`},
		{"desired above max", "dev", `{"min": 1, "max": 2, "desired": 3}`, `webstack:web.desired = 3: must be between min (1) and max (2)`},
		{"desired below min", "staging", `{"min": 2, "max": 4, "desired": 1}`, `webstack:web.desired = 1: must be between min (2) and max (4)`},
		{"zero hosts", "dev", `{"min": 0, "max": 2, "desired": 0}`, `webstack:web.min = 0: must be between 1 and 20`},
		{"too many", "dev", `{"max": 21}`, `webstack:web.max = 21: must be between 1 and 20`},
		{"one in prod", "prod", `{"min": 1, "max": 4, "desired": 2}`, `webstack:web.min = 1: prod keeps at least 2 web servers, in different zones`},
		{"unknown metric", "dev", `{"scaling": {"metric": "memory"}}`, `webstack:web.scaling.metric = "memory": must be "cpu"`},
		{"target out of range", "dev", `{"scaling": {"metric": "cpu", "target": 95}}`, `webstack:web.scaling.target = 95: must be a percentage between 10 and 90`},
		{"typo inside scaling", "dev", `{"scaling": {"metric": "cpu", "targt": 50}}`, `webstack:web.scaling = {"metric": "cpu", "targt": 50}: must be an object with metric (string) and target (whole number)`},
		{"the old count", "dev", `{"count": 3}`, `webstack:web.count = 3: replaced by the tier's Auto Scaling group: write desired: N`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stacks.FromConfig("webstack", tc.stack, "us-east-1", lookup(map[string]string{"web": tc.web}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("web = %s: %v\nwant a problem containing %q", tc.web, err, tc.want)
			}
		})
	}
	s, err := stacks.FromConfig("webstack", "prod", "us-east-1", lookup(map[string]string{"app": `{"min": 2, "max": 6, "desired": 3, "scaling": {"metric": "cpu"}}`}))
	if err != nil {
		t.Fatal(err)
	}
	if s.App.Scaling != (stacks.Scaling{Metric: "cpu", Target: 60}) {
		t.Errorf("scaling = %+v; the target defaults to 60", s.App.Scaling)
	}
}
