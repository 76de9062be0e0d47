package engine

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// World is the fake cloud behind the fake providers: every live resource
// with its inputs and outputs, and the rules by which AWS refuses a
// request. Tests change it to drift the cloud away from the state (Mutate,
// PublishImages) and ask it what exists (Live) and what was generated
// (Passwords).
type World struct {
	cloud *mocks.Cloud

	mu   sync.Mutex
	live map[resource.URN]*Live
	// owners maps a physical name (a bucket, an object key, a role name)
	// to the resource that holds it: AWS refuses a second one.
	owners map[string]resource.URN
	// objects counts a bucket's live objects; written records that a
	// versioned bucket ever held one (its old versions remain).
	objects   map[string]int
	versioned map[string]bool
	written   map[string]bool
	snapshots []string
	passwords []string
	// created counts the resources created under each URN: a replacement
	// is a new resource, with a new id and, for a random resource, a new
	// value (as the real providers give it).
	created map[resource.URN]int
	// replaced holds, by id, the resources a create-before-delete
	// replacement took the URN from, until the engine deletes them.
	replaced map[string]*Live
}

// Live is a resource that exists in the fake cloud.
type Live struct {
	URN             resource.URN
	ID              string
	Inputs, Outputs resource.PropertyMap
}

// Type is the resource's type token.
func (l *Live) Type() string { return string(l.URN.Type()) }

// Set changes a string property as AWS would show it: in the outputs, and
// in the inputs a refresh reads back.
func (l *Live) Set(key, value string) {
	l.Inputs[resource.PropertyKey(key)] = resource.NewProperty(value)
	l.Outputs[resource.PropertyKey(key)] = resource.NewProperty(value)
}

// NewWorld returns an empty cloud in a region.
func NewWorld(opts mocks.CloudOptions) *World {
	return &World{
		cloud: mocks.NewCloud(opts), live: map[resource.URN]*Live{}, owners: map[string]resource.URN{},
		objects: map[string]int{}, versioned: map[string]bool{}, written: map[string]bool{}, created: map[resource.URN]int{},
		replaced: map[string]*Live{},
	}
}

// PublishImages makes AWS publish a newer Amazon Linux release.
func (w *World) PublishImages(release string) { w.cloud.PublishImages(release) }

// physicalNames are the names AWS keeps unique, per type: the keys of a
// resource's inputs that make them up.
var physicalNames = map[string][]string{
	"aws:s3/bucketV2:BucketV2":                {"bucket"},
	"aws:s3/bucketObjectv2:BucketObjectv2":    {"bucket", "key"},
	"aws:secretsmanager/secret:Secret":        {"name"},
	"aws:rds/instance:Instance":               {"identifier"},
	"aws:rds/subnetGroup:SubnetGroup":         {"name"},
	"aws:rds/parameterGroup:ParameterGroup":   {"name"},
	"aws:iam/role:Role":                       {"name"},
	"aws:iam/instanceProfile:InstanceProfile": {"name"},
	"aws:cloudwatch/logGroup:LogGroup":        {"name"},
	"aws:ec2/launchTemplate:LaunchTemplate":   {"name"},
	"aws:autoscaling/group:Group":             {"name"},
	"aws:ssm/parameter:Parameter":             {"name"},
	"aws:ec2/securityGroup:SecurityGroup":     {"vpcId", "name"},
}

// physicalName is a resource's unique name in the cloud, or "" if it has
// none (or lets AWS choose it).
func physicalName(typ string, inputs resource.PropertyMap) string {
	keys, ok := physicalNames[typ]
	if !ok {
		return ""
	}
	parts := []string{typ}
	for _, k := range keys {
		v := inputs[resource.PropertyKey(k)]
		if !v.IsString() || v.StringValue() == "" {
			return ""
		}
		parts = append(parts, v.StringValue())
	}
	return strings.Join(parts, " ")
}

