# shellcheck shell=bash disable=SC2154 # dry_run is set by the sourcing script
# Shared by the bootstrap scripts (sourced, not run): how they print, run
# and query commands, honouring $dry_run.

# partition_of prints the AWS partition of a region.
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
