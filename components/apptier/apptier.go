// Package apptier provides the diagram's application servers: N hosts in
// the private subnets, spread over the zones, running the application as a
// hardened systemd service (package appconf renders its units).
//
// The release is a Linux executable: by default the application in app/,
// built by the program itself for the hosts' architecture (Build), or your
// own (FileArtifact). It goes into the stack's bucket under its SHA-256;
// each host downloads it, checks the checksum, switches to it and restarts
// the service one host at a time (host i waits i × StaggerSeconds), keeping the old
// release if the new one does not answer /healthz. The database password
// reaches the application at start, from Secrets Manager, through a
// root-only file and systemd's LoadCredential; it is never in user data.
package apptier

import (
	"errors"
	"fmt"

	"github.com/foobar/webstack/components/apptier/appconf"
	"github.com/foobar/webstack/components/apptier/release"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/store"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Paths on the application servers.
const (
	ServiceName  = "webstack-app"
	SecretsName  = "webstack-app-secrets"
	ExecPath     = "/opt/webstack/app/current/webstack-app"
	envFile      = "/etc/webstack/app.env"
	releaseEnv   = "/etc/webstack/release.env"
	secretEnv    = "/etc/webstack/app-secret.env"
	credential   = "/run/" + SecretsName + "/db.json"
	libexec      = "/usr/local/libexec/webstack"
	fetchScript  = libexec + "/fetch-db-secret"
	deployScript = libexec + "/app-deploy"
	// StaggerSeconds is how long host i waits (× i) before restarting on a
	// new release, so that one host restarts at a time.
	StaggerSeconds = "20"
)

// Args configures the application tier.
type Args struct {
	// Fleet is the application servers: how many, in which private
	// subnets, on what image and instance type, behind which security group.
	host.Fleet
	// Port the application listens on.
	Port int
	// Release is the executable to run (release.Build or release.FileArtifact). Required.
	Release release.Artifact
	// DatabaseSecretArn is the secret with the database's connection
	// details; the tier's role may read it and nothing else may.
	DatabaseSecretArn pulumi.StringInput
	// Bucket holds the bundle and the release; Region is the stack's.
	Bucket *store.Bucket
	Region string
}

// Tier is the application servers.
type Tier struct {
	pulumi.ResourceState
	host.Members
}

func (a Args) validate() error {
	errs := []error{a.Fleet.Validate("apptier")}
	if a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("apptier: Args.Port = %d: must be a TCP port", a.Port))
	}
	if a.Release.SHA256 == "" || a.Release.Path == "" {
		errs = append(errs, errors.New("apptier: Args.Release is required (release.Build or release.FileArtifact)"))
	}
	if a.Bucket == nil || a.DatabaseSecretArn == nil || a.Region == "" {
		errs = append(errs, errors.New("apptier: Bucket, DatabaseSecretArn and Region are required"))
	}
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
}

