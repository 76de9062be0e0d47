package host

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/cloudinit"
)

// BootstrapArgs describes a group's hosts to their user data.
type BootstrapArgs struct {
	// Group is the hosts' Auto Scaling group; Tier their tier (lb, web,
	// app). A host learns its own name (its instance id) at boot.
	Group, Tier string
	// Region, Bucket and BundleKey locate the hosts' bundle.
	Region, Bucket, BundleKey string
	// Packages to install on first boot (haproxy, nginx, ...).
	Packages []string
}

// Paths on every host.
const (
	HostEnvPath = "/etc/webstack/host.env"
	SyncPath    = "/usr/local/sbin/webstack-sync"
	StateDir    = "/var/lib/webstack"
	// AppliedMarker is the bundle webstack-sync last applied: it exists
	// once the host's first bundle is applied (the agent's readiness).
	AppliedMarker = StateDir + "/applied"
)

// Bootstrap is a group's user data: its packages and webstack-sync, which
// applies the hosts' bundle at boot and whenever it changes. User data
// holds no configuration file, no release and no secret.
func Bootstrap(a BootstrapArgs) cloudinit.Config {
	return cloudinit.Config{
		Packages: a.Packages,
		WriteFiles: []cloudinit.File{
			{Path: HostEnvPath, Permissions: "0644", Content: HostEnv(a)},
			{Path: SyncPath, Permissions: "0755", Content: SyncScript},
			{Path: "/etc/systemd/system/webstack-sync.service", Permissions: "0644", Content: syncService},
			{Path: "/etc/systemd/system/webstack-sync.timer", Permissions: "0644", Content: syncTimer},
		},
		RunCmd: [][]string{
			{"systemctl", "daemon-reload"},
			{"systemctl", "enable", "--now", "webstack-sync.timer"},
		},
	}
}

// HostEnv is /etc/webstack/host.env: which group the host belongs to and
// where its bundle is.
func HostEnv(a BootstrapArgs) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"WEBSTACK_GROUP", a.Group},
		{"WEBSTACK_TIER", a.Tier},
		{"WEBSTACK_BUCKET", a.Bucket},
		{"WEBSTACK_BUNDLE_KEY", a.BundleKey},
		{"AWS_REGION", a.Region},
		{"AWS_DEFAULT_REGION", a.Region},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// SyncScript is the webstack-sync agent.
const SyncScript = `#!/bin/bash
# webstack-sync: keeps this host on its bundle. The bundle is a script in the
# stack's S3 bucket that installs this host's files, checks them with the
# real programs and reloads the services. It is applied at boot and whenever
# it changes; one that fails leaves the previous files in place and is tried
# again on the next run.
set -euo pipefail
. "${WEBSTACK_HOST_ENV:-/etc/webstack/host.env}"
state=${WEBSTACK_STATE:-/var/lib/webstack}
install -d -m 0700 "$state"
exec 9>"$state/lock"
flock -n 9 || exit 0
new=$(mktemp "$state/bundle.XXXXXX")
trap 'rm -f "$new"' EXIT
if ! aws s3 cp --only-show-errors --region "$AWS_REGION" "s3://$WEBSTACK_BUCKET/$WEBSTACK_BUNDLE_KEY" "$new"; then
	echo "webstack-sync: s3://$WEBSTACK_BUCKET/$WEBSTACK_BUNDLE_KEY is not readable yet; will retry" >&2
	exit 1
fi
if [ -f "$state/applied" ] && cmp -s "$new" "$state/applied"; then
	exit 0
fi
echo "webstack-sync: applying bundle $(sha256sum "$new" | cut -c1-12)"
WEBSTACK_STATE=$state bash "$new"
mv -f "$new" "$state/applied"
echo "webstack-sync: bundle applied"
`

const syncService = `[Unit]
Description=webstack-sync: apply this host's webstack bundle
Wants=network-online.target
After=network-online.target cloud-final.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/webstack-sync
TimeoutStartSec=15min
`

const syncTimer = `[Unit]
Description=Apply this host's webstack bundle at boot and when it changes

[Timer]
OnActiveSec=0
OnUnitInactiveSec=30s
RandomizedDelaySec=5s
AccuracySec=1s

[Install]
WantedBy=timers.target
`

// shellQuote quotes a value for a shell or systemd environment file.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
