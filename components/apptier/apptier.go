// Package apptier provides the diagram's application servers: an Auto
// Scaling group of hosts in the private subnets of every zone (package
// group), running the application as a hardened systemd service (package
// appconf renders its units) beside the webstack agent.
//
// The release is a Linux executable: by default the application in app/,
// built by the program itself for the hosts' architecture (release.Build),
// or your own (release.FileArtifact). It goes into the stack's bucket under
// its SHA-256. The tier is immutable: a new release, or any change of the
// application's files, is a new bundle under a key of its own, named in a
// new launch template, so it rolls through the group (new hosts ready
// before old ones go; the web servers discover them) instead of restarting
// running hosts under their requests. The database password reaches the
// application at start, from Secrets Manager, through a root-only file and
// systemd's LoadCredential; it is never in user data. The default
// application verifies the database's certificate against the RDS CA
// bundle embedded in the release (internal/rdsca, pinned by SHA-256), so
// the hosts need no CA file of their own.
package apptier

import (
	"errors"
	"fmt"
	"github.com/foobar/webstack/components/monitoring/signals"

	"github.com/foobar/webstack/components/apptier/appconf"
	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/group"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/inputs"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/store"
	"github.com/foobar/webstack/internal/hostagent"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Paths on the application servers.
const (
	ServiceName  = "webstack-app"
	SecretsName  = "webstack-app-secrets"
	ExecPath     = "/opt/webstack/" + ServiceName + "/current/" + ServiceName
	envFile      = "/etc/webstack/app.env"
	releaseEnv   = "/etc/webstack/release.env"
	secretEnv    = "/etc/webstack/app-secret.env"
	credential   = "/run/" + SecretsName + "/db.json"
	libexec      = "/usr/local/libexec/webstack"
	fetchScript  = libexec + "/fetch-db-secret"
	deployScript = libexec + "/app-deploy"
)

// Args configures the application tier.
type Args struct {
	// Group is the application servers' group: where, on what, how many.
	group.Args
	// VpcID is the VPC of the tier's own security group
	// (Tier.Connections; leave Args.SecurityGroupID empty). Required.
	VpcID pulumi.StringInput
	// Port the application listens on.
	Port int
	// Release is the executable to run (release.Build or
	// release.FileArtifact), Agent the webstack agent's. Required.
	Release, Agent release.Artifact
	// DatabaseSecretArn is the secret with the database's connection
	// details; the tier's role may read it and nothing else may.
	DatabaseSecretArn pulumi.StringInput
	// Bucket holds the bundles and the releases; Region, Partition and
	// AccountID name ARNs.
	Bucket                       *store.Bucket
	Region, Partition, AccountID string
}

// Tier is the application servers.
type Tier struct {
	pulumi.ResourceState
	*group.Hosts
	// Port the application listens on.
	Port int
}

func (a Args) validate() error {
	var errs []error
	if a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("apptier: Args.Port = %d: must be a TCP port", a.Port))
	}
	if a.Release.SHA256 == "" || a.Release.Path == "" {
		errs = append(errs, errors.New("apptier: Args.Release is required (release.Build or release.FileArtifact)"))
	}
	if a.Bucket == nil || a.DatabaseSecretArn == nil || a.Region == "" {
		errs = append(errs, errors.New("apptier: Bucket, DatabaseSecretArn and Region are required"))
	}
	// Region, Partition and AccountID reach the hosts' env files and the
	// agent's configuration: they must be what they claim to be.
	in := inputs.New("apptier")
	in.Account(a.Region, a.Partition, a.AccountID)
	errs = append(errs, in.Err())
	errs = append(errs, group.HostsArgs{Args: a.Args, Agent: a.Agent, VpcID: a.VpcID, Port: a.Port}.Validate("apptier"))
	return errors.Join(errs...)
}

// BundleArgs is what the application servers' bundle depends on.
type BundleArgs struct {
	Port    int
	Release release.Artifact
	// ReleaseKey is where the release lives in the bucket.
	ReleaseKey        string
	DatabaseSecretArn string
	Region            string
	// Agent is the agent's configuration, AgentKey and AgentSHA256 its
	// release.
	Agent                 hostagent.Config
	AgentKey, AgentSHA256 string
}

// AgentConfig is what the application servers' agents do: complete the
// launch hook once the application answers /healthz, mark the host
// unhealthy when it stops answering, and on termination wait until the
// web servers no longer send requests, then stop the application.
func AgentConfig(names group.Names, region string, port int, t group.Timing, p Platform) hostagent.Config {
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	return hostagent.Config{
		Region: region, Tier: "app", Group: names.Group, LaunchHook: names.LaunchHook, TerminateHook: names.TerminateHook,
		Interval: hostagent.Duration(t.Interval), StateDir: p.StateDir,
		Ready:  t.Ready(p.Applied, health),
		Health: t.Health(health),
		Drain:  t.Drain(port, nil, [][]string{p.Stop}),
	}
}

// Platform is how an application server's agent stops the application:
// AWS on the hosts; the sandbox has its own.
type Platform struct {
	Stop []string
	host.AgentPaths
}

// AWS is an Amazon Linux 2023 application server.
var AWS = Platform{Stop: []string{"systemctl", "stop", ServiceName}, AgentPaths: host.AWSAgentPaths}

