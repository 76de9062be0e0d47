#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages webstack's local tools use, with apt
# (sudo when not root). It installs only what is missing.
#
#   scripts/deps.sh sandbox   what make sandbox runs: HAProxy, keepalived,
#                             nginx, PostgreSQL, iproute2, arping, curl
#   scripts/deps.sh bench     the sandbox's, plus wrk (make bench's load) and
#                             nftables (its counters of new connections)
#   scripts/deps.sh test      the sandbox's, plus what the test suite's
#                             real-program checks use: cloud-init, systemd
#                             (systemd-analyze), shellcheck (actionlint),
#                             mariadb-server (the app's MySQL TLS tests),
#                             openssl (webstack-sync verifying bundles),
#                             logrotate (the shipped logs' rotation)
set -euo pipefail
sandbox=(haproxy keepalived nginx-light postgresql iproute2 util-linux curl iputils-arping procps)
bench=("${sandbox[@]}" wrk nftables)
test=("${sandbox[@]}" cloud-init systemd shellcheck mariadb-server openssl logrotate)
case "${1:-test}" in
sandbox) packages=("${sandbox[@]}") ;;
bench) packages=("${bench[@]}") ;;
test) packages=("${test[@]}") ;;
*)
	echo "usage: $0 [sandbox|bench|test]" >&2
	exit 2
	;;
esac
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all installed (${packages[*]})"
	exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
