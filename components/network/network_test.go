package network_test

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const (
	subnetT    = "aws:ec2/subnet:Subnet"
	routeT     = "aws:ec2/route:Route"
	rtT        = "aws:ec2/routeTable:RouteTable"
	assocT     = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	natT       = "aws:ec2/natGateway:NatGateway"
	endpointT  = "aws:ec2/vpcEndpoint:VpcEndpoint"
	defaultSGT = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
)

func run(t *testing.T, args network.Args) *mocks.Recorder {
	t.Helper()
	if args.Region == "" {
		args.Region = "us-east-1"
	}
	if args.Partition == "" {
		args.Partition = "aws"
	}
	if args.AccountID == "" {
		args.AccountID = mocks.AccountID
	}
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := network.New(ctx, "network", args)
		return err
	}, mocks.Options{Project: "webstack", Stack: "test", Config: map[string]string{"aws:region": args.Region}})
	if err != nil {
		t.Fatalf("network.New: %v", err)
	}
	return rec
}

func twoZones() network.Args {
	return network.Args{
		AvailabilityZones: []string{"us-east-1a", "us-east-1b"}, InterfaceEndpoints: []string{"ec2", "secretsmanager"},
		Buckets: []string{"webstack-test-123456789012-us-east-1"},
	}
}

