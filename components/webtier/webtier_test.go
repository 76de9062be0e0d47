package webtier_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func run(t *testing.T, mutate func(*webtier.Args)) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run(func(ctx *pulumi.Context) error {
		b, err := store.New(ctx, "store", store.Args{Name: "example-bucket", Partition: "aws", Writers: []string{"arn:aws:iam::123456789012:role/deploy"}})
		if err != nil {
			return err
		}
		a := webtier.Args{
			Args: group.Args{
				Placements: []group.Placement{
					{Zone: "eu-west-1a", SubnetID: pulumi.String("subnet-a").ToStringOutput()},
					{Zone: "eu-west-1b", SubnetID: pulumi.String("subnet-b").ToStringOutput()},
				},
				Image:        host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
				InstanceType: "t4g.small",
				MinSize:      2, MaxSize: 2, DesiredCapacity: 2,
			},
			VpcID: pulumi.String("vpc-1"), Port: 80, SiteName: "www.example.org", AppGroup: "other-test-app", AppPort: 8080,
			Agent:  release.Artifact{Path: "/dev/null", SHA256: strings.Repeat("a", 64)},
			Bucket: b, Region: "eu-west-1", Partition: "aws", AccountID: "123456789012",
		}
		if mutate != nil {
			mutate(&a)
		}
		_, err = webtier.New(ctx, "web", a)
		return err
	}, mocks.Options{Project: "other", Stack: "test", Config: map[string]string{"aws:region": "eu-west-1"}})
}

func TestTierInAnotherProgram(t *testing.T) {
	rec, err := run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.OfType("aws:autoscaling/group:Group")); n != 1 {
		t.Errorf("%d groups", n)
	}
}

// Inputs that reach the web servers' files (nginx.conf's server_name, the
// agent's configuration) are refused, with the field named, when they
// carry shell or configuration syntax.
func TestTierRefusesInputsThatWouldRunOnAHost(t *testing.T) {
	for _, hostile := range []string{"x\nrm -rf /", "$(id)", "`id`", `www.example.org; return 200 "pwned"`, "a'b", "a b"} {
		for field, mutate := range map[string]func(*webtier.Args){
			"SiteName":  func(a *webtier.Args) { a.SiteName = hostile },
			"Region":    func(a *webtier.Args) { a.Region = hostile },
			"AppGroup":  func(a *webtier.Args) { a.AppGroup = hostile },
			"Partition": func(a *webtier.Args) { a.Partition = hostile },
			"AccountID": func(a *webtier.Args) { a.AccountID = hostile },
		} {
			rec, err := run(t, mutate)
			if err == nil {
				t.Errorf("%s = %q: accepted", field, hostile)
				continue
			}
			if !strings.Contains(err.Error(), "webtier: Args."+field+" = ") {
				t.Errorf("%s = %q: error does not name the field: %v", field, hostile, err)
			}
			for _, r := range rec.Resources() {
				if strings.HasPrefix(r.Name, "web") && r.Type != "webstack:webtier:Tier" {
					t.Errorf("%s = %q: %s %s registered before the error", field, hostile, r.Type, r.Name)
				}
			}
		}
	}
}
