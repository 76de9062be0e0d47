// Package mocks runs a Pulumi program offline and records what it registers.
//
// Recorder implements Pulumi's MockResourceMonitor: it records every
// resource (type, name, parent, provider, options, inputs) and invoke, and
// answers with plausible AWS outputs (ids, ARNs, private IPs inside the
// subnet, RDS endpoints, random passwords marked secret). Tests, the offline
// plan and the guardrails all ask it questions such as "every security group
// ingress rule with a CIDR source".
package mocks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AccountID is the AWS account the mocks pretend to be.
const AccountID = "123456789012"

// Options configures a mocked run.
type Options struct {
	Project, Stack string
	// Config holds fully qualified keys (webstack:web, aws:region) with the
	// raw string values the Pulumi CLI would pass; Secrets lists the keys
	// that are secret.
	Config  map[string]string
	Secrets []string
	// Zones answers getAvailabilityZones (default: <region>a to <region>d).
	Zones []string
	// Images maps AMI ids to their architecture for getAmi; the AL2023
	// images getParameter returns are always known.
	Images map[string]string
	// DryRun runs as a preview.
	DryRun bool
}

// Secret marks a recorded value that Pulumi treats as secret.
type Secret struct{ Value any }

// Unknown is a value not known until deployment (a preview's computed value).
type Unknown struct{}

// Asset is a recorded Pulumi asset: inline text or a file path.
type Asset struct {
	Text, Path, Hash string
}

// Resource is one registered resource as the engine would see it.
type Resource struct {
	Type, Name, URN string
	Parent          string // parent URN
	Provider        string // provider reference (urn::id), empty for the default
	Custom          bool
	ID              string
	Inputs          map[string]any
	Outputs         map[string]any

	Protect, DeleteBeforeReplace bool
	IgnoreChanges                []string
	ReplaceOnChanges             []string
	AdditionalSecretOutputs      []string
	Dependencies                 []string
	RetainOnDelete               bool
}

// Invoke is one recorded provider function call.
type Invoke struct {
	Token string
	Args  map[string]any
}

// Recorder is the recording mock monitor.
type Recorder struct {
	opts Options

	mu        sync.Mutex
	resources []*Resource
	invokes   []Invoke
	subnets   map[string]netip.Prefix // subnet id → CIDR
	usedIPs   map[netip.Addr]bool
}

// New returns a recorder for a run with these options.
func New(opts Options) *Recorder {
	return &Recorder{opts: opts, subnets: map[string]netip.Prefix{}, usedIPs: map[netip.Addr]bool{}}
}

// Run runs program under mocks and returns what it registered. The error is
// the program's.
func Run(program pulumi.RunFunc, opts Options) (*Recorder, error) {
	r := New(opts)
	err := pulumi.RunErr(program, pulumi.WithMocks(opts.Project, opts.Stack, r), func(info *pulumi.RunInfo) {
		info.Config = opts.Config
		info.ConfigSecretKeys = opts.Secrets
		info.DryRun = opts.DryRun
	})
	return r, err
}

func (r *Recorder) region() string {
	if v := r.opts.Config["aws:region"]; v != "" {
		return v
	}
	return "us-east-1"
}

// NewResource records a resource and returns its id and outputs.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	res := &Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Provider: args.Provider}
	if rpc := args.RegisterRPC; rpc != nil {
		res.Parent = rpc.GetParent()
		res.Protect = rpc.GetProtect()
		res.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		res.IgnoreChanges = rpc.GetIgnoreChanges()
		res.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		res.AdditionalSecretOutputs = rpc.GetAdditionalSecretOutputs()
		res.Dependencies = rpc.GetDependencies()
		res.RetainOnDelete = rpc.GetRetainOnDelete()
	}
	res.URN = r.urn(res.Parent, res.Type, res.Name)

	state := args.Inputs.Copy()
	r.mu.Lock()
	id := r.fillOutputs(res, state)
	r.mu.Unlock()
	for _, k := range res.AdditionalSecretOutputs {
		if v, ok := state[resource.PropertyKey(k)]; ok && !v.IsSecret() {
			state[resource.PropertyKey(k)] = resource.MakeSecret(v)
		}
	}
	res.ID = id
	res.Inputs = Plain(args.Inputs)
	res.Outputs = Plain(state)

	r.mu.Lock()
	r.resources = append(r.resources, res)
	r.mu.Unlock()
	return id, state, nil
}

func (r *Recorder) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(r.opts.Stack), tokens.PackageName(r.opts.Project), parentType, tokens.Type(typ), name))
}

// fake returns a stable pseudo-random hex string for a name.
func fake(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])
}