// Bundle is what every application server runs.
func Bundle(a BundleArgs) (host.Bundle, error) {
	unit, err := appconf.Unit(appconf.Service{
		Name: ServiceName, ExecPath: ExecPath, User: ServiceName, EnvFile: envFile,
		Credential: credential, SecretsUnit: SecretsName, ListenPort: a.Port,
		LogFile: signals.AppLog,
	})
	if err != nil {
		return host.Bundle{}, err
	}
	secretsUnit, err := appconf.SecretsUnit(appconf.SecretsFetch{
		Unit: SecretsName, SecretARNEnvFile: secretEnv, Output: credential, Script: fetchScript,
	})
	if err != nil {
		return host.Bundle{}, err
	}
	secretEnvText, err := appconf.EnvFile(map[string]string{"WEBSTACK_DB_SECRET_ARN": a.DatabaseSecretArn, "AWS_REGION": a.Region})
	if err != nil {
		return host.Bundle{}, err
	}
	releaseEnvText, err := appconf.EnvFile(map[string]string{
		"WEBSTACK_RELEASE_KEY": a.ReleaseKey, "WEBSTACK_RELEASE_SHA256": a.Release.SHA256,
		"WEBSTACK_APP_PORT": fmt.Sprint(a.Port),
	})
	if err != nil {
		return host.Bundle{}, err
	}
	agent, err := a.Agent.JSON()
	if err != nil {
		return host.Bundle{}, err
	}
	files := []host.File{
		{Path: releaseEnv, Content: releaseEnvText, Owner: "root:root"},
		{Path: secretEnv, Content: secretEnvText, Owner: "root:root"},
		{Path: fetchScript, Content: appconf.SecretsScript(), Mode: "0755", Owner: "root:root"},
		{Path: deployScript, Content: deployScriptText, Mode: "0755", Owner: "root:root"},
		{Path: "/etc/systemd/system/" + SecretsName + ".service", Content: secretsUnit, Owner: "root:root"},
		{Path: "/etc/systemd/system/" + ServiceName + ".service", Content: unit, Owner: "root:root"},
	}
	return host.Bundle{
		Name:     "app",
		Files:    append(files, host.AgentFiles(agent)...),
		Check:    []string{"bash -n " + deployScript, "bash -n " + fetchScript},
		Activate: append([]string{"systemctl daemon-reload", "systemctl enable " + ServiceName, deployScript}, host.AgentActivate(a.AgentKey, a.AgentSHA256)...),
		Verify:   []string{fmt.Sprintf("%s http://127.0.0.1:%d/healthz", host.WaitHealthy, a.Port)},
	}, nil
}

// New creates the application tier.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Tier, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	t := &Tier{Port: args.Port}
	if err := ctx.RegisterComponentResource("webstack:apptier:Tier", name, t, opts...); err != nil {
		return nil, err
	}
	names := group.NamesOf(ctx, name)
	releaseKey := store.ReleaseKey(name, args.Release.SHA256)
	// Stacks deployed before the tier owned its release have the object
	// under the bucket: the alias keeps it the same resource (a new URN
	// would create the object, then delete the old one, which has the same
	// key, and with it the release).
	releaseObject, err := args.Bucket.PutFile(name+"-release", releaseKey, args.Release.Path, pulumi.Parent(t),
		pulumi.Aliases([]pulumi.Alias{{Parent: args.Bucket}}))
	if err != nil {
		return nil, err
	}
	ship := host.Shipping{Project: ctx.Project(), Stack: ctx.Stack(), Tier: signals.App, Group: names.Group}
	bundle := args.DatabaseSecretArn.ToStringOutput().ApplyT(func(arn string) (string, error) {
		b, err := Bundle(BundleArgs{
			Port: args.Port, Release: args.Release, ReleaseKey: releaseKey, DatabaseSecretArn: arn, Region: args.Region,
			Agent:    AgentConfig(names, args.Region, args.Port, group.AWSTiming, AWS),
			AgentKey: group.AgentKey(name, args.Agent.SHA256), AgentSHA256: args.Agent.SHA256,
		})
		if err != nil {
			return "", err
		}
		if err := b.Ship(ship); err != nil {
			return "", err
		}
		return b.Script()
	}).(pulumi.StringOutput)
	t.Hosts, err = group.NewHosts(ctx, name, t, group.HostsArgs{
		Args: args.Args, VpcID: args.VpcID, Port: args.Port,
		FirewallDescription: "webstack application servers: from the web servers only",
		Tier:                "app", Shipping: &ship,
		Bucket: args.Bucket, Region: args.Region, Partition: args.Partition, AccountID: args.AccountID,
		Agent: args.Agent, Bundle: bundle, BundleDependsOn: []pulumi.Resource{releaseObject},
		// A new release or unit rolls through the group.
		Immutable:       true,
		RoleDescription: "webstack application servers: read their bundle, releases and database secret; run their agent",
		Policy: iampolicy.FromARNs(pulumi.StringArray{args.DatabaseSecretArn}, func(arns []string) []iampolicy.Statement {
			return []iampolicy.Statement{iampolicy.Allow("ReadDatabaseSecret", []string{"secretsmanager:GetSecretValue"}, arns...)}
		}),
	})
	if err != nil {
		return nil, err
	}
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{
		"group": pulumi.String(t.Group.Group), "releaseSha256": pulumi.String(args.Release.SHA256),
	})
}

// deployScriptText installs the release named in release.env and
// (re)starts the application on it. The tier is immutable: a host runs the
// release it was launched with, so this runs once per host.
const deployScriptText = `#!/bin/bash
# app-deploy: run this host's release (` + releaseEnv + `).
set -euo pipefail
. ` + host.HostEnvPath + `
. ` + releaseEnv + `
` + host.InstallRelease + ` ` + ServiceName + ` "$WEBSTACK_RELEASE_KEY" "$WEBSTACK_RELEASE_SHA256"
printf 'WEBSTACK_LISTEN=":%s"\nWEBSTACK_HOST_NAME="%s"\n' "$WEBSTACK_APP_PORT" "$(` + host.InstanceIDCommand + `)" >` + envFile + `.tmp
mv -f ` + envFile + `.tmp ` + envFile + `
systemctl restart ` + ServiceName + `
`
