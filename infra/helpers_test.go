package infra_test

import (
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
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
