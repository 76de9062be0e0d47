package loadbalancer_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/loadbalancer"
	"github.com/foobar/webstack/components/network"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// args builds the cluster as another program would: its own subnets, group
// and web servers, with TLS and a DNS record.
func args(b *store.Bucket) loadbalancer.Args {
	return loadbalancer.Args{
		Subnets: []network.Subnet{
			{ID: pulumi.String("subnet-a").ToStringOutput(), Zone: "eu-west-1a"},
			{ID: pulumi.String("subnet-b").ToStringOutput(), Zone: "eu-west-1b"},
		},
		SecurityGroupID: pulumi.String("sg-lb"),
		Image:           host.Image{ID: "ami-0123456789abcdef0", Architecture: "arm64"},
		InstanceType:    "t4g.small",
		Bucket:          b,
		Region:          "eu-west-1",
		AccountID:       "123456789012",
		WebServers: []host.Endpoint{
			{Name: "edge1", PrivateIP: pulumi.String("10.1.2.3").ToStringOutput()},
			{Name: "edge2", PrivateIP: pulumi.String("10.1.3.4").ToStringOutput()},
		},
		WebPort:           8080,
		SiteName:          "www.example.org",
		CertificateSecret: "site/pem",
		HostedZoneID:      "Z0123456789ABCDEFGHIJ",
	}
}

func run(t *testing.T, mutate func(*loadbalancer.Args)) (*mocks.Recorder, error) {
	t.Helper()
	return mocks.Run(func(ctx *pulumi.Context) error {
		b, err := store.New(ctx, "store", store.Args{Name: "example-bucket"})
		if err != nil {
			return err
		}
		a := args(b)
		if mutate != nil {
			mutate(&a)
		}
		_, err = loadbalancer.New(ctx, "edge", a)
		return err
	}, mocks.Options{Project: "other", Stack: "test", Config: map[string]string{"aws:region": "eu-west-1"}})
}

func TestClusterInAnotherProgramWithTLSAndDNS(t *testing.T) {
	rec, err := run(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := rec.OfType("aws:ec2/instance:Instance")
	if len(nodes) != 2 || nodes[0].Str("subnetId") != "subnet-a" || nodes[1].Str("subnetId") != "subnet-b" {
		t.Fatalf("nodes = %v", nodes)
	}
	// Nodes and their bundles are named after the cluster, so two clusters
	// coexist in one program and one bucket.
	if nodes[0].Name != "edge1" || nodes[1].Name != "edge2" {
		t.Errorf("nodes are named %s and %s; want edge1 and edge2", nodes[0].Name, nodes[1].Name)
	}
	for _, n := range []string{"edge1", "edge2"} {
		if o := rec.Named("aws:s3/bucketObjectv2:BucketObjectv2", "edge-"+n+"-bundle"); o == nil || o.Str("key") != "bundles/"+n+".sh" {
			t.Errorf("bundle of %s: %v", n, o)
		}
	}
	eip := rec.Named("aws:ec2/eip:Eip", "edge-eip")
	record := rec.Named("aws:route53/record:Record", "edge-www")
	if record == nil || record.Str("name") != "www.example.org" || record.Str("type") != "A" ||
		strings.Join(record.Strings("records"), ",") != eip.Outputs["publicIp"] {
		t.Errorf("DNS record = %v (Elastic IP %v)", record, eip.Outputs["publicIp"])
	}

	b, err := host.ParseBundle(rec.Named("aws:s3/bucketObjectv2:BucketObjectv2", "edge-edge1-bundle").Str("content"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := b.File("/etc/haproxy/haproxy.cfg")
	for _, want := range []string{
		"bind :443 ssl crt /etc/haproxy/certs/site.pem",
		"http-request redirect scheme https code 301 unless { ssl_fc }",
		"server edge1 10.1.2.3:8080", "server edge2 10.1.3.4:8080",
		"hdr Host www.example.org",
	} {
		if !strings.Contains(cfg.Content, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	env, _ := b.File("/etc/webstack/lb.env")
	if !strings.Contains(env.Content, "WEBSTACK_CERT_SECRET_ID=site/pem") || !strings.Contains(env.Content, "AWS_REGION=eu-west-1") {
		t.Errorf("lb.env = %s", env.Content)
	}
	var certReadable bool
	for _, p := range rec.OfType("aws:iam/rolePolicy:RolePolicy") {
		if strings.Contains(p.Str("policy"), `"arn:aws:secretsmanager:eu-west-1:123456789012:secret:site/pem-??????"`) {
			certReadable = true
		}
	}
	if !certReadable {
		t.Error("the role cannot read the certificate secret by its name's ARN pattern")
	}
	if rec.Named("webstack:loadbalancer:Cluster", "edge") == nil {
		t.Error("no component resource")
	}
}

func TestClusterRefusesBadArgsBeforeRegisteringAnything(t *testing.T) {
	for name, mutate := range map[string]func(*loadbalancer.Args){
		"one zone":       func(a *loadbalancer.Args) { a.Subnets[1].Zone = "eu-west-1a" },
		"no web servers": func(a *loadbalancer.Args) { a.WebServers = nil },
		"bad web port":   func(a *loadbalancer.Args) { a.WebPort = 0 },
		"no site name":   func(a *loadbalancer.Args) { a.SiteName = "" },
	} {
		rec, err := run(t, mutate)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		for _, r := range rec.Resources() {
			if strings.HasPrefix(r.Name, "edge") {
				t.Errorf("%s: %s %s registered before the error", name, r.Type, r.Name)
			}
		}
	}
}
