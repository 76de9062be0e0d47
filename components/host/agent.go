package host

import (
	"fmt"
)

// The agent every host of a group runs beside its service: webstack-agent
// (agent/, package internal/hostagent), built for the hosts' architecture
// like the application, delivered through the bucket and run by systemd.
const (
	// AgentName names the agent's program, release directory and unit.
	AgentName = "webstack-agent"
	// AgentConfigPath is the agent's configuration (hostagent.ConfigPath).
	AgentConfigPath = "/etc/webstack/agent.json"
	// InstallRelease installs a release from the bucket (InstallReleaseScript).
	InstallRelease = "/usr/local/libexec/webstack/install-release"
	// WaitHealthy URL waits until URL answers 200 (up to a minute): a
	// bundle's verification of its host's service.
	WaitHealthy = "/usr/local/libexec/webstack/wait-healthy"
)

// InstanceIDCommand prints this instance's id (IMDSv2), for scripts.
const InstanceIDCommand = `curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)" http://169.254.169.254/latest/meta-data/instance-id`

// AgentPaths is where a host's agent keeps its state and finds the mark of
// an applied bundle (hostagent.Config.StateDir and Ready.Marker).
type AgentPaths struct {
	StateDir, Applied string
}

// AWSAgentPaths are an AWS host's.
var AWSAgentPaths = AgentPaths{StateDir: StateDir + "/agent", Applied: AppliedMarker}

// ReleasePath is where install-release puts the current release of a
// program: /opt/webstack/<name>/current/<name>.
func ReleasePath(name string) string {
	return fmt.Sprintf("/opt/webstack/%s/current/%s", name, name)
}

// InstallCommand is the bundle command that installs a release of a
// program (the application, the agent) from the bucket.
func InstallCommand(name, key, sha256 string) string {
	return fmt.Sprintf("%s %s %s %s", InstallRelease, shellQuote(name), shellQuote(key), shellQuote(sha256))
}

// AgentFiles are the files a bundle installs for the agent: the
// install-release script, the agent's configuration and its unit.
// AgentActivate (re)starts it.
func AgentFiles(config string) []File {
	return []File{
		{Path: InstallRelease, Content: InstallReleaseScript, Mode: "0755", Owner: "root:root"},
		{Path: WaitHealthy, Content: waitHealthyScript, Mode: "0755", Owner: "root:root"},
		{Path: AgentConfigPath, Content: config, Owner: "root:root"},
		{Path: "/etc/systemd/system/" + AgentName + ".service", Content: agentUnit, Owner: "root:root"},
	}
}

// AgentActivate are the bundle commands that install the agent's release
// and (re)start it; the agent only watches and reports, so restarting it
// costs the host's service nothing.
func AgentActivate(key, sha256 string) []string {
	return []string{
		InstallCommand(AgentName, key, sha256),
		"systemctl daemon-reload",
		"systemctl enable " + AgentName,
		"systemctl restart " + AgentName,
	}
}

// InstallReleaseScript is install-release NAME KEY SHA256: it downloads
// s3://<the host's bucket>/KEY, checks it against SHA256, keeps it as
// /opt/webstack/NAME/releases/SHA256/NAME and points
// /opt/webstack/NAME/current at it. Run again with the same release, it
// only checks that the release is current.
const InstallReleaseScript = `#!/bin/bash
# install-release NAME KEY SHA256: installs a release from the stack's bucket.
set -euo pipefail
. ` + HostEnvPath + `
name=$1 key=$2 sum=$3
if ! [[ $name =~ ^[a-z][a-z0-9-]*$ && $sum =~ ^[0-9a-f]{64}$ && $key =~ ^[A-Za-z0-9/._-]+$ ]]; then
	echo "install-release: usage: install-release NAME KEY SHA256" >&2
	exit 2
fi
base=/opt/webstack/$name
dir=$base/releases/$sum
install -d -m 0755 "$base/releases"
if [ ! -x "$dir/$name" ]; then
	tmp=$(mktemp -d "$base/releases/.download.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	aws s3 cp --only-show-errors --region "$AWS_REGION" "s3://$WEBSTACK_BUCKET/$key" "$tmp/$name"
	echo "$sum  $tmp/$name" | sha256sum --check --quiet --strict -
	chmod 0755 "$tmp" "$tmp/$name"
	mv -T "$tmp" "$dir"
	echo "install-release: $name $sum installed"
fi
ln -sfn "$dir" "$base/current.new"
mv -T "$base/current.new" "$base/current"
# Keep the three newest releases.
ls -1dt "$base"/releases/*/ | tail -n +4 | { grep -v "^$dir/$" || true; } | xargs -r rm -rf
`

const waitHealthyScript = `#!/bin/bash
# wait-healthy URL: waits until URL answers 200, for up to a minute.
for _ in $(seq 60); do
	if curl -fsS -m 2 -o /dev/null "$1"; then
		exit 0
	fi
	sleep 1
done
echo "wait-healthy: $1 did not answer 200 within a minute" >&2
exit 1
`

// agentUnit runs the agent as root (it writes and checks the services'
// configurations and reloads them), with the rest of the system read-only.
const agentUnit = `[Unit]
Description=webstack-agent: readiness, discovery, health and drain of this host
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=` + "/opt/webstack/" + AgentName + "/current/" + AgentName + ` -config ` + AgentConfigPath + `
Restart=always
RestartSec=2
ProtectSystem=full
ReadWritePaths=-/etc/haproxy -/etc/nginx -/etc/keepalived -` + StateDir + `
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
`
