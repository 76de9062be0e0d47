package host

import (
	"fmt"
	"strings"

	"github.com/foobar/webstack/components/cloudinit"
)

// BootstrapArgs describes a host to its user data.
type BootstrapArgs struct {
	// Host is the host's name (lb1, web2); Tier its tier (lb, web, app).
	Host, Tier string
	// Index is the host's position in its tier (0-based); bundles use it to
	// stagger restarts across the tier.
	Index int
	// Region, Bucket and BundleKey locate the host's bundle.
	Region, Bucket, BundleKey string
	// Packages to install on first boot (haproxy, nginx, ...).
	Packages []string
}

// Paths on every host.
const (
	HostEnvPath = "/etc/webstack/host.env"
	SyncPath    = "/usr/local/sbin/webstack-sync"
	StateDir    = "/var/lib/webstack"
)

// Bootstrap is a host's user data: its packages and the webstack-sync agent,
// which applies the host's bundle at boot and whenever it changes. User data
// holds nothing that changes in routine operation (no configuration file,
// no release, no secret), so those changes never replace a host.
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

// HostEnv is /etc/webstack/host.env: who the host is and where its bundle is.
func HostEnv(a BootstrapArgs) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"WEBSTACK_HOST", a.Host},
		{"WEBSTACK_TIER", a.Tier},
		{"WEBSTACK_HOST_INDEX", fmt.Sprint(a.Index)},
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
