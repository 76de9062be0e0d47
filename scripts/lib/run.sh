# shellcheck shell=bash disable=SC2154 # dry_run is set by the sourcing script
# Shared by the bootstrap scripts (sourced, not run): how they print, run
# and query commands, honouring $dry_run.

# partition_of prints the AWS partition a region name suggests: only for
# --dry-run, which asks AWS nothing; a real run takes the partition from
# the credentials (caller_identity).
partition_of() {
	case "$1" in
	cn-*) echo aws-cn ;;
	us-gov-*) echo aws-us-gov ;;
	*) echo aws ;;
	esac
}

# quote prints its arguments so that a shell reads them back unchanged.
quote() {
	local out="" a
	for a in "$@"; do
		if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
			out+="$a "
		else
			out+="'${a//\'/\'\\\'\'}' "
		fi
	done
	printf '%s\n' "${out% }"
}

# Standard output, also from inside $(...): where --dry-run prints.
exec 3>&1

# run runs a command that changes something; with --dry-run it prints it.
run() {
	if $dry_run; then
		echo "+ $(quote "$@")" >&3
	else
		echo "+ $(quote "$@")" >&2
		"$@"
	fi
}

# query runs a read-only command and prints its standard output; its
# standard error goes to the file $query_err. With --dry-run it prints the
# command (as a comment) and fails, as if what it looks for were missing.
query_err="$(mktemp)"
trap 'rm -f "$query_err"' EXIT
query() {
	if $dry_run; then
		echo "# check: $(quote "$@")  (dry run: taken as missing)" >&3
		echo "dry run" >"$query_err"
		return 1
	fi
	"$@" 2>"$query_err"
}

# caller_identity sets $account and $partition from the ARN of the
# credentials (arn:PARTITION:sts::ACCOUNT:...), so that every ARN the
# scripts write is right in GovCloud (aws-us-gov) and China (aws-cn) too.
# With --dry-run: placeholders, and the partition of the region $1. Fails,
# printing AWS's error, when there are no usable credentials.
caller_identity() {
	local arn
	if arn="$(query aws sts get-caller-identity --query Arn --output text)"; then
		IFS=: read -r _ partition _ _ account _ <<<"$arn"
		if [ -z "$partition" ] || ! [[ "$account" =~ ^[0-9]{12}$ ]]; then
			echo "aws sts get-caller-identity: not an ARN: $arn" >&2
			return 1
		fi
		echo "AWS account $account, partition $partition"
	elif $dry_run; then
		account="<account-id>"
		partition="$(partition_of "$1")"
	else
		cat "$query_err" >&2
		return 1
	fi
}
