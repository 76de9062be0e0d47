#!/usr/bin/env bash
# Prints the path of a Pulumi CLI of the version go.mod pins for the SDK,
# for the engine tests (make test-engine) and nothing else.
#
# Order: $WEBSTACK_PULUMI if set; `pulumi` on PATH if its version is the
# pinned one; a build cached under $WEBSTACK_CACHE (default
# ~/.cache/webstack); else it builds the CLI from the Go module proxy
# (github.com/pulumi/pulumi/pkg/v3 at the pinned version, in a throwaway
# wrapper module that repeats pkg's replace directives). The build takes
# about 3 minutes and 3 GB of memory once; later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v$(sed -n 's|^[[:space:]]*github.com/pulumi/pulumi/sdk/v3 v\([^[:space:]]*\).*|\1|p' go.mod | head -n 1)"
[ "$version" != v ] || { echo "pulumi-cli: go.mod has no github.com/pulumi/pulumi/sdk/v3 requirement" >&2; exit 1; }

cli_version() { "$1" version 2>/dev/null | head -n 1; }

if [ -n "${WEBSTACK_PULUMI:-}" ]; then
	echo "$WEBSTACK_PULUMI"
	exit 0
fi
if command -v pulumi >/dev/null 2>&1 && [ "$(cli_version "$(command -v pulumi)")" = "$version" ]; then
	command -v pulumi
	exit 0
fi
cache="${WEBSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/webstack}/pulumi-$version"
bin="$cache/bin/pulumi"
if [ -x "$bin" ] && [ "$(cli_version "$bin")" = "$version" ]; then
	echo "$bin"
	exit 0
fi

echo "pulumi-cli: building the Pulumi CLI $version from the Go module proxy into $cache (once; about 3 minutes)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# pkg/v3's go.mod replaces sdk/v3 with ../sdk (the same version here) and
# atotto/clipboard with a fork; a wrapper module must repeat the latter.
clipboard=$(curl -fsS "$(go env GOPROXY | cut -d, -f1)/github.com/pulumi/pulumi/pkg/v3/@v/$version.mod" 2>/dev/null |
	sed -n 's|^replace github.com/atotto/clipboard => \(.*\)$|\1|p' || true)
cat >go.mod <<MOD
module webstack.local/pulumi-cli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 $version
	github.com/pulumi/pulumi/sdk/v3 $version
)

replace github.com/atotto/clipboard => ${clipboard:-github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e}
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
GOFLAGS=-mod=mod go mod tidy >&2
mkdir -p "$cache/bin"
GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" \
	-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
	github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
mv -f "$bin.tmp" "$bin"
echo "pulumi-cli: built $("$bin" version)" >&2
echo "$bin"
