// Package store provides the stack's own S3 bucket: private (public access
// blocked, bucket-owner-enforced ownership, TLS-only policy), encrypted,
// versioned (so a bad release or bundle can be rolled back), with old
// versions expiring. The hosts read their bundles and releases from it
// through the VPC's S3 gateway endpoint; each tier's role may read only its
// own keys. Only the writers (the deploying principal) may write or delete
// objects: the bucket policy denies it to every other principal.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// BucketName is the stack's bucket name: known before anything is created
// (so hosts' user data can name it) and unique per account and region.
func BucketName(project, stack, accountID, region string) string {
	name := strings.ToLower(fmt.Sprintf("%s-%s-%s-%s", project, stack, accountID, region))
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimRight(name[:54], "-.") + "-" + hex.EncodeToString(sum[:])[:8]
}

// Args configures the bucket.
type Args struct {
	// Name of the bucket (BucketName). Required.
	Name string
	// Partition of the account (aws, aws-cn, aws-us-gov) names the
	// bucket's ARN. Required.
	Partition string
	// NoncurrentDays keeps replaced object versions this long (default 30).
	NoncurrentDays int
	// ObjectProvider, if set, is the provider of the bucket's objects. S3
	// objects take at most MaxObjectTags tags, and a provider's default
	// tags reach them (tags_all): give them a provider whose default tags
	// leave room for the Name tag the bucket sets, whatever tags the rest
	// of the program carries. Nil: the bucket's provider.
	ObjectProvider pulumi.ProviderResource
	// ForceDestroy lets pulumi destroy delete a bucket that still has
	// objects (for short-lived stacks).
	ForceDestroy bool
	// Writers are the IAM principals that may write and delete objects
	// (inputs.PrincipalPattern: a role's ARN with its path, a user's, an
	// account's root, ArnLike's * and ? allowed, or a role session, which
	// stands for its role), usually the deploying principal. The bucket
	// policy denies WriteActions to every other principal, of this
	// account or another. Required.
	Writers []string
}

// WriteActions are the object writes only Args.Writers may make: new
// content, deletion, and the object settings that could hide or pin it.
var WriteActions = []string{
	"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
	"s3:PutObjectAcl", "s3:PutObjectVersionAcl",
	"s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging",
	"s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:BypassGovernanceRetention",
	"s3:RestoreObject", "s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
}

// Policy is the bucket's policy: no request without TLS, and no object
// write but by the writers (a role session: its role, any path). Nothing denies the writers, nor anyone, the
// bucket's own settings (this policy included): a pulumi up by a new
// deploying principal replaces the policy before it writes any object.
func Policy(bucketArn string, writers []string) string {
	return iampolicy.Document(
		iampolicy.Statement{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: map[string]any{"AWS": "*"},
			Action:    []string{"s3:*"},
			Resource:  []string{bucketArn, bucketArn + "/*"},
			Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
		},
		iampolicy.Statement{
			Sid:       "DenyObjectWritesButByWriters",
			Effect:    "Deny",
			Principal: map[string]any{"AWS": "*"},
			Action:    WriteActions,
			Resource:  []string{bucketArn + "/*"},
			// A negated operator with several values is true when the
			// principal matches none; a request without the key
			// (anonymous) is denied too.
			Condition: map[string]map[string]any{"ArnNotLike": {"aws:PrincipalArn": inputs.PrincipalArnsOf(writers)}},
		},
	)
}

// MaxObjectTags is how many tags S3 accepts on an object (the provider's
// default tags included); PutObject and PutFile set one (Name).
const MaxObjectTags = 10

// Bucket is the stack's bucket.
type Bucket struct {
	pulumi.ResourceState

	// Name is the bucket's name; Arn its ARN.
	Name string
	Arn  string
	// ready is the bucket's configuration: objects depend on it.
	ready []pulumi.Resource
	// objectOpts are the objects' options (their provider).
	objectOpts []pulumi.ResourceOption
	ctx        *pulumi.Context
}