func TestLayoutIsKeyedByZoneLetter(t *testing.T) {
	got, err := network.Layout("10.0.0.0/16", []string{"us-east-1a", "us-east-1b", "us-east-1f"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[network.SubnetClass]string{
		"us-east-1a": {network.Private: "10.0.0.0/20", network.Public: "10.0.128.0/21", network.Isolated: "10.0.192.0/21"},
		"us-east-1b": {network.Private: "10.0.16.0/20", network.Public: "10.0.136.0/21", network.Isolated: "10.0.200.0/21"},
		"us-east-1f": {network.Private: "10.0.80.0/20", network.Public: "10.0.168.0/21", network.Isolated: "10.0.232.0/21"},
	}
	for zone, tiers := range want {
		for tier, cidr := range tiers {
			if g := got[zone][tier].String(); g != cidr {
				t.Errorf("%s %s = %s, want %s", zone, tier, g, cidr)
			}
		}
	}
}

func TestLayoutSubnetsNeverOverlapAndStayInsideTheVPC(t *testing.T) {
	zones := []string{"x-1a", "x-1b", "x-1c", "x-1d", "x-1e", "x-1f", "x-1g", "x-1h"}
	for _, cidr := range []string{"10.0.0.0/16", "172.20.0.0/18", "192.168.4.0/22"} {
		layout, err := network.Layout(cidr, zones)
		if err != nil {
			t.Fatal(err)
		}
		vpc := netip.MustParsePrefix(cidr)
		var all []netip.Prefix
		for _, z := range zones {
			for _, tier := range network.SubnetClasses {
				p := layout[z][tier]
				if !vpc.Contains(p.Addr()) || p.Bits() < vpc.Bits() || p.Bits() > 28 {
					t.Errorf("%s: %s %s = %s is not a valid subnet of the VPC", cidr, z, tier, p)
				}
				for _, q := range all {
					if p.Overlaps(q) {
						t.Errorf("%s: %s overlaps %s", cidr, p, q)
					}
				}
				all = append(all, p)
			}
		}
	}
	if _, err := network.Layout("10.0.0.0/23", zones); err == nil {
		t.Error("a /23 VPC was accepted")
	}
	if _, err := network.Layout("10.0.0.0/16", []string{"us-east-1z"}); err == nil {
		t.Error("zone letter z was accepted")
	}
}

// Adding a third zone must neither rename nor re-address any subnet of the
// first two: the classic destructive diff of list-indexed subnets.
func TestAddingAZoneKeepsExistingSubnets(t *testing.T) {
	before := run(t, twoZones())
	three := twoZones()
	three.AvailabilityZones = []string{"us-east-1c", "us-east-1a", "us-east-1b"} // new zone listed first
	after := run(t, three)

	for _, s := range before.OfType(subnetT) {
		a := after.Named(subnetT, s.Name)
		if a == nil {
			t.Errorf("subnet %s disappeared when a zone was added", s.Name)
			continue
		}
		if a.Str("cidrBlock") != s.Str("cidrBlock") || a.Str("availabilityZone") != s.Str("availabilityZone") {
			t.Errorf("subnet %s moved from %s to %s", s.Name, s.Str("cidrBlock"), a.Str("cidrBlock"))
		}
	}
	if n := len(after.OfType(subnetT)); n != 9 {
		t.Errorf("3 zones gave %d subnets, want 9", n)
	}
	for _, s := range after.OfType(subnetT) {
		zone := s.Str("availabilityZone")
		if !strings.HasSuffix(s.Name, "-"+zone) {
			t.Errorf("subnet %s is not named after its zone %s", s.Name, zone)
		}
	}
}

func TestSubnetsPerZoneAndTier(t *testing.T) {
	rec := run(t, twoZones())
	for _, zone := range []string{"us-east-1a", "us-east-1b"} {
		for _, tier := range network.SubnetClasses {
			s := rec.Named(subnetT, "network-"+string(tier)+"-"+zone)
			if s == nil {
				t.Fatalf("no %s subnet in %s", tier, zone)
			}
			if s.Bool("mapPublicIpOnLaunch") {
				t.Errorf("%s maps public IPs on launch", s.Name)
			}
		}
	}
	vpc := rec.OfType("aws:ec2/vpc:Vpc")
	if len(vpc) != 1 || !vpc[0].Bool("enableDnsSupport") || !vpc[0].Bool("enableDnsHostnames") {
		t.Errorf("want one VPC with DNS support and hostnames, got %+v", vpc)
	}
}

// routesOf returns the routes of the route table associated with a subnet.
func routesOf(t *testing.T, rec *mocks.Recorder, subnetName string) []*mocks.Resource {
	t.Helper()
	subnet := rec.Named(subnetT, subnetName)
	for _, a := range rec.OfType(assocT) {
		if a.Str("subnetId") != subnet.ID {
			continue
		}
		rtID := a.Str("routeTableId")
		return rec.Where(routeT, func(r *mocks.Resource) bool { return r.Str("routeTableId") == rtID })
	}
	t.Fatalf("subnet %s has no route table", subnetName)
	return nil
}

func TestRoutesPerTierAndNATStrategy(t *testing.T) {
	for _, tc := range []struct {
		nat       string
		gateways  int
		privateNA bool // private subnets have no default route
	}{
		{network.NATNone, 0, true},
		{network.NATSingle, 1, false},
		{network.NATPerAZ, 2, false},
	} {
		t.Run(tc.nat, func(t *testing.T) {
			args := twoZones()
			args.NATGateways = tc.nat
			rec := run(t, args)
			nats := rec.OfType(natT)
			if len(nats) != tc.gateways {
				t.Fatalf("%d NAT gateways, want %d", len(nats), tc.gateways)
			}
			for _, zone := range []string{"us-east-1a", "us-east-1b"} {
				pub := routesOf(t, rec, "network-public-"+zone)
				if len(pub) != 1 || pub[0].Str("destinationCidrBlock") != "0.0.0.0/0" || !strings.HasPrefix(pub[0].Str("gatewayId"), "igw-") {
					t.Errorf("public %s: want one default route to the internet gateway", zone)
				}
				if db := routesOf(t, rec, "network-database-"+zone); len(db) != 0 {
					t.Errorf("database subnet in %s has routes out of the VPC: %d", zone, len(db))
				}
				priv := routesOf(t, rec, "network-private-"+zone)
				if tc.privateNA {
					if len(priv) != 0 {
						t.Errorf("private %s routes out with NAT none", zone)
					}
					continue
				}
				if len(priv) != 1 || priv[0].Str("destinationCidrBlock") != "0.0.0.0/0" {
					t.Fatalf("private %s: want one default route, got %d", zone, len(priv))
				}
				natID := priv[0].Str("natGatewayId")
				nat := rec.ByID(natID)
				if nat == nil {
					t.Fatalf("private %s routes to unknown NAT %q", zone, natID)
				}
				wantZone := zone
				if tc.nat == network.NATSingle {
					wantZone = "us-east-1a"
				}
				if nat.Name != "network-nat-"+wantZone {
					t.Errorf("private %s routes through %s, want the NAT of %s", zone, nat.Name, wantZone)
				}
			}
		})
	}
}

func TestDefaultSecurityGroupHasNoRules(t *testing.T) {
	rec := run(t, twoZones())
	sgs := rec.OfType(defaultSGT)
	if len(sgs) != 1 {
		t.Fatalf("%d default security groups adopted, want 1", len(sgs))
	}
	for _, k := range []string{"ingress", "egress"} {
		if v := sgs[0].In(k); v != nil && len(v.([]any)) != 0 {
			t.Errorf("default security group has %s rules: %v", k, v)
		}
	}
}

func TestFlowLogsGoToARetainedLogGroup(t *testing.T) {
	args := twoZones()
	args.FlowLogRetentionDays = 30
	rec := run(t, args)
	logs := rec.OfType("aws:ec2/flowLog:FlowLog")
	if len(logs) != 1 {
		t.Fatalf("%d flow logs, want 1", len(logs))
	}
	fl := logs[0]
	if fl.Str("trafficType") != "ALL" || fl.Str("logDestinationType") != "cloud-watch-logs" || !strings.HasPrefix(fl.Str("vpcId"), "vpc-") {
		t.Errorf("flow log = %v", fl.Inputs)
	}
	group := rec.OfType("aws:cloudwatch/logGroup:LogGroup")
	if len(group) != 1 || group[0].Int("retentionInDays") != 30 || fl.Str("logDestination") != group[0].Outputs["arn"] {
		t.Errorf("flow log group = %+v", group)
	}
}

// The flow log is created after its role's policy: with the role alone,
// VPC Flow Logs' first deliveries would be denied.
func TestFlowLogDependsOnItsRolePolicy(t *testing.T) {
	rec := run(t, twoZones())
	logs := rec.OfType("aws:ec2/flowLog:FlowLog")
	policies := rec.OfType("aws:iam/rolePolicy:RolePolicy")
	if len(logs) != 1 || len(policies) != 1 {
		t.Fatalf("%d flow logs, %d role policies; want 1 each", len(logs), len(policies))
	}
	if !slices.Contains(logs[0].Dependencies, policies[0].URN) {
		t.Errorf("flow log depends on %v, not on its role policy %s", logs[0].Dependencies, policies[0].URN)
	}
}

// The flow logs' role, the network's only role, carries the boundary.
func TestFlowLogRoleCarriesThePermissionsBoundary(t *testing.T) {
	for _, boundary := range []string{"", "arn:aws-us-gov:iam::123456789012:policy/webstack-ci-dev-boundary"} {
		args := twoZones()
		args.PermissionsBoundary = boundary
		roles := run(t, args).OfType("aws:iam/role:Role")
		var want any
		if boundary != "" {
			want = boundary
		}
		if len(roles) != 1 || roles[0].Inputs["permissionsBoundary"] != want {
			t.Errorf("boundary %q: roles %+v", boundary, roles)
		}
	}
}

func TestEndpoints(t *testing.T) {
	rec := run(t, twoZones())
	s3 := rec.Named(endpointT, "network-s3")
	if s3 == nil || s3.Str("vpcEndpointType") != "Gateway" || s3.Str("serviceName") != "com.amazonaws.us-east-1.s3" {
		t.Fatalf("S3 gateway endpoint = %+v", s3)
	}
	// In the public and private route tables (packages and bundles come
	// from S3), never in the database one.
	tables := s3.Strings("routeTableIds")
	db := rec.Named(rtT, "network-database")
	if len(tables) != 3 {
		t.Errorf("S3 endpoint in %d route tables, want 3 (public + 2 private)", len(tables))
	}
	for _, id := range tables {
		if id == db.ID {
			t.Error("S3 endpoint routes from the database subnets")
		}
	}
	for _, svc := range []string{"ec2", "secretsmanager"} {
		ep := rec.Named(endpointT, "network-endpoint-"+svc)
		if ep == nil || ep.Str("vpcEndpointType") != "Interface" || !ep.Bool("privateDnsEnabled") || len(ep.Strings("subnetIds")) != 2 {
			t.Errorf("%s interface endpoint = %+v", svc, ep)
		}
	}
}

func TestInvalidArgsRegisterNothing(t *testing.T) {
	zones := []string{"us-east-1a", "us-east-1b"}
	for name, c := range map[string]struct {
		args network.Args
		want string // the field the error names
	}{
		"one zone":    {network.Args{AvailabilityZones: []string{"us-east-1a"}}, "Args.AvailabilityZones"},
		"bad NAT":     {network.Args{AvailabilityZones: zones, NATGateways: "two"}, "Args.NATGateways"},
		"small VPC":   {network.Args{CIDR: "10.0.0.0/24", AvailabilityZones: zones}, "10.0.0.0/24"},
		"no region":   {network.Args{Region: "-", AvailabilityZones: zones}, "Args.Region"},
		"zone letter": {network.Args{AvailabilityZones: []string{"us-east-1a", "us-east-1-x"}}, "us-east-1-x"},
		"partition":   {network.Args{Partition: "aws:iam", AvailabilityZones: zones}, `Args.Partition = "aws:iam"`},
		"account":     {network.Args{AccountID: "12345", AvailabilityZones: zones}, `Args.AccountID = "12345"`},
		"bucket":      {network.Args{Buckets: []string{"Bucket*"}, AvailabilityZones: zones}, `Args.Buckets[0] = "Bucket*"`},
		"boundary":    {network.Args{PermissionsBoundary: "admin", AvailabilityZones: zones}, `Args.PermissionsBoundary = "admin"`},
	} {
		args := c.args
		switch args.Region {
		case "":
			args.Region = "us-east-1"
		case "-":
			args.Region = ""
		}
		if args.Partition == "" {
			args.Partition = "aws"
		}
		if args.AccountID == "" {
			args.AccountID = mocks.AccountID
		}
		rec, err := mocks.Run(func(ctx *pulumi.Context) error {
			_, err := network.New(ctx, "network", args)
			return err
		}, mocks.Options{Project: "webstack", Stack: "test"})
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name %s", name, err, c.want)
		}
		if rec.Count() != 0 {
			t.Errorf("%s: %d resources registered before the error", name, rec.Count())
		}
	}
}

// policyStatements decodes a policy document's statements.
func policyStatements(t *testing.T, doc string) []map[string]any {
	t.Helper()
	var d struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("policy %q: %v", doc, err)
	}
	return d.Statement
}

