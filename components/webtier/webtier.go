// Package webtier provides the diagram's web servers: an Auto Scaling group
// of nginx hosts in the private subnets of every zone (package group).
// nginx answers the load balancers' health checks itself, serves /static/
// from disk and passes everything else to the application servers over
// keep-alive connections (package nginxconf renders its configuration).
//
// The application servers are not written into the configuration: each
// web server's agent (internal/hostagent) discovers the application
// group's hosts in service, writes them into a file nginx.conf includes,
// checks it with nginx -t and reloads nginx gracefully, so application
// servers come and go without a deploy. The rest of the configuration
// reaches the hosts as a bundle (package host), checked with nginx -t,
// reloaded without dropping connections, and verified: a bundle after
// which nginx stops answering is rolled back on that host.
package webtier

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Paths on the web servers.
const (
	configPath  = "/etc/nginx/nginx.conf"
	serversFile = "/etc/nginx/webstack/app-servers.conf"
)

// Args configures the web tier.
type Args struct {
	// Group is the web servers' group: where, on what, how many.
	group.Args
	// Port nginx listens on (the load balancers' backend port).
	Port int
	// SiteName is the site's host name (server_name).
	SiteName string
	// AppGroup is the application servers' group (group.Names.Group),
	// whose hosts in service the web servers discover; AppPort their port.
	AppGroup string
	AppPort  int
	// Agent is the webstack agent's release. Required.
	Agent release.Artifact
	// Bucket delivers the bundle; Region, Partition and AccountID name ARNs.
	Bucket                       *store.Bucket
	Region, Partition, AccountID string
	// AgentInterval is how often the agents look (default 2s).
	AgentInterval time.Duration
}

// Tier is the web servers.
type Tier struct {
	pulumi.ResourceState
	*group.Hosts
	// Port nginx listens on.
	Port int
}

func (a Args) validate() error {
	var errs []error
	if a.AppGroup == "" || a.AppPort < 1 || a.AppPort > 65535 || a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("webtier: need the application servers' group and valid ports (AppGroup %q, Port %d, AppPort %d)", a.AppGroup, a.Port, a.AppPort))
	}
	if a.Bucket == nil || a.Region == "" || a.SiteName == "" {
		errs = append(errs, errors.New("webtier: Bucket, Region and SiteName are required"))
	}
	errs = append(errs, group.HostsArgs{Args: a.Args, Agent: a.Agent}.Validate("webtier"))
	return errors.Join(errs...)
}

// Config is the web servers' nginx configuration: the application servers
// come from the file the agent maintains.
func Config(siteName string, port int, p nginxconf.Paths) nginxconf.Config {
	c := nginxconf.WebServer(siteName, port, nil, p)
	c.ServersFile = serversFile
	return c
}

// AgentConfig is what the web servers' agents do: discover the application
// servers in service into nginx's servers file; complete the launch hook
// once nginx answers /healthz with them; mark the host unhealthy when nginx
// stops answering; and on termination wait until the load balancers no
// longer send requests, then stop nginx.
func AgentConfig(names group.Names, region string, port int, appGroup string, appPort int, interval time.Duration) hostagent.Config {
	health := fmt.Sprintf("http://127.0.0.1:%d%s", port, nginxconf.HealthPath)
	return hostagent.Config{
		Region: region, Tier: "web", Group: names.Group, LaunchHook: names.LaunchHook, TerminateHook: names.TerminateHook,
		Interval: hostagent.Duration(interval), StateDir: host.StateDir + "/agent",
		Ready:  hostagent.Ready{Marker: host.AppliedMarker, URL: health, Timeout: hostagent.Duration(group.LaunchHookTimeout * time.Second / 2)},
		Health: hostagent.Health{URL: health, Failures: 3, Timeout: hostagent.Duration(2 * time.Second)},
		Drain: hostagent.Drain{
			Port: port, Quiet: hostagent.Duration(3 * interval), Timeout: hostagent.Duration(120 * time.Second),
			After: [][]string{{"systemctl", "stop", "nginx"}},
		},
		Discover: []hostagent.Discovery{{
			Name: "application servers", Group: appGroup, Port: appPort,
			Render: hostagent.RenderNginxServers, Path: serversFile,
			Check:  []string{"nginx", "-t", "-q", "-c", configPath},
			Reload: []string{"systemctl", "reload", "nginx"},
		}},
	}
}

// Bundle is what every web server runs: nginx's configuration and static
// files, a first (empty) servers file, and the agent.
func Bundle(cfg nginxconf.Config, agent hostagent.Config, agentKey, agentSHA256 string) (host.Bundle, error) {
	conf, err := nginxconf.Render(cfg)
	if err != nil {
		return host.Bundle{}, err
	}
	noServers, err := nginxconf.RenderServers(nil)
	if err != nil {
		return host.Bundle{}, err
	}
	agentJSON, err := agent.JSON()
	if err != nil {
		return host.Bundle{}, err
	}
	files := []host.File{
		{Path: configPath, Content: conf, Owner: "root:root"},
		// The agent rewrites it as application servers come and go.
		{Path: cfg.ServersFile, Content: noServers, Owner: "root:root", IfMissing: true},
	}
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
		Files:    append(files, host.AgentFiles(agentJSON)...),
		Check:    []string{"nginx -t -q -c " + configPath},
		Activate: append([]string{"systemctl enable nginx", "systemctl reload-or-restart nginx"}, host.AgentActivate(agentKey, agentSHA256)...),
		Verify:   []string{fmt.Sprintf("%s http://127.0.0.1:%d%s", host.WaitHealthy, cfg.ListenPort, nginxconf.HealthPath)},
	}, nil
}

// New creates the web tier.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Tier, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	if args.AgentInterval == 0 {
		args.AgentInterval = 2 * time.Second
	}
	names := group.NamesOf(ctx, name)
	b, err := Bundle(Config(args.SiteName, args.Port, nginxconf.AWSPaths),
		AgentConfig(names, args.Region, args.Port, args.AppGroup, args.AppPort, args.AgentInterval),
		group.AgentKey(name, args.Agent.SHA256), args.Agent.SHA256)
	if err != nil {
		return nil, fmt.Errorf("webtier: %w", err)
	}
	script, err := b.Script()
	if err != nil {
		return nil, fmt.Errorf("webtier: %w", err)
	}
	t := &Tier{Port: args.Port}
	if err := ctx.RegisterComponentResource("webstack:webtier:Tier", name, t, opts...); err != nil {
		return nil, err
	}
	t.Hosts, err = group.NewHosts(ctx, name, t, group.HostsArgs{
		Args: args.Args, Tier: "web", Packages: []string{"nginx"},
		Bucket: args.Bucket, Region: args.Region, Partition: args.Partition, AccountID: args.AccountID,
		Agent: args.Agent, Bundle: pulumi.String(script),
		RoleDescription: "webstack web servers: read their bundle and releases; run their agent",
	})
	if err != nil {
		return nil, err
	}
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"group": pulumi.String(t.Group.Group)})
}
