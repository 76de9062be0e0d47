#!/usr/bin/env bash
# Lints the GitHub workflows (.github/workflows/*.yml) with actionlint:
# syntax, expressions, the inputs of known actions, and, when shellcheck is
# installed, the shell of every run: block. Then checks that the Pulumi CLI
# the workflows install (PULUMI_VERSION) is the pulumi sdk version of go.mod,
# and that every job assumes the AWS role of its stack from the GitHub
# environment that role trusts (go test ./scripts/bootstraptest/ -run
# TestWorkflows: the names of scripts/lib/ci-names.sh).
# Uses actionlint from PATH, or installs the pinned version with go install
# into .build/bin (gitignored). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.7.12
bin_dir="$PWD/.build/bin"

if command -v actionlint >/dev/null 2>&1; then
	actionlint="$(command -v actionlint)"
else
	actionlint="$bin_dir/actionlint"
	if ! [ -x "$actionlint" ] || [ "$("$actionlint" -version | head -n 1)" != "$version" ]; then
		echo "lint-workflows: installing actionlint $version into $bin_dir"
		mkdir -p "$bin_dir"
		GOBIN="$bin_dir" go install "github.com/rhysd/actionlint/cmd/actionlint@$version"
	fi
fi
echo "lint-workflows: actionlint $("$actionlint" -version | head -n 1) ($actionlint)"
if command -v shellcheck >/dev/null 2>&1; then
	echo "lint-workflows: run: blocks checked with $(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
else
	echo "lint-workflows: shellcheck not installed: run: blocks are not shell-checked"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
[ ${#workflows[@]} -gt 0 ] || {
	echo "lint-workflows: no workflows in .github/workflows" >&2
	exit 1
}
status=0
"$actionlint" "${workflows[@]}" || status=1

# The CLI the workflows run must match the SDK the program is built with.
sdk="$(sed -n 's|^[[:space:]]*github.com/pulumi/pulumi/sdk/v3 v\([^[:space:]]*\).*|\1|p' go.mod | head -n 1)"
if [ -z "$sdk" ]; then
	echo "lint-workflows: go.mod: no github.com/pulumi/pulumi/sdk/v3 requirement" >&2
	status=1
fi
for w in "${workflows[@]}"; do
	while IFS= read -r line; do
		cli="${line#*PULUMI_VERSION:}"
		cli="${cli//[[:space:]\"\']/}"
		if [ -n "$sdk" ] && [ "$cli" != "$sdk" ]; then
			echo "$w: PULUMI_VERSION $cli differs from go.mod's pulumi sdk v$sdk" >&2
			status=1
		fi
	done < <(grep -E '^[[:space:]]*PULUMI_VERSION:' "$w" || true)
done

# Each job that assumes an AWS role assumes the one of its stack, from the
# GitHub environment that role trusts, by the names of scripts/lib/ci-names.sh
# (the roles are scripts/bootstrap-ci-roles.sh's); no pull_request_target;
# the pull request is told that prod's preview waits for a reviewer.
if ! go test -count=1 -run 'TestWorkflows|TestPreviewWorkflow' ./scripts/bootstraptest/; then
	echo "lint-workflows: the workflows' roles and environments disagree with scripts/lib/ci-names.sh (above)" >&2
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "lint-workflows: ${#workflows[@]} workflows OK"
fi
exit "$status"