// idPrefixes gives resources AWS-looking ids.
var idPrefixes = map[string]string{
	"aws:ec2/vpc:Vpc":                                           "vpc-",
	"aws:ec2/subnet:Subnet":                                     "subnet-",
	"aws:ec2/securityGroup:SecurityGroup":                       "sg-",
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         "sg-",
	"aws:ec2/instance:Instance":                                 "i-",
	"aws:ec2/eip:Eip":                                           "eipalloc-",
	"aws:ec2/natGateway:NatGateway":                             "nat-",
	"aws:ec2/internetGateway:InternetGateway":                   "igw-",
	"aws:ec2/routeTable:RouteTable":                             "rtb-",
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           "vpce-",
	"aws:ec2/flowLog:FlowLog":                                   "fl-",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   "sgr-",
}

// fillOutputs adds the outputs AWS would compute to state and returns the
// resource's id. Called with r.mu held.
func (r *Recorder) fillOutputs(res *Resource, state resource.PropertyMap) string {
	region, h := r.region(), fake(res.Type, res.Name)
	id := res.Name + "-" + h[:8]
	if p, ok := idPrefixes[res.Type]; ok {
		id = p + h[:17]
	}
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string {
		if v, ok := state[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	service := strings.SplitN(strings.TrimPrefix(res.Type, "aws:"), "/", 2)[0]
	arn := fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, region, AccountID, strings.ToLower(res.Name), id)

	switch res.Type {
	case "aws:ec2/vpc:Vpc":
		set("defaultSecurityGroupId", "sg-"+h[17:34])
		set("mainRouteTableId", "rtb-"+h[17:34])
	case "aws:ec2/subnet:Subnet":
		if p, err := netip.ParsePrefix(str("cidrBlock")); err == nil {
			r.subnets[id] = p
		}
	case "aws:ec2/instance:Instance":
		set("privateIp", r.privateIP(str("subnetId"), h).String())
		set("primaryNetworkInterfaceId", "eni-"+h[:17])
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", region, AccountID, id))
		return id
	case "aws:ec2/eip:Eip":
		set("allocationId", id)
		set("publicIp", fmt.Sprintf("203.0.113.%d", 1+int(h[0])%250))
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:elastic-ip/%s", region, AccountID, id))
		return id
	case "aws:rds/instance:Instance":
		ident := str("identifier")
		if ident == "" {
			ident = res.Name + "-" + h[:7]
		}
		port := 5432.0
		if v, ok := state["port"]; ok && v.IsNumber() {
			port = v.NumberValue()
		} else if strings.HasPrefix(str("engine"), "mysql") {
			port = 3306
		}
		addr := fmt.Sprintf("%s.c%s.%s.rds.amazonaws.com", ident, h[:12], region)
		set("identifier", ident)
		set("address", addr)
		set("port", port)
		set("endpoint", fmt.Sprintf("%s:%d", addr, int(port)))
		set("arn", fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", region, AccountID, ident))
		set("resourceId", "db-"+strings.ToUpper(h[:26]))
		return id
	case "aws:secretsmanager/secret:Secret":
		arn = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, AccountID, res.Name, h[:6])
		set("arn", arn)
		return arn
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile", "aws:iam/policy:Policy":
		kind := strings.ToLower(strings.Split(res.Type, ":")[2][:1]) + strings.Split(res.Type, ":")[2][1:]
		name := res.Name + "-" + h[:7]
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:%s/%s", AccountID, kind, name))
		return name
	case "aws:s3/bucketV2:BucketV2":
		name := str("bucket")
		if name == "" {
			name = res.Name + "-" + h[:7]
		}
		set("bucket", name)
		set("arn", "arn:aws:s3:::"+name)
		set("bucketRegionalDomainName", name+".s3."+region+".amazonaws.com")
		return name
	case "aws:cloudwatch/logGroup:LogGroup":
		name := res.Name + "-" + h[:7]
		if n := str("name"); n != "" {
			name = n
		}
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", region, AccountID, name))
		return name
	case "aws:ec2/vpcEndpoint:VpcEndpoint":
		if str("vpcEndpointType") == "Gateway" {
			set("prefixListId", "pl-"+h[:8])
		}
	case "aws:route53/record:Record":
		set("fqdn", str("name"))
	case "random:index/randomPassword:RandomPassword":
		n := 32
		if v, ok := state["length"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		pw := ("Mock" + h + h)[:n]
		set("result", pw)
		set("bcryptHash", "$2a$10$"+h[:53])
	case "random:index/randomId:RandomId":
		n := 8
		if v, ok := state["byteLength"]; ok && v.IsNumber() {
			n = int(v.NumberValue())
		}
		set("hex", h[:2*n])
		set("dec", fmt.Sprint(binary.BigEndian.Uint32([]byte(h[:4]))))
		set("b64Url", h[:n])
		set("b64Std", h[:n])
	}
	if strings.HasPrefix(res.Type, "aws:") {
		if _, ok := state["arn"]; !ok {
			set("arn", arn)
		}
		// The provider auto-names resources whose name is not given.
		if _, ok := state["name"]; !ok {
			set("name", res.Name+"-"+h[:7])
		}
	}
	return id
}

// privateIP picks a stable address for an instance inside its subnet,
// skipping AWS's reserved first four and last addresses.
func (r *Recorder) privateIP(subnetID, h string) netip.Addr {
	p, ok := r.subnets[subnetID]
	if !ok {
		p = netip.MustParsePrefix("10.255.0.0/16")
	}
	size := uint32(1) << (32 - p.Bits())
	base := p.Addr().As4()
	start := binary.BigEndian.Uint32(base[:])
	seed := binary.BigEndian.Uint32([]byte(h[:4]))
	for i := uint32(0); ; i++ {
		off := 4 + (seed+i)%(size-5)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], start+off)
		a := netip.AddrFrom4(b)
		if !r.usedIPs[a] {
			r.usedIPs[a] = true
			return a
		}
	}
}

