package host_test

import (
	"slices"
	"testing"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const instanceT = "aws:ec2/instance:Instance"

func runHost(t *testing.T, img host.Image, replace bool, ud cloudinit.UserData) *mocks.Resource {
	t.Helper()
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		role, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "test"})
		if err != nil {
			return err
		}
		_, err = host.New(ctx, "web1", host.Args{
			Image: img, InstanceType: "t4g.small", Zone: "us-east-1a",
			SubnetID: pulumi.String("subnet-1"), SecurityGroupIDs: pulumi.StringArray{pulumi.String("sg-1")},
			InstanceProfile: role.ProfileName, UserData: ud, ReplaceOnUserDataChange: replace,
			VolumeTags: map[string]string{"Environment": "dev"},
		})
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	insts := rec.OfType(instanceT)
	if len(insts) != 1 {
		t.Fatalf("%d instances", len(insts))
	}
	return insts[0]
}

func TestHostIsHardened(t *testing.T) {
	i := runHost(t, host.Image{ID: "ami-1", Architecture: "arm64"}, true, cloudinit.UserData{Text: "#cloud-config\n{}\n", Size: 17})
	for path, want := range map[string]any{
		"metadataOptions.httpTokens":              "required",
		"metadataOptions.httpPutResponseHopLimit": 1.0,
		"metadataOptions.httpEndpoint":            "enabled",
		"rootBlockDevice.encrypted":               true,
		"rootBlockDevice.volumeType":              "gp3",
		"rootBlockDevice.tags.Environment":        "dev",
		"associatePublicIpAddress":                false,
		"userDataReplaceOnChange":                 true,
		"userData":                                "#cloud-config\n{}\n",
	} {
		if got := mocks.Reveal(i.In(path)); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if i.In("keyName") != nil {
		t.Errorf("key pair set: %v", i.In("keyName"))
	}
	if slices.Contains(i.IgnoreChanges, "ami") {
		t.Error("a pinned image must not be ignored: changing the pin is how images roll")
	}
}

func TestLatestImageNeverReplacesARunningHost(t *testing.T) {
	i := runHost(t, host.Image{ID: "ami-1", Architecture: "arm64", Latest: true}, false, cloudinit.UserData{Base64: "H4sI", Size: 4})
	if !slices.Contains(i.IgnoreChanges, "ami") {
		t.Errorf("ignoreChanges = %v, want ami", i.IgnoreChanges)
	}
	if i.Str("userDataBase64") != "H4sI" || i.In("userData") != nil || i.Bool("userDataReplaceOnChange") {
		t.Errorf("compressed user data not passed as userDataBase64: %v", i.Inputs)
	}
}

func TestRoleHasSessionManagerAndNoMore(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := host.NewRole(ctx, "web-role", host.RoleArgs{Description: "web servers"})
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	att := rec.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
	if len(att) != 1 || att[0].Str("policyArn") != host.SSMManagedInstanceCore {
		t.Errorf("attachments = %v", att)
	}
	if n := len(rec.OfType("aws:iam/rolePolicy:RolePolicy")); n != 0 {
		t.Errorf("%d inline policies without being asked", n)
	}
	if n := len(rec.OfType("aws:iam/instanceProfile:InstanceProfile")); n != 1 {
		t.Errorf("%d instance profiles", n)
	}
}

func TestHostRefusesMissingArgs(t *testing.T) {
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		_, err := host.New(ctx, "web1", host.Args{InstanceType: "t4g.small"})
		return err
	}, mocks.Options{Project: "webstack", Stack: "dev"})
	if err == nil || rec.Count() != 0 {
		t.Errorf("err=%v, %d resources", err, rec.Count())
	}
}
