package group_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// runHosts makes two groups of hosts (blue, green) in one bucket; shared
// hands them one signer instead of each making its own.
func runHosts(t *testing.T, shared bool) *mocks.Recorder {
	t.Helper()
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		b, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		var signer *host.Signer
		if shared {
			if signer, err = host.NewSigner(ctx, "shared-signing-key"); err != nil {
				return err
			}
		}
		for _, name := range []string{"blue", "green"} {
			ga := args()
			ga.UserData, ga.SecurityGroupID = cloudinit.UserData{}, nil
			if _, err := group.NewHosts(ctx, name, b, group.HostsArgs{
				Args: ga, VpcID: pulumi.String("vpc-1"), Port: 80, Tier: "web", Bucket: b, Region: "us-east-1", Partition: "aws", AccountID: "123456789012",
				Agent:  release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
				Bundle: pulumi.String("#!/bin/bash\necho " + name + "\n"), Signer: signer,
			}); err != nil {
				return err
			}
		}
		return nil
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// pinned is the public key a group's launch template pins.
func pinned(t *testing.T, rec *mocks.Recorder, name string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(rec.Named(ltT, name).Str("userData"))
	if err != nil {
		t.Fatal(err)
	}
	ud := string(raw)
	i := strings.Index(ud, "-----BEGIN PUBLIC KEY-----")
	j := strings.Index(ud, "-----END PUBLIC KEY-----")
	if i < 0 || j < i {
		t.Fatalf("%s pins no key:\n%s", name, ud)
	}
	return ud[i:j]
}

// Each group signs with its own key unless it is given one; given one,
// every group pins it and no other key is made.
func TestHostsSignWithTheirOwnOrAGivenKey(t *testing.T) {
	own := runHosts(t, false)
	if n := len(own.OfType("random:index/randomBytes:RandomBytes")); n != 2 || pinned(t, own, "blue") == pinned(t, own, "green") {
		t.Errorf("without a signer: %d keys; blue and green must pin keys of their own", n)
	}
	shared := runHosts(t, true)
	if n := len(shared.OfType("random:index/randomBytes:RandomBytes")); n != 1 || pinned(t, shared, "blue") != pinned(t, shared, "green") {
		t.Errorf("with a signer: %d keys; blue and green must pin the given one", n)
	}
}

// Inputs that reach the hosts' env file, cloud-config and role policy are
// refused when hostile, all at once, each naming its field.
func TestHostsArgsRefuseHostileInputs(t *testing.T) {
	a := group.HostsArgs{
		Tier: "web\nWEBSTACK_BUCKET=x", Packages: []string{"nginx", "nginx $(id)"},
		Region: "us-east-1'", Partition: "aws-evil", AccountID: "12345678901x",
	}
	err := a.Validate("web")
	if err == nil {
		t.Fatal("hostile inputs accepted")
	}
	for _, want := range []string{"Tier", "Packages[1]", "Region", "Partition", "AccountID", "an RPM package name", "a 12-digit AWS account id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "Packages[0]") {
		t.Errorf("nginx refused:\n%v", err)
	}
}