// Bundle is what every application server runs.
func Bundle(a BundleArgs) (host.Bundle, error) {
	unit, err := appconf.Unit(appconf.Service{
		Name: ServiceName, ExecPath: ExecPath, User: ServiceName, EnvFile: envFile,
		Credential: credential, SecretsUnit: SecretsName, ListenPort: a.Port,
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
	return host.Bundle{
		Name: "app",
		Files: []host.File{
			{Path: releaseEnv, Content: releaseEnvText, Owner: "root:root"},
			{Path: secretEnv, Content: secretEnvText, Owner: "root:root"},
			{Path: fetchScript, Content: appconf.SecretsScript(), Mode: "0755", Owner: "root:root"},
			{Path: deployScript, Content: deployScriptText, Mode: "0755", Owner: "root:root"},
			{Path: "/etc/systemd/system/" + SecretsName + ".service", Content: secretsUnit, Owner: "root:root"},
			{Path: "/etc/systemd/system/" + ServiceName + ".service", Content: unit, Owner: "root:root"},
		},
		Check:    []string{"bash -n " + deployScript, "bash -n " + fetchScript},
		Activate: []string{"systemctl daemon-reload", "systemctl enable " + ServiceName, deployScript},
	}, nil
}

// New creates the application tier.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Tier, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	t := &Tier{}
	if err := ctx.RegisterComponentResource("webstack:apptier:Tier", name, t, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(t)

	releaseKey := store.ReleaseKey(name, args.Release.SHA256)
	releaseObject, err := args.Bucket.PutFile(name+"-release", releaseKey, args.Release.Path)
	if err != nil {
		return nil, err
	}
	t.Role, err = host.NewRole(ctx, name+"-role", host.RoleArgs{
		Description: "webstack application servers: read their bundle, release and database secret",
		Policy: iampolicy.FromARNs(pulumi.StringArray{args.DatabaseSecretArn}, func(arns []string) []iampolicy.Statement {
			return []iampolicy.Statement{
				iampolicy.Allow("ReadBundleAndReleases", []string{"s3:GetObject"},
					args.Bucket.ObjectArn(store.BundleKey(name)), args.Bucket.ObjectArn(store.ReleaseKey(name, "*"))),
				iampolicy.Allow("ReadDatabaseSecret", []string{"secretsmanager:GetSecretValue"}, arns...),
			}
		}),
	}, child)
	if err != nil {
		return nil, err
	}
	t.Hosts, err = host.NewFleet(ctx, host.FleetArgs{
		Fleet: args.Fleet, Name: name, Tier: "app", Role: t.Role,
		Region: args.Region, Bucket: args.Bucket.Name, BundleKey: store.BundleKey(name),
		// Releases arrive in the bundle; only a new bootstrap replaces a host.
		ReplaceOnUserDataChange: true,
	}, child)
	if err != nil {
		return nil, err
	}

	t.Bundle = args.DatabaseSecretArn.ToStringOutput().ApplyT(func(arn string) (string, error) {
		b, err := Bundle(BundleArgs{Port: args.Port, Release: args.Release, ReleaseKey: releaseKey, DatabaseSecretArn: arn, Region: args.Region})
		if err != nil {
			return "", err
		}
		return b.Script()
	}).(pulumi.StringOutput)
	// The bundle names the release: publish it only once the release is up.
	if _, err := args.Bucket.PutText(name+"-bundle", store.BundleKey(name), t.Bundle, pulumi.DependsOn([]pulumi.Resource{releaseObject})); err != nil {
		return nil, err
	}

	outs := pulumi.Map{"releaseSha256": pulumi.String(args.Release.SHA256)}
	for _, h := range t.Hosts {
		outs[h.Name+"PrivateIp"] = h.PrivateIP
	}
	return t, ctx.RegisterResourceOutputs(t, outs)
}

// deployScriptText installs the release named in release.env and restarts
// the application on it, staggered across the tier, rolling back if the new
// release does not become healthy.
const deployScriptText = `#!/bin/bash
# app-deploy: switch this host to the release in ` + releaseEnv + `.
set -euo pipefail
. ` + host.HostEnvPath + `
. ` + releaseEnv + `
base=/opt/webstack/app
dir=$base/releases/$WEBSTACK_RELEASE_SHA256
install -d -m 0755 "$base/releases"
printf 'WEBSTACK_LISTEN=":%s"\nWEBSTACK_HOST_NAME="%s"\n' "$WEBSTACK_APP_PORT" "$WEBSTACK_HOST" >` + envFile + `.tmp
mv -f ` + envFile + `.tmp ` + envFile + `
if [ ! -x "$dir/webstack-app" ]; then
	tmp=$(mktemp -d "$base/releases/.download.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	aws s3 cp --only-show-errors "s3://$WEBSTACK_BUCKET/$WEBSTACK_RELEASE_KEY" "$tmp/webstack-app"
	echo "$WEBSTACK_RELEASE_SHA256  $tmp/webstack-app" | sha256sum --check --quiet --strict -
	chmod 0755 "$tmp" "$tmp/webstack-app"
	mv -T "$tmp" "$dir"
fi
previous=$(readlink "$base/current" || true)
if systemctl is-active --quiet ` + ServiceName + `; then
	# One host at a time: the others keep serving while this one restarts.
	sleep $((WEBSTACK_HOST_INDEX * ` + StaggerSeconds + `))
fi
ln -sfn "$dir" "$base/current.new"
mv -T "$base/current.new" "$base/current"
systemctl restart ` + ServiceName + `
for _ in $(seq 60); do
	if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$WEBSTACK_APP_PORT/healthz"; then
		ls -1dt "$base"/releases/*/ | tail -n +4 | grep -v "^$dir/$" | xargs -r rm -rf
		exit 0
	fi
	sleep 1
done
echo "app-deploy: release $WEBSTACK_RELEASE_SHA256 is not healthy" >&2
if [ -n "$previous" ] && [ "$previous" != "$dir" ]; then
	echo "app-deploy: rolling back to $previous" >&2
	ln -sfn "$previous" "$base/current.new"
	mv -T "$base/current.new" "$base/current"
	systemctl restart ` + ServiceName + `
fi
exit 1
`
