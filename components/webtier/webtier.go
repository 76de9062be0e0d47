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
	"github.com/foobar/webstack/components/monitoring/signals"
	"sort"

	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/components/webtier/nginxconf"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// configPath is nginx's configuration on the web servers.
const configPath = "/etc/nginx/nginx.conf"

// Platform is where a web server keeps its files and how its agent
// controls nginx: AWS on the hosts; the sandbox has its own. Everything
// else the agent does is the same on both.
type Platform struct {
	// Paths are nginx's; Paths.ServersFile is the file the agent writes.
	Paths nginxconf.Paths
	// Check, Reload and Stop nginx (gracefully).
	Check, Reload, Stop []string
	host.AgentPaths
}

// AWS is an Amazon Linux 2023 web server.
var AWS = func() Platform {
	paths := nginxconf.AWSPaths
	paths.ServersFile = "/etc/nginx/webstack/app-servers.conf"
	return Platform{
		Paths: paths, Check: []string{"nginx", "-t", "-q", "-c", configPath},
		Reload: []string{"systemctl", "reload", "nginx"}, Stop: []string{"systemctl", "stop", "nginx"},
		AgentPaths: host.AWSAgentPaths,
	}
}()

// Args configures the web tier.
type Args struct {
	// Group is the web servers' group: where, on what, how many.
	group.Args
	// VpcID is the VPC of the tier's own security group
	// (Tier.Connections; leave Args.SecurityGroupID empty). Required.
	VpcID pulumi.StringInput
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
		errs = append(errs, fmt.Errorf("webtier: need the application servers' group and valid ports (AppGroup %s, Port %d, AppPort %d)", inputs.Show("AppGroup", a.AppGroup), a.Port, a.AppPort))
	}
	if a.Bucket == nil || a.Region == "" || a.SiteName == "" {
		errs = append(errs, errors.New("webtier: Bucket, Region and SiteName are required"))
	}
	// What reaches the web servers' files (nginx.conf, the agent's
	// configuration) must be plain names.
	in := inputs.New("webtier")
	in.Account(a.Region, a.Partition, a.AccountID)
	in.Optional("SiteName", a.SiteName, inputs.HostName)
	in.Optional("AppGroup", a.AppGroup, inputs.GroupName)
	errs = append(errs, in.Err())
	errs = append(errs, group.HostsArgs{Args: a.Args, Agent: a.Agent, VpcID: a.VpcID, Port: a.Port}.Validate("webtier"))
	return errors.Join(errs...)
}

// Config is the web servers' nginx configuration: the application servers
// come from the file the agent maintains.
func Config(siteName string, port int, p Platform) nginxconf.Config {
	return nginxconf.WebServer(siteName, port, nil, p.Paths)
}

// AgentConfig is what the web servers' agents do: discover the application
// servers in service into nginx's servers file; complete the launch hook
// once nginx answers /healthz with them; mark the host unhealthy when nginx
// stops answering; and on termination wait until the load balancers no
// longer send requests, then stop nginx.
func AgentConfig(names group.Names, region string, port int, appGroup string, appPort int, t group.Timing, p Platform) hostagent.Config {
	return hostagent.Config{
		Region: region, Tier: "web", Group: names.Group, LaunchHook: names.LaunchHook, TerminateHook: names.TerminateHook,
		Interval: hostagent.Duration(t.Interval), StateDir: p.StateDir,
		Ready:  t.Ready(p.Applied, healthURL(p, port)),
		Health: t.Health(healthURL(p, port)),
		Drain:  t.Drain(port, nil, [][]string{p.Stop}),
		Discover: []hostagent.Discovery{{
			Name: "application servers", Group: appGroup, Port: appPort,
			Render: hostagent.RenderNginxServers, Path: p.Paths.ServersFile,
			Check: p.Check, Reload: p.Reload,
		}},
	}
}

// healthURL is nginx's own health check on a web server.
func healthURL(p Platform, port int) string {
	addr := p.Paths.ListenAddr
	if addr == "" {
		addr = "127.0.0.1"
	}
	return fmt.Sprintf("http://%s:%d%s", addr, port, nginxconf.HealthPath)
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
	names := group.NamesOf(ctx, name)
	b, err := Bundle(Config(args.SiteName, args.Port, AWS),
		AgentConfig(names, args.Region, args.Port, args.AppGroup, args.AppPort, group.AWSTiming, AWS),
		group.AgentKey(name, args.Agent.SHA256), args.Agent.SHA256)
	if err != nil {
		return nil, fmt.Errorf("webtier: %w", err)
	}
	ship := host.Shipping{Project: ctx.Project(), Stack: ctx.Stack(), Tier: signals.Web, Group: names.Group}
	if err := b.Ship(ship); err != nil {
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
		Args: args.Args, VpcID: args.VpcID, Port: args.Port,
		FirewallDescription: "webstack web servers (nginx): from the load balancers only",
		Tier:                "web", Packages: []string{"nginx"},
		Bucket: args.Bucket, Region: args.Region, Partition: args.Partition, AccountID: args.AccountID,
		Agent: args.Agent, Bundle: pulumi.String(script), Shipping: &ship,
		RoleDescription: "webstack web servers: read their bundle and releases; run their agent",
	})
	if err != nil {
		return nil, err
	}
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"group": pulumi.String(t.Group.Group)})
}