// New creates the bucket.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Bucket, error) {
	var errs []error
	if args.Name == "" {
		errs = append(errs, fmt.Errorf("store: Args.Name is required"))
	}
	if args.Partition == "" {
		errs = append(errs, fmt.Errorf("store: Args.Partition is required (aws, aws-cn or aws-us-gov: it names the bucket's ARN)"))
	}
	if len(args.Writers) == 0 {
		errs = append(errs, errors.New("store: Args.Writers is required: the deploying principal, or its own objects would be denied to it"))
	}
	for i, w := range args.Writers {
		if !inputs.PrincipalPattern.Match(w) {
			errs = append(errs, fmt.Errorf("store: Args.Writers[%d] = %s: must be %s", i, inputs.Show("Writers", w), inputs.PrincipalPattern.Allowed()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if args.NoncurrentDays == 0 {
		args.NoncurrentDays = 30
	}
	b := &Bucket{Name: args.Name, Arn: iampolicy.ARN(args.Partition, "s3", "", "", args.Name), ctx: ctx}
	if args.ObjectProvider != nil {
		b.objectOpts = []pulumi.ResourceOption{pulumi.Provider(args.ObjectProvider)}
	}
	if err := ctx.RegisterComponentResource("webstack:store:Bucket", name, b, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(b)
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		Bucket:       pulumi.String(args.Name),
		ForceDestroy: pulumi.Bool(args.ForceDestroy),
		Tags:         names.Tags(ctx, name),
	}, child)
	if err != nil {
		return nil, err
	}
	on := pulumi.Parent(b)
	pab, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, on)
	if err != nil {
		return nil, err
	}
	own, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, on)
	if err != nil {
		return nil, err
	}
	enc, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, on)
	if err != nil {
		return nil, err
	}
	ver, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, on)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:                          pulumi.String("expire-old-versions"),
			Status:                      pulumi.String("Enabled"),
			Filter:                      &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(args.NoncurrentDays)},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(1),
			},
		}},
	}, pulumi.Parent(b), pulumi.DependsOn([]pulumi.Resource{ver})); err != nil {
		return nil, err
	}
	policy, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: pulumi.String(Policy(b.Arn, args.Writers)),
	}, pulumi.Parent(b), pulumi.DependsOn([]pulumi.Resource{pab}))
	if err != nil {
		return nil, err
	}
	b.ready = []pulumi.Resource{bucket, pab, own, enc, ver, policy}
	return b, ctx.RegisterResourceOutputs(b, pulumi.Map{"bucket": pulumi.String(b.Name)})
}

// BundleKey is where the bundle of a group of hosts lives, which its hosts
// apply in place whenever it changes: bundles/<name>/current.sh, name
// being the group's component's (lb, web). Keys derive from names, so two
// components of one kind share a bucket. (Fixed hosts of earlier versions
// read bundles/<name>.sh: a new key keeps them on their own bundle while
// a stack migrates to groups.)
func BundleKey(name string) string { return BundlePrefix(name) + "current.sh" }

// ImmutableBundleKey is where the bundle of a group whose hosts never
// change in place lives (the application tier): addressed by its content,
// bundles/<name>/<16 hex digits of its SHA-256>.sh, so that a new bundle
// is a new key, named in a new launch template.
func ImmutableBundleKey(name, script string) string {
	sum := sha256.Sum256([]byte(script))
	return BundlePrefix(name) + hex.EncodeToString(sum[:])[:16] + ".sh"
}

// BundlePrefix is the folder of a group's bundles: bundles/<name>/.
func BundlePrefix(name string) string { return "bundles/" + name + "/" }

// ReleaseKey is where a release of an application tier lives, addressed by
// its content: releases/<tier>/<sha256>.
func ReleaseKey(tier, sha256 string) string { return "releases/" + tier + "/" + sha256 }

// ObjectArn is the ARN of a key (or a key pattern such as bundles/lb*).
func (b *Bucket) ObjectArn(key string) string { return b.Arn + "/" + key }

// PutText stores a text object (a bundle) at key.
func (b *Bucket) PutText(name, key string, content pulumi.StringInput, opts ...pulumi.ResourceOption) (*s3.BucketObjectv2, error) {
	return b.PutObject(name, pulumi.String(key), content, opts...)
}

// PutObject stores a text object at a key that may still be computed (a
// content-addressed bundle).
func (b *Bucket) PutObject(name string, key, content pulumi.StringInput, opts ...pulumi.ResourceOption) (*s3.BucketObjectv2, error) {
	return s3.NewBucketObjectv2(b.ctx, name, &s3.BucketObjectv2Args{
		Bucket:            pulumi.String(b.Name),
		Key:               key,
		Content:           content,
		ContentType:       pulumi.String("text/plain; charset=utf-8"),
		ChecksumAlgorithm: pulumi.String("SHA256"),
		Tags:              names.Tags(b.ctx, name),
	}, b.objectOptions(opts)...)
}

// PutFile stores a local file (a release) at key.
func (b *Bucket) PutFile(name, key, path string, opts ...pulumi.ResourceOption) (*s3.BucketObjectv2, error) {
	return s3.NewBucketObjectv2(b.ctx, name, &s3.BucketObjectv2Args{
		Bucket:            pulumi.String(b.Name),
		Key:               pulumi.String(key),
		Source:            pulumi.NewFileAsset(path),
		ContentType:       pulumi.String("application/octet-stream"),
		ChecksumAlgorithm: pulumi.String("SHA256"),
		Tags:              names.Tags(b.ctx, name),
	}, b.objectOptions(opts)...)
}

// objectOptions are an object's options: child of the bucket, after its
// configuration, with the objects' provider, then the caller's.
func (b *Bucket) objectOptions(opts []pulumi.ResourceOption) []pulumi.ResourceOption {
	o := append([]pulumi.ResourceOption{pulumi.Parent(b), pulumi.DependsOn(b.ready)}, b.objectOpts...)
	return append(o, opts...)
}