// Call answers the provider functions webstack uses; any other is an error,
// so a test notices a new lookup.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	r.invokes = append(r.invokes, Invoke{Token: args.Token, Args: Plain(args.Args)})
	r.mu.Unlock()
	region := r.region()
	get := func(k string) string {
		if v, ok := args.Args[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		zones := r.opts.Zones
		if zones == nil {
			zones = []string{region + "a", region + "b", region + "c", region + "d"}
		}
		ids := make([]string, len(zones))
		for i := range zones {
			ids[i] = fmt.Sprintf("use1-az%d", i+1)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": region, "names": zones, "zoneIds": ids}), nil
	case "aws:ssm/getParameter:getParameter":
		name := get("name")
		if !strings.HasPrefix(name, "/aws/service/ami-amazon-linux-latest/") {
			return nil, fmt.Errorf("mocks: no SSM parameter %q", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "name": name, "type": "String", "version": 1,
			"value": LatestAMI(name), "insecureValue": LatestAMI(name),
			"arn": fmt.Sprintf("arn:aws:ssm:%s::parameter%s", region, name),
		}), nil
	case "aws:ec2/getAmi:getAmi":
		id := amiFilter(args.Args)
		arch, ok := r.opts.Images[id]
		if !ok {
			return nil, fmt.Errorf("mocks: Your query returned no results (image %q)", id)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": id, "imageId": id, "architecture": arch, "name": "mock-image"}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": AccountID, "arn": "arn:aws:iam::" + AccountID + ":user/mock", "userId": "MOCK", "id": AccountID,
		}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": region, "id": region}), nil
	}
	return nil, fmt.Errorf("mocks: no answer for invoke %s", args.Token)
}

// LatestAMI is the image id the mocks give for an AL2023 SSM parameter.
func LatestAMI(parameter string) string {
	return "ami-0" + fake(parameter)[:16]
}

// amiFilter finds the image-id filter of a getAmi call.
func amiFilter(args resource.PropertyMap) string {
	filters, ok := args["filters"]
	if !ok || !filters.IsArray() {
		return ""
	}
	for _, f := range filters.ArrayValue() {
		obj := f.ObjectValue()
		if obj["name"].StringValue() == "image-id" && len(obj["values"].ArrayValue()) > 0 {
			return obj["values"].ArrayValue()[0].StringValue()
		}
	}
	return ""
}

// Resources returns every recorded resource, sorted by URN.
func (r *Recorder) Resources() []*Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]*Resource(nil), r.resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// Invokes returns the recorded calls of one function (all, if token is "").
func (r *Recorder) Invokes(token string) []Invoke {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Invoke
	for _, inv := range r.invokes {
		if token == "" || inv.Token == token {
			out = append(out, inv)
		}
	}
	return out
}

// OfType returns the resources of one type token, sorted by name.
func (r *Recorder) OfType(typ string) []*Resource {
	var out []*Resource
	for _, res := range r.Resources() {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Named returns the resource of a type and name, or nil.
func (r *Recorder) Named(typ, name string) *Resource {
	for _, res := range r.OfType(typ) {
		if res.Name == name {
			return res
		}
	}
	return nil
}

// ByID returns the resource with an id (or ARN), or nil.
func (r *Recorder) ByID(id string) *Resource {
	for _, res := range r.Resources() {
		if res.ID == id {
			return res
		}
	}
	return nil
}

// ByURN returns the resource with a URN, or nil.
func (r *Recorder) ByURN(urn string) *Resource {
	for _, res := range r.Resources() {
		if res.URN == urn {
			return res
		}
	}
	return nil
}

// Where returns the resources of a type for which keep is true.
func (r *Recorder) Where(typ string, keep func(*Resource) bool) []*Resource {
	var out []*Resource
	for _, res := range r.OfType(typ) {
		if keep(res) {
			out = append(out, res)
		}
	}
	return out
}

// Count is the number of resources registered (all types).
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.resources)
}