func str(m resource.PropertyMap, k string) string {
	v := m[resource.PropertyKey(k)]
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func boolean(m resource.PropertyMap, k string) bool {
	v := m[resource.PropertyKey(k)]
	return v.IsBool() && v.BoolValue()
}

func (w *World) create(urn resource.URN, inputs resource.PropertyMap) (string, resource.PropertyMap, error) {
	typ := string(urn.Type())
	w.mu.Lock()
	defer w.mu.Unlock()
	name := physicalName(typ, inputs)
	if owner, taken := w.owners[name]; name != "" && taken {
		return "", nil, fmt.Errorf("%s already exists: it belongs to %s", strings.TrimPrefix(name, typ+" "), owner)
	}
	outputs := inputs.Copy()
	fabricate := urn.Name()
	if n := w.created[urn]; n > 0 {
		fabricate = fmt.Sprintf("%s-r%d", fabricate, n)
	}
	id := w.cloud.Create(typ, fabricate, outputs)
	for _, l := range w.live {
		if l.ID == id && l.Type() == typ {
			return "", nil, fmt.Errorf("fake cloud: %s would get the id %s of %s; give it another name", urn, id, l.URN)
		}
	}
	if name != "" {
		w.owners[name] = urn
	}
	switch typ {
	case "aws:s3/bucketObjectv2:BucketObjectv2":
		bucket := str(inputs, "bucket")
		w.objects[bucket]++
		w.written[bucket] = true
	case "aws:s3/bucketVersioningV2:BucketVersioningV2":
		if v, ok := inputs["versioningConfiguration"]; ok && v.IsObject() && str(v.ObjectValue(), "status") == "Enabled" {
			w.versioned[str(inputs, "bucket")] = true
		}
	case "random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString":
		w.passwords = append(w.passwords, str(outputs, "result"))
	case "random:index/randomBytes:RandomBytes":
		// A signing key's seed: a secret like a password, in both forms.
		w.passwords = append(w.passwords, str(outputs, "base64"), str(outputs, "hex"))
	}
	w.created[urn]++
	if old, ok := w.live[urn]; ok {
		w.replaced[old.ID] = old
	}
	w.live[urn] = &Live{URN: urn, ID: id, Inputs: inputs.Copy(), Outputs: outputs.Copy()}
	return id, outputs, nil
}

func (w *World) read(urn resource.URN, id string) (outputs, inputs resource.PropertyMap, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.live[urn]
	if !ok || l.ID != id {
		return nil, nil, false
	}
	return l.Outputs.Copy(), l.Inputs.Copy(), true
}

func (w *World) update(urn resource.URN, id string, inputs, outputs resource.PropertyMap) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.live[urn]
	if !ok || l.ID != id {
		return fmt.Errorf("%s (%s) does not exist", urn.Name(), id)
	}
	if l.Type() == "aws:s3/bucketObjectv2:BucketObjectv2" {
		w.written[str(inputs, "bucket")] = true
	}
	l.Inputs, l.Outputs = inputs.Copy(), outputs.Copy()
	return nil
}

// delete applies AWS's refusals: a database with deletion protection, a
// final snapshot without a name or with the name of an existing one, and a
// bucket that still holds objects (in a versioned bucket, deleted objects
// leave their versions behind) unless it is force-destroyed.
func (w *World) delete(urn resource.URN, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.live[urn]
	old := !ok || l.ID != id
	if old {
		if l, ok = w.replaced[id]; !ok {
			return nil // already gone
		}
	}
	in := l.Inputs
	switch l.Type() {
	case "aws:rds/instance:Instance":
		if boolean(in, "deletionProtection") {
			return fmt.Errorf("deleting RDS DB Instance (%s): InvalidParameterCombination: Cannot delete protected DB Instance, please disable deletion protection and try again.", id)
		}
		if !boolean(in, "skipFinalSnapshot") {
			snap := str(in, "finalSnapshotIdentifier")
			if snap == "" {
				return fmt.Errorf("deleting RDS DB Instance (%s): final_snapshot_identifier is required when skip_final_snapshot is false", id)
			}
			for _, s := range w.snapshots {
				if s == snap {
					return fmt.Errorf("deleting RDS DB Instance (%s): DBSnapshotAlreadyExists: Cannot create the snapshot because a snapshot with the identifier %s already exists.", id, snap)
				}
			}
			w.snapshots = append(w.snapshots, snap)
		}
	case "aws:s3/bucketV2:BucketV2":
		bucket := str(in, "bucket")
		if !boolean(in, "forceDestroy") && (w.objects[bucket] > 0 || (w.versioned[bucket] && w.written[bucket])) {
			return fmt.Errorf("deleting S3 Bucket (%s): BucketNotEmpty: The bucket you tried to delete is not empty. You must delete all versions in the bucket.", bucket)
		}
	case "aws:s3/bucketObjectv2:BucketObjectv2":
		w.objects[str(in, "bucket")]--
	}
	if name := physicalName(l.Type(), in); name != "" {
		delete(w.owners, name)
	}
	if old {
		delete(w.replaced, id)
	} else {
		delete(w.live, urn)
	}
	return nil
}

// Mutate changes the live resources for which match is true, as if
// something outside Pulumi had changed them (drift); a refresh then reads
// the change.
func (w *World) Mutate(match func(*Live) bool, change func(*Live)) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, urn := range sortedURNs(w.live) {
		if l := w.live[urn]; match(l) {
			change(l)
			n++
		}
	}
	return n
}

// Live returns copies of the live resources for which match is true (all,
// if match is nil), sorted by URN.
func (w *World) Live(match func(*Live) bool) []Live {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Live
	for _, urn := range sortedURNs(w.live) {
		l := w.live[urn]
		if match == nil || match(l) {
			out = append(out, Live{URN: l.URN, ID: l.ID, Inputs: l.Inputs.Copy(), Outputs: l.Outputs.Copy()})
		}
	}
	return out
}

// Passwords are every password, random string and random seed (in base64
// and hex) the random provider generated: none may appear in plain text
// anywhere.
func (w *World) Passwords() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.passwords...)
}

// Snapshots are the final snapshots deleted databases left.
func (w *World) Snapshots() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.snapshots...)
	sort.Strings(out)
	return out
}
