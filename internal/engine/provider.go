package engine

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/foobar/webstack/components/database"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Provider is an in-process fake of a resource provider plugin (aws or
// random), served over gRPC so that the real engine attaches to it
// (PULUMI_DEBUG_PROVIDERS). It answers as the real provider would for
// what webstack uses: Check returns the inputs; Diff reports the changed
// properties and, for the properties the provider's schema marks as
// forcing a replacement (replaceProperties), a replacement; Create
// fabricates ids and outputs with mocks.Cloud (the same answers the unit
// tests' mocks give); Read returns the live state, drifted if a test said
// so; Delete applies the refusals AWS would (World).
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer

	pkg, version string
	world        *World
}

var marshal = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true}

// Serve starts the provider on a loopback port and returns the port; the
// server stops when ctx ends.
func (p *Provider) Serve(ctx context.Context) (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	pulumirpc.RegisterResourceProviderServer(srv, p)
	go srv.Serve(lis)
	go func() { <-ctx.Done(); srv.Stop() }()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, marshal)
}

func (p *Provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

func (p *Provider) Attach(context.Context, *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *Provider) GetMapping(context.Context, *pulumirpc.GetMappingRequest) (*pulumirpc.GetMappingResponse, error) {
	return &pulumirpc.GetMappingResponse{}, nil
}

func (p *Provider) GetMappings(context.Context, *pulumirpc.GetMappingsRequest) (*pulumirpc.GetMappingsResponse, error) {
	return &pulumirpc.GetMappingsResponse{}, nil
}

func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Provider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.diff(req.GetUrn(), req.GetOldInputs(), req.GetOlds(), req.GetNews(), nil)
}

func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (p *Provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	out, err := p.world.cloud.Invoke(req.GetTok(), args)
	if err != nil {
		// A failed lookup is the provider's answer, not a broken provider.
		return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{{Reason: err.Error()}}}, nil
	}
	ret, err := plugin.MarshalProperties(out, marshal)
	return &pulumirpc.InvokeResponse{Return: ret}, err
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return p.diff(req.GetUrn(), req.GetOldInputs(), req.GetOlds(), req.GetNews(), req.GetIgnoreChanges())
}

// diff compares the new inputs with the old ones (or, for state written
// without them, the old outputs).
func (p *Provider) diff(urn string, oldInputs, olds, news *structpb.Struct, ignore []string) (*pulumirpc.DiffResponse, error) {
	if oldInputs == nil {
		oldInputs = olds
	}
	before, err := unmarshal(oldInputs)
	if err != nil {
		return nil, err
	}
	after, err := unmarshal(news)
	if err != nil {
		return nil, err
	}
	typ := string(resource.URN(urn).Type())
	var diffs, replaces []string
	for _, k := range unionKeys(before, after) {
		if strings.HasPrefix(k, "__") || contains(ignore, k) {
			continue
		}
		if equal(before[resource.PropertyKey(k)], after[resource.PropertyKey(k)]) {
			continue
		}
		diffs = append(diffs, k)
		if forcesReplacement(typ, k, after) {
			replaces = append(replaces, k)
		}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs, Replaces: replaces}, nil
}

func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	if req.GetPreview() {
		// What is not known before the resource exists stays unknown.
		props, err := plugin.MarshalProperties(inputs, marshal)
		return &pulumirpc.CreateResponse{Properties: props}, err
	}
	id, outputs, err := p.world.create(urn, inputs)
	if err != nil {
		return nil, err
	}
	props, err := plugin.MarshalProperties(outputs, marshal)
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
}

func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	outputs, inputs, ok := p.world.read(resource.URN(req.GetUrn()), req.GetId())
	if !ok {
		// Gone from the cloud: the engine drops it from the state.
		return &pulumirpc.ReadResponse{}, nil
	}
	props, err := plugin.MarshalProperties(outputs, marshal)
	if err != nil {
		return nil, err
	}
	ins, err := plugin.MarshalProperties(inputs, marshal)
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: props, Inputs: ins}, err
}

func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	// The new inputs, and what the cloud computed that they do not set.
	outputs := news.Copy()
	for k, v := range olds {
		if _, set := news[k]; !set {
			outputs[k] = v
		}
	}
	if resource.URN(req.GetUrn()).Type() == "aws:ec2/launchTemplate:LaunchTemplate" {
		// Any change of a launch template is a new version: unknown in a
		// preview (as the provider marks it), the next number after it.
		if v := olds["latestVersion"]; v.IsNumber() {
			outputs["latestVersion"] = resource.NewProperty(v.NumberValue() + 1)
			if req.GetPreview() {
				outputs["latestVersion"] = resource.MakeComputed(resource.NewProperty(""))
			}
		}
	}
	if resource.URN(req.GetUrn()).Type() == "aws:ssm/parameter:Parameter" {
		// A new value or description is a new version of the parameter
		// (PutParameter): unknown in a preview, as the provider marks it,
		// then the next number.
		if v := olds["version"]; v.IsNumber() && (!equal(olds["value"], news["value"]) || !equal(olds["insecureValue"], news["insecureValue"]) || !equal(olds["description"], news["description"])) {
			outputs["version"] = resource.NewProperty(v.NumberValue() + 1)
			if req.GetPreview() {
				outputs["version"] = resource.MakeComputed(resource.NewProperty(""))
			}
		}
	}
	if !req.GetPreview() {
		if err := p.world.update(resource.URN(req.GetUrn()), req.GetId(), news, outputs); err != nil {
			return nil, err
		}
	}
	props, err := plugin.MarshalProperties(outputs, marshal)
	return &pulumirpc.UpdateResponse{Properties: props}, err
}

