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
	"fmt"
	"github.com/foobar/webstack/stacks"
	"slices"
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
	// Partition is the AWS partition the mocked account is in (default
	// aws).
	Partition string
	// CallerRole makes getCallerIdentity answer a session of this role
	// (arn:P:sts::A:assumed-role/<CallerRole>/mock) instead of the IAM user
	// arn:P:iam::A:user/mock. StackOptions sets it to the stack's first
	// deploying operator, the principal that would run pulumi up.
	CallerRole string
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

	cloud *Cloud

	mu        sync.Mutex
	resources []*Resource
	urns      map[string]bool
	invokes   []Invoke
}

// New returns a recorder for a run with these options.
func New(opts Options) *Recorder {
	region := opts.Config["aws:region"]
	if region == "" {
		region = "us-east-1"
	}
	return &Recorder{
		opts:  opts,
		cloud: NewCloud(CloudOptions{Region: region, Zones: opts.Zones, Images: opts.Images, Partition: opts.Partition, CallerRole: opts.CallerRole}),
		urns:  map[string]bool{},
	}
}

// Run runs program under mocks and returns what it registered. The error is
// the program's.
func Run(program pulumi.RunFunc, opts Options) (*Recorder, error) {
	r := New(opts)
	// The stack's whole config travels with the context, as PULUMI_CONFIG
	// does under pulumi up, so that unknown keys are refused here too.
	withConfig := func(ctx *pulumi.Context) error { return program(stacks.WithConfig(ctx, opts.Config)) }
	err := pulumi.RunErr(withConfig, pulumi.WithMocks(opts.Project, opts.Stack, r), func(info *pulumi.RunInfo) {
		info.Config = opts.Config
		info.ConfigSecretKeys = opts.Secrets
		info.DryRun = opts.DryRun
	})
	return r, err
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
	r.mu.Lock()
	duplicate := r.urns[res.URN]
	r.urns[res.URN] = true
	r.mu.Unlock()
	if duplicate {
		// The engine refuses a second resource with the same URN; so do the
		// mocks, so that the fast tests catch it too.
		return "", nil, DuplicateURNError(res.URN)
	}

	state := args.Inputs.Copy()
	id := r.cloud.Create(res.Type, res.Name, state)
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

// DuplicateURNError is the engine's refusal of a second resource with a
// URN already registered.
func DuplicateURNError(urn string) error {
	return fmt.Errorf("Duplicate resource URN '%s'; try giving it a unique name", urn)
}

// Call answers the provider functions webstack uses (see Cloud.Invoke); any
// other is an error, so a test notices a new lookup.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	r.invokes = append(r.invokes, Invoke{Token: args.Token, Args: Plain(args.Args)})
	r.mu.Unlock()
	return r.cloud.Invoke(args.Token, args.Args)
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

// Tally lists how many resources of each type were registered, one
// "type count" line per type in type order: what a component creates, at a
// glance (the components' Examples print it). Given component types
// (webstack:webtier:Tier), it counts only those components and what they
// own, the resources whose URN names one of them as an ancestor.
func (r *Recorder) Tally(components ...string) string {
	counts := map[string]int{}
	for _, res := range r.Resources() {
		if len(components) == 0 || slices.ContainsFunc(components, func(c string) bool {
			return strings.Contains(res.URN, "::"+c+"::") || strings.Contains(res.URN, "::"+c+"$")
		}) {
			counts[res.Type]++
		}
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	var b strings.Builder
	for _, t := range types {
		fmt.Fprintf(&b, "%s %d\n", t, counts[t])
	}
	return b.String()
}
