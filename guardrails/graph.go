package guardrails

import (
	"fmt"
	"sort"
	"strings"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/stacks"
)

// Resource types the rules look at.
const (
	providerAWS      = "pulumi:providers:aws"
	vpcT             = "aws:ec2/vpc:Vpc"
	subnetT          = "aws:ec2/subnet:Subnet"
	sgT              = "aws:ec2/securityGroup:SecurityGroup"
	defaultSGT       = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	sgRuleT          = "aws:ec2/securityGroupRule:SecurityGroupRule"
	ingressT         = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressT          = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	instanceT        = "aws:ec2/instance:Instance"
	launchTemplateT  = "aws:ec2/launchTemplate:LaunchTemplate"
	asgT             = "aws:autoscaling/group:Group"
	lifecycleHookT   = "aws:autoscaling/lifecycleHook:LifecycleHook"
	volumeT          = "aws:ebs/volume:Volume"
	eipT             = "aws:ec2/eip:Eip"
	eipAssocT        = "aws:ec2/eipAssociation:EipAssociation"
	natT             = "aws:ec2/natGateway:NatGateway"
	vpcEndpointT     = "aws:ec2/vpcEndpoint:VpcEndpoint"
	flowLogT         = "aws:ec2/flowLog:FlowLog"
	logGroupT        = "aws:cloudwatch/logGroup:LogGroup"
	rdsT             = "aws:rds/instance:Instance"
	paramGroupT      = "aws:rds/parameterGroup:ParameterGroup"
	passwordT        = "random:index/randomPassword:RandomPassword"
	secretT          = "aws:secretsmanager/secret:Secret"
	secretVersionT   = "aws:secretsmanager/secretVersion:SecretVersion"
	secretPolicyT    = "aws:secretsmanager/secretPolicy:SecretPolicy"
	roleT            = "aws:iam/role:Role"
	rolePolicyT      = "aws:iam/rolePolicy:RolePolicy"
	policyT          = "aws:iam/policy:Policy"
	userPolicyT      = "aws:iam/userPolicy:UserPolicy"
	groupPolicyT     = "aws:iam/groupPolicy:GroupPolicy"
	rolePolicyAttT   = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	policyAttT       = "aws:iam/policyAttachment:PolicyAttachment"
	userPolicyAttT   = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
	groupPolicyAttT  = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
	profileT         = "aws:iam/instanceProfile:InstanceProfile"
	bucketT          = "aws:s3/bucket:Bucket"
	bucketV2T        = "aws:s3/bucketV2:BucketV2"
	bucketObjectT    = "aws:s3/bucketObject:BucketObject"
	bucketObjectV2T  = "aws:s3/bucketObjectv2:BucketObjectv2"
	publicAccessT    = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	bucketSSEV2T     = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	bucketVersionV2T = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	bucketPolicyT    = "aws:s3/bucketPolicy:BucketPolicy"
)

// Tiers of the diagram, as the rules name them.
const (
	TierLB  = "lb"
	TierWeb = "web"
	TierApp = "app"
	TierDB  = "db"
)

// Graph is the resource graph of one mocked run, indexed for the rules.
type Graph struct {
	// Resources are every registered resource, sorted by URN.
	Resources []*mocks.Resource
	// Environment selects the rules that depend on it (dev relaxes the
	// database protection rules, as stacks/validate.go does). An empty or
	// unknown environment gets production's rules.
	Environment stacks.Environment

	byURN  map[string]*mocks.Resource
	byType map[string][]*mocks.Resource
	refs   map[string][]*mocks.Resource
	tier   map[string]string // URN → tier of its nearest tier component

	bundles []bundleFile
}

// bundleFile is one file a bundle (a bucket object) installs on a host.
type bundleFile struct {
	Object  *mocks.Resource
	Path    string
	Content string
}

// FromRecorder builds the graph of a mocked run; the environment is the
// aws provider's default tag Environment.
func FromRecorder(rec *mocks.Recorder) *Graph {
	return NewGraph(rec.Resources(), "")
}

// NewGraph builds a graph from recorded resources. An empty environment is
// read from the aws provider's default tag Environment.
func NewGraph(resources []*mocks.Resource, environment stacks.Environment) *Graph {
	g := &Graph{
		Resources: append([]*mocks.Resource(nil), resources...),
		byURN:     map[string]*mocks.Resource{},
		byType:    map[string][]*mocks.Resource{},
		refs:      map[string][]*mocks.Resource{},
		tier:      map[string]string{},
	}
	sort.SliceStable(g.Resources, func(i, j int) bool { return g.Resources[i].URN < g.Resources[j].URN })
	for _, r := range g.Resources {
		g.byURN[r.URN] = r
		g.byType[r.Type] = append(g.byType[r.Type], r)
		for _, ref := range refKeys(r) {
			g.refs[ref] = append(g.refs[ref], r)
		}
	}
	for _, r := range g.Resources {
		g.tier[r.URN] = g.findTier(r)
	}
	if environment == "" {
		for _, p := range g.OfType(providerAWS) {
			if env := p.Str("defaultTags.tags.Environment"); env != "" {
				environment = stacks.Environment(env)
				break
			}
		}
	}
	g.Environment = environment
	for _, typ := range []string{bucketObjectV2T, bucketObjectT} {
		for _, obj := range g.OfType(typ) {
			b, err := host.ParseBundle(obj.Str("content"))
			if err != nil {
				continue
			}
			for _, f := range b.Files {
				g.bundles = append(g.bundles, bundleFile{Object: obj, Path: f.Path, Content: f.Content})
			}
		}
	}
	return g
}