func (p *Provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, p.world.delete(resource.URN(req.GetUrn()), req.GetId())
}

func unionKeys(a, b resource.PropertyMap) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[string(k)] = true
	}
	for k := range b {
		seen[string(k)] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// equal compares two property values, looking through secrets; an unknown
// new value counts as a change.
func equal(a, b resource.PropertyValue) bool {
	if b.ContainsUnknowns() {
		return false
	}
	return fmt.Sprint(mocks.Reveal(plainOf(a))) == fmt.Sprint(mocks.Reveal(plainOf(b)))
}

func plainOf(v resource.PropertyValue) any {
	return mocks.Plain(resource.PropertyMap{"v": v})["v"]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// replaceProperties are the properties whose change replaces a resource,
// as the AWS and random providers' schemas mark them (ForceNew upstream),
// for the types and properties webstack sets.
var replaceProperties = map[string][]string{
	"aws:ec2/vpc:Vpc":                                           {"cidrBlock"},
	"aws:ec2/subnet:Subnet":                                     {"availabilityZone", "availabilityZoneId", "cidrBlock", "vpcId"},
	"aws:ec2/securityGroup:SecurityGroup":                       {"description", "name", "namePrefix", "vpcId"},
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":         {"vpcId"},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {"securityGroupId"},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   {"securityGroupId"},
	"aws:ec2/natGateway:NatGateway":                             {"allocationId", "connectivityType", "subnetId"},
	"aws:ec2/eip:Eip":                                           {"domain"},
	"aws:ec2/routeTable:RouteTable":                             {"vpcId"},
	"aws:ec2/route:Route":                                       {"destinationCidrBlock", "routeTableId"},
	"aws:ec2/routeTableAssociation:RouteTableAssociation":       {"gatewayId", "subnetId"},
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           {"serviceName", "vpcEndpointType", "vpcId"},
	"aws:ec2/flowLog:FlowLog":                                   {"iamRoleArn", "logDestination", "logDestinationType", "trafficType", "vpcId"},
	"aws:ec2/instance:Instance":                                 {"ami", "associatePublicIpAddress", "availabilityZone", "keyName", "subnetId"},
	"aws:ec2/launchTemplate:LaunchTemplate":                     {"name", "namePrefix"},
	"aws:autoscaling/group:Group":                               {"initialLifecycleHooks", "name", "namePrefix"},
	"aws:autoscaling/lifecycleHook:LifecycleHook":               {"autoscalingGroupName", "name"},
	"aws:autoscaling/policy:Policy":                             {"autoscalingGroupName", "name"},
	"aws:rds/instance:Instance":                                 database.ForceNewFields,
	"aws:rds/subnetGroup:SubnetGroup":                           {"name", "namePrefix"},
	"aws:rds/parameterGroup:ParameterGroup":                     {"family", "name", "namePrefix"},
	"aws:s3/bucketV2:BucketV2":                                  {"bucket", "bucketPrefix"},
	"aws:s3/bucketObjectv2:BucketObjectv2":                      {"bucket", "key"},
	"aws:secretsmanager/secret:Secret":                          {"name", "namePrefix"},
	"aws:secretsmanager/secretVersion:SecretVersion":            {"secretId"},
	"aws:iam/role:Role":                                         {"name", "namePrefix", "path"},
	"aws:iam/instanceProfile:InstanceProfile":                   {"name", "namePrefix", "path"},
	"aws:iam/rolePolicy:RolePolicy":                             {"name", "namePrefix", "role"},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":         {"policyArn", "role"},
	"aws:cloudwatch/logGroup:LogGroup":                          {"name", "namePrefix"},
	"aws:route53/record:Record":                                 {"name", "zoneId"},
	"random:index/randomPassword:RandomPassword": {"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial",
		"minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
	"random:index/randomString:RandomString": {"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial",
		"minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
	"random:index/randomId:RandomId":       {"byteLength", "keepers", "prefix"},
	"random:index/randomBytes:RandomBytes": {"keepers", "length"},
	"aws:ssm/parameter:Parameter":          {"name", "dataType"},
}

// forcesReplacement reports whether a change of key replaces a resource of
// type typ. An instance's user data replaces it only when the instance
// asks for that (userDataReplaceOnChange), as the provider does.
func forcesReplacement(typ, key string, news resource.PropertyMap) bool {
	if typ == "aws:ec2/instance:Instance" && (key == "userData" || key == "userDataBase64") {
		v := news["userDataReplaceOnChange"]
		return v.IsBool() && v.BoolValue()
	}
	return contains(replaceProperties[typ], key)
}

// sortedURNs lists map keys, sorted.
func sortedURNs[V any](m map[resource.URN]V) []resource.URN {
	out := make([]resource.URN, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
