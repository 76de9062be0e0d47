// Package webtier provides the diagram's web servers: N nginx hosts in the
// private subnets, spread over the zones. nginx answers the load
// balancers' health checks itself, serves /static/ from disk and passes
// everything else to the application servers over keep-alive connections
// (package nginxconf renders its configuration). The configuration reaches
// the hosts as one bundle (package host), checked with nginx -t and
// reloaded without dropping connections, so a change of the application
// servers never replaces a web server.
package webtier

import (
	"errors"
	"fmt"
	"sort"

	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// configPath is nginx's configuration on the web servers.
const configPath = "/etc/nginx/nginx.conf"

// Args configures the web tier.
type Args struct {
	// Fleet is the web servers: how many, in which private subnets, on
	// what image and instance type, behind which security group.
	host.Fleet
	// Port nginx listens on (the load balancers' backend port).
	Port int
	// SiteName is the site's host name (server_name).
	SiteName string
	// AppServers are the application servers, AppPort their port.
	AppServers []host.Endpoint
	AppPort    int
	// Bucket delivers the bundle; Region is the stack's region.
	Bucket *store.Bucket
	Region string
}

// Tier is the web servers.
type Tier struct {
	pulumi.ResourceState
	host.Members
}

func (a Args) validate() error {
	errs := []error{a.Fleet.Validate("webtier")}
	if len(a.AppServers) == 0 || a.AppPort < 1 || a.AppPort > 65535 || a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("webtier: need application servers and valid ports (Port %d, AppPort %d)", a.Port, a.AppPort))
	}
	if a.Bucket == nil || a.Region == "" || a.SiteName == "" {
		errs = append(errs, errors.New("webtier: Bucket, Region and SiteName are required"))
	}
	return errors.Join(errs...)
}

// Bundle is what every web server runs.
func Bundle(cfg nginxconf.Config) (host.Bundle, error) {
	conf, err := nginxconf.Render(cfg)
	if err != nil {
		return host.Bundle{}, err
	}
	files := []host.File{{Path: configPath, Content: conf, Owner: "root:root"}}
	content := nginxconf.Files(cfg.ServerName)
	paths := make([]string, 0, len(content))
	for p := range content {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		files = append(files, host.File{Path: cfg.WebRoot + "/" + p, Content: content[p], Owner: "root:root"})
	}
	return host.Bundle{
		Name:     "web",
		Files:    files,
		Check:    []string{"nginx -t -q -c " + configPath},
		Activate: []string{"systemctl enable nginx", "systemctl reload-or-restart nginx"},
	}, nil
}

// New creates the web tier.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Tier, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	t := &Tier{}
	if err := ctx.RegisterComponentResource("webstack:webtier:Tier", name, t, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(t)
	var err error
	t.Role, err = host.NewRole(ctx, name+"-role", host.RoleArgs{
		Description: "webstack web servers: read their bundle",
		Policy: pulumi.String(iampolicy.Document(
			iampolicy.Allow("ReadBundle", []string{"s3:GetObject"}, args.Bucket.ObjectArn(store.BundleKey(name))))),
	}, child)
	if err != nil {
		return nil, err
	}
	t.Hosts, err = host.NewFleet(ctx, host.FleetArgs{
		Fleet: args.Fleet, Name: name, Tier: "web", Role: t.Role,
		Region: args.Region, Bucket: args.Bucket.Name, BundleKey: store.BundleKey(name), Packages: []string{"nginx"},
		// User data is only the bootstrap; configuration arrives as the
		// bundle. A new bootstrap replaces the host.
		ReplaceOnUserDataChange: true,
	}, child)
	if err != nil {
		return nil, err
	}

	t.Bundle = host.PrivateIPs(args.AppServers).ApplyT(func(ips []string) (string, error) {
		apps := make([]nginxconf.Upstream, len(ips))
		for i, ip := range ips {
			apps[i] = nginxconf.Upstream{Name: args.AppServers[i].Name, Address: ip, Port: args.AppPort}
		}
		b, err := Bundle(nginxconf.WebServer(args.SiteName, args.Port, apps, nginxconf.AWSPaths))
		if err != nil {
			return "", err
		}
		return b.Script()
	}).(pulumi.StringOutput)
	if _, err := args.Bucket.PutText(name+"-bundle", store.BundleKey(name), t.Bundle); err != nil {
		return nil, err
	}

	outs := pulumi.Map{}
	for _, h := range t.Hosts {
		outs[h.Name+"PrivateIp"] = h.PrivateIP
	}
	return t, ctx.RegisterResourceOutputs(t, outs)
}