// refKeys are the values other resources use to refer to r: its id, ARN
// and (provider-assigned) name.
func refKeys(r *mocks.Resource) []string {
	var out []string
	if r.ID != "" {
		out = append(out, r.ID)
	}
	for _, k := range []string{"arn", "name", "bucket", "allocationId"} {
		if s, ok := mocks.Reveal(r.Out(k)).(string); ok && s != "" && s != r.ID {
			out = append(out, s)
		}
	}
	return out
}

// OfType returns the resources of the given types, sorted by URN.
func (g *Graph) OfType(types ...string) []*mocks.Resource {
	if len(types) == 1 {
		return g.byType[types[0]]
	}
	var out []*mocks.Resource
	for _, t := range types {
		out = append(out, g.byType[t]...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// ByURN returns the resource with a URN, or nil.
func (g *Graph) ByURN(urn string) *mocks.Resource { return g.byURN[urn] }

// Refs returns the resources a value refers to (by id, ARN or name),
// restricted to some types when given.
func (g *Graph) Refs(value string, types ...string) []*mocks.Resource {
	if value == "" {
		return nil
	}
	var out []*mocks.Resource
	for _, r := range g.refs[value] {
		if len(types) == 0 || contains(types, r.Type) {
			out = append(out, r)
		}
	}
	return out
}

// Ref returns the first resource (by URN) a value refers to, or nil.
func (g *Graph) Ref(value string, types ...string) *mocks.Resource {
	if rs := g.Refs(value, types...); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// Parent returns a resource's parent, or nil for top-level resources.
func (g *Graph) Parent(r *mocks.Resource) *mocks.Resource { return g.byURN[r.Parent] }

// Tier returns the tier (TierLB, TierWeb, TierApp, TierDB) a resource
// belongs to: that of its nearest ancestor component of webstack's tiers,
// or "" for shared resources (network, firewall, bucket).
func (g *Graph) Tier(r *mocks.Resource) string { return g.tier[r.URN] }

func (g *Graph) findTier(r *mocks.Resource) string {
	for seen := 0; r != nil && seen < 64; seen++ {
		if t, ok := componentTiers[r.Type]; ok {
			return t
		}
		r = g.byURN[r.Parent]
	}
	return ""
}

// prodRules reports whether production's rules apply: in prod, and in any
// environment the guardrails do not know.
func (g *Graph) prodRules() bool {
	return g.Environment != stacks.Dev && g.Environment != stacks.Staging
}

// bundleFiles returns the files with a path ending in suffix that the
// graph's bundles install, in URN and file order.
func (g *Graph) bundleFiles(suffix string) []bundleFile {
	var out []bundleFile
	for _, f := range g.bundles {
		if strings.HasSuffix(f.Path, suffix) {
			out = append(out, f)
		}
	}
	return out
}

// Passwords are the generated passwords of the run (RandomPassword
// results), with the resource that generated each.
func (g *Graph) passwords() []generated {
	var out []generated
	for _, p := range g.OfType(passwordT) {
		if s, ok := mocks.Reveal(p.Out("result")).(string); ok && s != "" {
			out = append(out, generated{p, s})
		}
	}
	return out
}

type generated struct {
	By    *mocks.Resource
	Value string
}

// securityGroups are the security groups of an instance, a database or
// what a launch template launches (also on its network interfaces).
func securityGroups(r *mocks.Resource) []string {
	ids := r.Strings("vpcSecurityGroupIds")
	if r.Type == launchTemplateT {
		list, _ := mocks.Reveal(r.In("networkInterfaces")).([]any)
		for i := range list {
			ids = append(ids, r.Strings(fmt.Sprintf("networkInterfaces.%d.securityGroups", i))...)
		}
	}
	return ids
}

// hostGroup is an Auto Scaling group with what it launches.
type hostGroup struct {
	ASG, LaunchTemplate *mocks.Resource
	Tier                string
	// Zones are the zones of its subnets.
	Zones []string
	// Role is the role of its hosts' instance profile, if known.
	Role *mocks.Resource
}

// hostGroups are the graph's Auto Scaling groups.
func (g *Graph) hostGroups() []hostGroup {
	var out []hostGroup
	for _, asg := range g.OfType(asgT) {
		hg := hostGroup{ASG: asg, Tier: g.Tier(asg), LaunchTemplate: g.Ref(asg.Str("launchTemplate.id"), launchTemplateT)}
		if hg.LaunchTemplate == nil {
			hg.LaunchTemplate = g.Ref(asg.Str("launchTemplate.name"), launchTemplateT)
		}
		zones := map[string]bool{}
		for _, id := range asg.Strings("vpcZoneIdentifiers") {
			if s := g.Ref(id, subnetT); s != nil {
				zones[s.Str("availabilityZone")] = true
			}
		}
		hg.Zones = sortedTiers(zones)
		if lt := hg.LaunchTemplate; lt != nil {
			hg.Role = g.instanceRole(lt.Str("iamInstanceProfile.arn"), lt.Str("iamInstanceProfile.name"))
		}
		out = append(out, hg)
	}
	return out
}

// instanceRole is the role of an instance profile named by ARN or name.
func (g *Graph) instanceRole(refs ...string) *mocks.Resource {
	for _, ref := range refs {
		if profile := g.Ref(ref, profileT); profile != nil {
			return g.Ref(profile.Str("role"), roleT)
		}
	}
	return nil
}

// groupTiers maps each security group id to the tiers whose hosts or
// database use it.
func (g *Graph) groupTiers() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range g.OfType(instanceT, launchTemplateT, rdsT) {
		tier := g.Tier(r)
		if tier == "" {
			continue
		}
		for _, id := range securityGroups(r) {
			if out[id] == nil {
				out[id] = map[string]bool{}
			}
			out[id][tier] = true
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
