package infra_test

import (
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/foobar/webstack/internal/plan"
)

// Types the tests ask about.
const (
	providerT = "pulumi:providers:aws"
	vpcT      = "aws:ec2/vpc:Vpc"
	subnetT   = "aws:ec2/subnet:Subnet"
	natT      = "aws:ec2/natGateway:NatGateway"
	rtT       = "aws:ec2/routeTable:RouteTable"
	routeT    = "aws:ec2/route:Route"
	sgT       = "aws:ec2/securityGroup:SecurityGroup"
	ingressT  = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressT   = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
)

var stackNames = []string{"dev", "staging", "prod"}

// images the mocked region knows besides the latest Amazon Linux ones.
var knownImages = map[string]string{
	"ami-0aaaaaaaaaaaaaaa1": "x86_64",
	"ami-0bbbbbbbbbbbbbbb2": "arm64",
}

// stackOptions reads a stack file from the repository, as the CLI would,
// with some keys overridden (raw values, as on the CLI).
func stackOptions(t testing.TB, stack string, override map[string]string) mocks.Options {
	t.Helper()
	opts, err := mocks.StackOptions("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range override {
		if v == "" {
			delete(opts.Config, k)
			continue
		}
		opts.Config[k] = v
	}
	opts.Images = knownImages
	return opts
}

// runStack runs the whole program for a stack under mocks.
func runStack(t testing.TB, stack string, override map[string]string) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run(infra.Program, stackOptions(t, stack, override))
}

func mustRunStack(t testing.TB, stack string) *mocks.Recorder {
	t.Helper()
	rec, err := runStack(t, stack, nil)
	if err != nil {
		t.Fatalf("stack %s: %v", stack, err)
	}
	return rec
}

// More types the tests ask about.
const (
	instanceT  = "aws:ec2/instance:Instance"
	eipT       = "aws:ec2/eip:Eip"
	objectT    = "aws:s3/bucketObjectv2:BucketObjectv2"
	rolePolT   = "aws:iam/rolePolicy:RolePolicy"
	roleT      = "aws:iam/role:Role"
	profileT   = "aws:iam/instanceProfile:InstanceProfile"
	rdsT       = "aws:rds/instance:Instance"
	passwordT  = "random:index/randomPassword:RandomPassword"
	secretT    = "aws:secretsmanager/secret:Secret"
	attachT    = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	recordT    = "aws:route53/record:Record"
	subnetType = "aws:ec2/subnet:Subnet"
	asgT       = "aws:autoscaling/group:Group"
	ltT        = "aws:ec2/launchTemplate:LaunchTemplate"
)

// bundle reads the files of a bundle the program uploaded.
func bundle(t testing.TB, rec *mocks.Recorder, object string) host.Bundle {
	t.Helper()
	obj := rec.Named(objectT, object)
	if obj == nil {
		t.Fatalf("no bucket object %s", object)
	}
	b, err := host.ParseBundle(obj.Str("content"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// file returns one file of a bundle.
func file(t testing.TB, b host.Bundle, path string) string {
	t.Helper()
	f, ok := b.File(path)
	if !ok {
		t.Fatalf("bundle has no %s; it has %v", path, b.Paths())
	}
	return f.Content
}

// exports runs the program for a stack and awaits every output.
func exports(t testing.TB, opts mocks.Options) (map[string]any, map[string]bool) {
	t.Helper()
	_, out, err := plan.Record(opts)
	if err != nil {
		t.Fatal(err)
	}
	return out.Values, out.Secret
}
