package lbconf

import (
	"strconv"
	"strings"
	"time"

	"github.com/foobar/webstack/components/monitoring/signals"
)

// curl is the path of curl on Debian and Amazon Linux 2023.
const curl = "/usr/bin/curl"

// CheckScript renders keepalived's track script: it exits 0 iff this node's
// HAProxy answers its monitor URI (HAProxy.MonitorAddr and MonitorPath)
// within one second. It ignores proxy settings, so a proxy configured on
// the host cannot answer for HAProxy.
func CheckScript(monitorAddr, monitorPath string) string {
	return `#!/bin/sh
# keepalived track script, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Exits 0 iff this node's HAProxy answers its monitor URI.
exec ` + curl + ` -fsS -m 1 --noproxy '*' -o /dev/null ` + shQuote("http://"+monitorAddr+monitorPath) + "\n"
}

// MasterSettle is how long a node that has just become keepalived's MASTER
// waits before it takes the address, and then only if it is still MASTER
// (see [SettledMaster]).
const MasterSettle = 500 * time.Millisecond

// SettledMaster renders a POSIX sh fragment for the top of every script
// that takes the address (notify_master, notify_master_rx_lower_pri and
// the every-round keep-address check): it exits 0, leaving the address
// where it is, unless this node is MASTER (marker, [MarkerAddr], on lo)
// now and still MasterSettle later.
//
// Why: when the MASTER leaves a pair that has three nodes for a moment (a
// rolling replacement), both BACKUPs wait out nearly the same skew time
// (their priorities differ by a few points: 4 ms each), so under load both
// can become MASTER before either hears the other. The lower priority
// returns to BACKUP at the winner's first advert, which keepalived sends
// on its transition; had it taken the address already, the address would
// move twice more (to the loser, back to the winner) and cut the clients'
// connections each time. Seen in CI: [lb1 lb3 lb4 lb3] in one roll.
// Waiting costs every takeover MasterSettle, against a second and third
// move of the Elastic IP of 5-6 s each.
//
// say is a command that takes one message argument (logger, echo).
func SettledMaster(marker, say string) string {
	secs := strconv.FormatFloat(MasterSettle.Seconds(), 'f', -1, 64)
	return `# Take the address only as a MASTER that stays one: two nodes can be MASTER
# for a moment, and the loser returns to BACKUP at the winner's first advert.
is_master() { ip -o -4 addr show dev lo | grep -qF -- ` + shQuote(" "+marker+" ") + `; }
if ! is_master; then
    ` + say + ` "not MASTER: the address stays where it is"
    exit 0
fi
sleep ` + secs + `
if ! is_master; then
    ` + say + ` "MASTER for less than ` + secs + ` s (another node won the election): the address stays where it is"
    exit 0
fi
`
}

// TakeoverScript renders the AWS notify_master script: it moves the Elastic
// IP to this instance with
//
//	aws ec2 associate-address --region R --allocation-id A --instance-id I --allow-reassociation
//
// where I comes from the instance metadata service (IMDSv2: a token PUT,
// then GET meta-data/instance-id), and R and A from envFile, read as
// KEY=value lines (the systemd EnvironmentFile format; the file is parsed,
// never executed) holding AWS_REGION and WEBSTACK_EIP_ALLOCATION_ID.
//
// It acts only as a settled MASTER ([SettledMaster] with marker, the
// instance's [MarkerAddr]), and then keeps trying for as long as the node
// is MASTER, until the address is its own: right after a node is replaced,
// its role's policy or the ec2 endpoint may not answer yet, and a MASTER
// that gave up would leave the site without its address. Between tries it
// waits 1, 2, 4, then 8 s, logs every failure, and checks that it is still
// MASTER. One takeover runs at a time (lockFile): keepalived may start it
// twice at once (notify_master and notify_master_rx_lower_pri) and the
// agent's keep-address check a third time. It logs to syslog with tag
// webstack-lb. It is idempotent, so it is also safe as
// notify_master_rx_lower_pri. The instance role needs ec2:AssociateAddress.
func TakeoverScript(envFile, marker, lockFile string) string {
	return strings.NewReplacer("@ENV_FILE@", shQuote(envFile), "@LOCK@", shQuote(lockFile),
		"@SETTLED_MASTER@\n", SettledMaster(marker, "log")).Replace(takeover)
}

