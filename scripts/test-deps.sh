#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the real-program checks of the test
# suite use: haproxy -c, keepalived -t, nginx -t, cloud-init schema,
# systemd-analyze verify, a throwaway PostgreSQL, network namespaces.
# Without them those tests skip (on a laptop) or fail (in CI).
set -euo pipefail
packages=(haproxy keepalived nginx-light cloud-init postgresql systemd iproute2 util-linux curl procps)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "test-deps: all installed"
	exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "test-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
