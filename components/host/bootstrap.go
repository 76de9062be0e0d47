package host

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/foobar/webstack/components/cloudinit"
	"github.com/foobar/webstack/components/inputs"
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
	// PublicKey is the PEM public key every bundle must be signed with
	// (Signer.PublicKey); user data pins it at SigningKeyPath.
	PublicKey string
}

// Validate checks the arguments that reach the hosts' env file and
// cloud-config (group, tier, region, bucket, bundle key, packages)
// through package inputs: all problems at once, each naming its field.
func (a BootstrapArgs) Validate() error {
	in := inputs.New("host")
	in.Check("Group", a.Group, inputs.GroupName)
	in.Check("Tier", a.Tier, inputs.GroupName)
	in.Check("Region", a.Region, inputs.Region)
	in.Check("Bucket", a.Bucket, inputs.BucketName)
	in.Check("BundleKey", a.BundleKey, inputs.ObjectKey)
	for i, p := range a.Packages {
		in.Check("Packages["+strconv.Itoa(i)+"]", p, inputs.PackageName)
	}
	return in.Err()
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

// Bootstrap is a group's user data: its packages, the public key its
// bundles are signed with, and webstack-sync, which applies the hosts'
// bundle at boot and whenever it changes, once its signature verifies.
// User data holds no configuration file, no release and no secret.
func Bootstrap(a BootstrapArgs) cloudinit.Config {
	return cloudinit.Config{
		Packages: a.Packages,
		WriteFiles: []cloudinit.File{
			{Path: HostEnvPath, Permissions: "0644", Content: HostEnv(a)},
			{Path: SigningKeyPath, Permissions: "0644", Content: a.PublicKey},
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
		// The packages webstack-sync makes sure are installed before it
		// applies a bundle (cloud-init installs them once, without retry).
		{"WEBSTACK_PACKAGES", strings.Join(a.Packages, " ")},
		{"AWS_REGION", a.Region},
		{"AWS_DEFAULT_REGION", a.Region},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// SyncScript is the webstack-sync agent. It reads the envelope Seal writes
// (the tags and paths are this package's constants) and runs nothing of a
// bundle that does not verify.
var SyncScript = strings.NewReplacer(
	"@SIGNATURE_TAG@", SignatureTag,
	"@HEADER@", EnvelopeHeader,
	"@KEY_TAG@", KeyTag,
	"@SERIAL_TAG@", SerialTag,
	"@SUM_TAG@", SumTag,
	"@SIGNING_KEY@", SigningKeyPath,
	"@HOST_ENV@", HostEnvPath,
	"@STATE@", StateDir,
	"@APPLIED@", strings.TrimPrefix(AppliedMarker, StateDir+"/"),
).Replace(syncTemplate)

const syncTemplate = `#!/bin/bash
# webstack-sync: keeps this host on its bundle. The bundle is a script in the
# stack's S3 bucket that installs this host's files, checks them with the
# real programs and reloads the services. It is applied at boot and whenever
# it changes; one that fails leaves the previous files in place and is tried
# again on the next run.
#
# A bundle runs only if it is signed with the key pinned in this host's user
# data (in @SIGNING_KEY@), names this host's bundle key
# and carries a serial not lower than the applied bundle's (an older signed
# bundle is a rollback). Anything else is refused, logged and not run: the
# host keeps its previous bundle.
#
# Before any bundle runs, the packages this host needs (WEBSTACK_PACKAGES)
# are installed if missing: cloud-init tries once at first boot, and an
# install that failed (no route to the repositories yet) is retried here on
# every run until it succeeds. Installed packages are left alone.
set -euo pipefail
# shellcheck source=/dev/null
. "${WEBSTACK_HOST_ENV:-@HOST_ENV@}"
state=${WEBSTACK_STATE:-@STATE@}
signing_key=${WEBSTACK_SIGNING_KEY:-@SIGNING_KEY@}
applied=$state/@APPLIED@
install -d -m 0700 "$state"
exec 9>"$state/lock"
flock -n 9 || exit 0
read -r -a packages <<<"${WEBSTACK_PACKAGES:-}"
missing=()
for p in "${packages[@]}"; do
	rpm -q --quiet "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "webstack-sync: installing missing packages: ${missing[*]}"
	if ! dnf install -y "${missing[@]}"; then
		echo "webstack-sync: dnf install ${missing[*]} failed; no bundle applied, will retry" >&2
		exit 1
	fi
fi
work=$(mktemp -d "$state/incoming.XXXXXX")
trap 'rm -rf "$work"' EXIT
new=$work/envelope
src="s3://$WEBSTACK_BUCKET/$WEBSTACK_BUNDLE_KEY"
if ! aws s3 cp --only-show-errors --region "$AWS_REGION" "$src" "$new"; then
	echo "webstack-sync: $src is not readable yet; will retry" >&2
	exit 1
fi
if [ -f "$applied" ] && cmp -s "$new" "$applied"; then
	exit 0
fi
refuse() {
	echo "webstack-sync: REFUSED $src: $1; nothing of it ran, the host keeps its previous bundle" >&2
	exit 1
}
# The first line is the signature of everything after it.
IFS= read -r first <"$new" || true
case $first in
'@SIGNATURE_TAG@'*) ;;
*) refuse "not signed (its first line is not @SIGNATURE_TAG@<signature>)" ;;
esac
sig=${first#'@SIGNATURE_TAG@'}
[[ $sig =~ ^[A-Za-z0-9+/]{86}==$ ]] || refuse "malformed signature"
printf '%s' "$sig" | base64 -d >"$work/signature" 2>/dev/null || refuse "malformed signature"
tail -n +2 "$new" >"$work/bundle"
if ! openssl pkeyutl -verify -pubin -inkey "$signing_key" -rawin -in "$work/bundle" -sigfile "$work/signature" >"$work/openssl.log" 2>&1; then
	refuse "its signature does not verify with $signing_key ($(head -n 1 "$work/openssl.log"))"
fi
# Verified: now its header may be believed.
mapfile -t -n 4 header <"$work/bundle"
if [ ${#header[@]} -ne 4 ] || [ "${header[0]}" != '@HEADER@' ]; then
	refuse "malformed header (want @HEADER@)"
fi
[ "${header[1]}" = "@KEY_TAG@$WEBSTACK_BUNDLE_KEY" ] || refuse "it is the bundle of ${header[1]#'@KEY_TAG@'}, not of this host's $WEBSTACK_BUNDLE_KEY"
serial=${header[2]#'@SERIAL_TAG@'}
[[ ${header[2]} == '@SERIAL_TAG@'* && $serial =~ ^(0|[1-9][0-9]{0,17})$ ]] || refuse "malformed serial"
sum=$(tail -n +5 "$work/bundle" | sha256sum | cut -d' ' -f1)
[ "${header[3]}" = "@SUM_TAG@$sum" ] || refuse "the script does not match its @SUM_TAG@line"
# The applied bundle's serial is the lowest this host accepts.
if [ -f "$applied" ]; then
	last=$(sed -n '4{s/^@SERIAL_TAG@//p;q}' "$applied")
	if ((serial < last)); then
		refuse "serial $serial is older than the applied bundle's $last (a rollback)"
	fi
	if ((serial == last)); then
		refuse "serial $serial is the applied bundle's, with other content"
	fi
fi
echo "webstack-sync: applying $WEBSTACK_BUNDLE_KEY serial $serial (${sum:0:12})"
WEBSTACK_STATE=$state bash "$work/bundle"
mv -f "$new" "$applied"
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