const takeover = `#!/bin/bash
# keepalived notify_master script, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Moves the Elastic IP to this instance, retrying for as long as it is MASTER.
# Also run as notify_master_rx_lower_pri: associating an address that is
# already ours changes nothing.
set -euo pipefail

env_file=@ENV_FILE@
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export AWS_PAGER=""

log() { logger -t webstack-lb -- "$*"; }
fail() {
    log "takeover failed: $*"
    exit 1
}

# KEY=value lines, as in a systemd EnvironmentFile: read, never executed.
[[ -r $env_file ]] || fail "cannot read $env_file"
region="" allocation_id=""
while IFS="=" read -r key value || [[ -n $key ]]; do
    value=${value%[\"\']}
    value=${value#[\"\']}
    case $key in
    AWS_REGION) region=$value ;;
    WEBSTACK_EIP_ALLOCATION_ID) allocation_id=$value ;;
    esac
done <"$env_file"
[[ -n $region ]] || fail "AWS_REGION is not set in $env_file"
[[ -n $allocation_id ]] || fail "WEBSTACK_EIP_ALLOCATION_ID is not set in $env_file"

# One takeover at a time: a running one keeps trying while this node is
# MASTER, so a second has nothing to add.
exec 9>@LOCK@
if ! flock -n 9; then
    log "a takeover is already running"
    exit 0
fi

@SETTLED_MASTER@
# This instance's id, from IMDSv2.
instance_id() {
    local imds=http://169.254.169.254/latest token
    token=$(curl -fsS --connect-timeout 1 -m 2 --retry 2 -X PUT \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$imds/api/token") || {
        echo "no IMDSv2 token"
        return 1
    }
    curl -fsS --connect-timeout 1 -m 2 --retry 2 \
        -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/instance-id" || {
        echo "no instance id from IMDS"
        return 1
    }
}

delay=1 attempt=0
while :; do
    attempt=$((attempt + 1))
    if id=$(instance_id) && out=$(aws ec2 associate-address --region "$region" \
        --allocation-id "$allocation_id" --instance-id "$id" \
        --allow-reassociation --cli-connect-timeout 2 --cli-read-timeout 5 \
        --output text 2>&1); then
        log "MASTER: associated $allocation_id with $id (attempt $attempt): $out"
        exit 0
    fi
    log "attempt $attempt to associate $allocation_id failed, retrying in $delay s while MASTER: ${out:-$id}"
    sleep "$delay"
    ((delay < 8)) && delay=$((delay * 2))
    if ! is_master; then
        log "no longer MASTER after $attempt attempts: the address stays where it is"
        exit 0
    fi
    out=""
done
`

// KeepAddressScript renders the script webstack-agent runs every round on
// an AWS node (hostagent.Config.Every): while keepalived is MASTER here
// (marker, MarkerAddr, is on lo), the Elastic IP must be this instance's.
// Two nodes can be MASTER for a moment, when both BACKUPs time out
// together as the MASTER leaves; the one that loses the election goes
// BACKUP, and its takeover ([SettledMaster]) normally sees that in time,
// but one stalled for longer may still run last and leave the address on
// it, and once that node leaves, the address would go with it. So the MASTER
// compares the instance metadata's public-ipv4 (the Elastic IP once it is
// associated) with WEBSTACK_EIP_ADDRESS from envFile and, if they differ,
// starts takeoverPath (TakeoverScript) in the background (it may retry for
// long, and the agent's round must go on), at most once per 15 s (the time of
// stampFile) because the metadata follows an association with some delay.
// It prints only when it acts; a BACKUP exits at once. Once a minute,
// first, every node appends a line to stateLog saying whether it is MASTER
// (signals.VRRPStateLog, which the monitoring's split-brain alarm averages
// over the pair: one half when one node of two is MASTER).
func KeepAddressScript(envFile, takeoverPath, marker, stampFile, stateLog string) string {
	r := strings.NewReplacer("@ENV_FILE@", shQuote(envFile), "@TAKEOVER@", shQuote(takeoverPath),
		"@MARKER@", shQuote(" "+marker+" "), "@STAMP@", shQuote(stampFile), "@STATE_LOG@", shQuote(stateLog),
		"@STATE_LINE@", `{"`+signals.FieldLog+`":"`+signals.VRRPLogName+`","`+signals.FieldVRRPMaster+`":%d}\n`)
	return r.Replace(keepAddress)
}

const keepAddress = `#!/bin/bash
# lb-keep-address, rendered by github.com/foobar/webstack/components/loadbalancer/lbconf.
# Run by webstack-agent every round: keepalived's MASTER holds the Elastic IP.
set -euo pipefail
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

master=0
ip -o -4 addr show dev lo | grep -qF -- @MARKER@ && master=1

# Once a minute, this node's state for the monitoring (never fatal).
beat=@STAMP@.beat
if [[ ! -e $beat ]] || (( $(date +%s) - $(stat -c %Y "$beat") >= 60 )); then
    touch "$beat" 2>/dev/null || true
    printf '@STATE_LINE@' "$master" >>@STATE_LOG@ 2>/dev/null || true
fi

# BACKUP (no marker address on lo): nothing to do.
(( master )) || exit 0

address=""
while IFS="=" read -r key value || [[ -n $key ]]; do
    value=${value%[\"\']}
    value=${value#[\"\']}
    [[ $key == WEBSTACK_EIP_ADDRESS ]] && address=$value
done <@ENV_FILE@
[[ -n $address ]] || { echo "WEBSTACK_EIP_ADDRESS is not set in "@ENV_FILE@ >&2; exit 1; }

imds=http://169.254.169.254/latest
token=$(curl -fsS --connect-timeout 1 -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$imds/api/token")
mine=$(curl -fsS --connect-timeout 1 -m 2 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/public-ipv4" 2>/dev/null || true)
[[ $mine == "$address" ]] && exit 0

# The metadata follows an association with some delay: once per 15 s.
stamp=@STAMP@
if [[ -e $stamp ]] && (( $(date +%s) - $(stat -c %Y "$stamp") < 15 )); then
    exit 0
fi
touch "$stamp"
echo "MASTER without the Elastic IP $address (this instance has ${mine:-no public address}): taking it (lb-takeover logs to the journal)"
# In the background: the takeover retries for as long as this node is
# MASTER, and the agent's round must not wait for it.
setsid @TAKEOVER@ </dev/null >/dev/null 2>&1 &
`