// The S3 gateway endpoint lets through what the hosts read (packages and
// the stack's bucket) and nothing else: no write, no other bucket.
func TestS3EndpointPolicyAllowsOnlyPackagesAndTheStacksBucket(t *testing.T) {
	rec := run(t, twoZones())
	s3 := rec.Named(endpointT, "network-s3")
	st := policyStatements(t, s3.Str("policy"))
	if len(st) != 1 {
		t.Fatalf("statements = %v, want one", st)
	}
	want := map[string]any{
		"Sid": "ReadPackagesAndTheStacksBucket", "Effect": "Allow", "Principal": map[string]any{"AWS": "*"},
		"Action": []any{"s3:GetObject"},
		"Resource": []any{
			"arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*",
			"arn:aws:s3:::webstack-test-123456789012-us-east-1/*",
		},
	}
	if !reflect.DeepEqual(st[0], want) {
		t.Errorf("statement = %v\nwant        %v", st[0], want)
	}
}

// The flow-log role may be assumed by VPC Flow Logs only for this
// account's flow logs.
func TestFlowLogRoleTrustNamesTheAccount(t *testing.T) {
	args := twoZones()
	args.Region, args.AvailabilityZones, args.Partition = "cn-north-1", []string{"cn-north-1a", "cn-north-1b"}, "aws-cn"
	rec := run(t, args)
	role := rec.Named("aws:iam/role:Role", "network-flow-logs")
	st := policyStatements(t, role.Str("assumeRolePolicy"))
	if len(st) != 1 {
		t.Fatalf("trust = %v", st)
	}
	want := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": mocks.AccountID},
		"ArnLike":      map[string]any{"aws:SourceArn": "arn:aws-cn:ec2:cn-north-1:" + mocks.AccountID + ":vpc-flow-log/*"},
	}
	if !reflect.DeepEqual(st[0]["Condition"], want) {
		t.Errorf("trust condition = %v, want %v", st[0]["Condition"], want)
	}
	if p := st[0]["Principal"]; !reflect.DeepEqual(p, map[string]any{"Service": "vpc-flow-logs.amazonaws.com"}) {
		t.Errorf("trust principal = %v", p)
	}
}
