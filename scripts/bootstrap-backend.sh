#!/usr/bin/env bash
# Creates (once) the self-managed Pulumi state backend of webstack and points
# every stack at it: an S3 bucket for the state with its own KMS key, one KMS
# key per stack for that stack's secrets (so a role that may decrypt one
# environment's secrets cannot decrypt another's), and a stack per
# environment whose secrets provider is its key.
# Safe to run again: it creates only what is missing and re-applies the
# bucket's settings. docs/OPERATIONS.md explains each step.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(cd "$(dirname "$0")" && pwd)/lib/run.sh"
# shellcheck source-path=SCRIPTDIR
. "$(cd "$(dirname "$0")" && pwd)/lib/ci-names.sh"

usage() {
	cat <<'EOF'
Usage: scripts/bootstrap-backend.sh --bucket NAME --region REGION
           [--key-alias alias/webstack-pulumi] [--stacks "dev staging prod"]
           [--project-dir DIR] [--dry-run]

Creates, if missing, and configures the Pulumi state backend of webstack:
  1. KMS keys with yearly rotation: the alias --key-alias (the bucket's
     default encryption key), and ALIAS-STACK for each stack (that stack's
     secrets provider, tagged Environment=STACK);
  2. the S3 bucket --bucket in --region: versioning, SSE-KMS default
     encryption with the bucket's key (S3 bucket keys off: each object is
     encrypted under its own ARN, which the CI roles' policies check), all
     public access blocked, bucket-owner-enforced object ownership, a policy
     denying non-TLS access;
  3. pulumi login "s3://NAME?region=REGION", then for each stack:
     pulumi stack init STACK --secrets-provider "awskms://ALIAS-STACK?region=REGION"
     if the stack does not exist, or pulumi stack change-secrets-provider if
     Pulumi.STACK.yaml names another provider;
  4. prints the GitHub repository variables to set.

Options:
  --bucket NAME       S3 bucket for the state (3-63 characters: a-z 0-9 . -)
  --region REGION     region of the bucket and the key, e.g. us-east-1
  --key-alias ALIAS   KMS alias of the bucket's key, "alias/..." (default
                      alias/webstack-pulumi); stack STACK's key is ALIAS-STACK
  --stacks "LIST"     stacks to create or update (default "dev staging prod")
  --project-dir DIR   where Pulumi.yaml is (default: the repository root)
  --dry-run           print every aws and pulumi command instead of running
                      it; makes no call at all, so it shows the commands of a
                      first run (everything missing)
  -h, --help          this text

Needs the AWS CLI v2 and the Pulumi CLI, and AWS credentials allowed to
create S3 buckets and KMS keys. Exit status: 0 done, 1 failed, 2 bad usage.
EOF
}

die() {
	echo "bootstrap-backend: $*" >&2
	exit 1
}
bad_usage() {
	echo "bootstrap-backend: $*" >&2
	echo "Run scripts/bootstrap-backend.sh --help for usage." >&2
	exit 2
}

bucket=""
region=""
alias_name="alias/webstack-pulumi"
stacks="dev staging prod"
project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dry_run=false

while [ $# -gt 0 ]; do
	case "$1" in
	--bucket | --region | --key-alias | --stacks | --project-dir)
		[ $# -ge 2 ] || bad_usage "$1 needs a value"
		case "$1" in
		--bucket) bucket="$2" ;;
		--region) region="$2" ;;
		--key-alias) alias_name="$2" ;;
		--stacks) stacks="$2" ;;
		--project-dir) project_dir="$2" ;;
		esac
		shift 2
		;;
	--bucket=* | --region=* | --key-alias=* | --stacks=* | --project-dir=*)
		value="${1#*=}"
		case "$1" in
		--bucket=*) bucket="$value" ;;
		--region=*) region="$value" ;;
		--key-alias=*) alias_name="$value" ;;
		--stacks=*) stacks="$value" ;;
		--project-dir=*) project_dir="$value" ;;
		esac
		shift
		;;
	--dry-run)
		dry_run=true
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) bad_usage "unknown argument: $1" ;;
	esac
done

[ -n "$bucket" ] || bad_usage "--bucket is required"
[ -n "$region" ] || bad_usage "--region is required"
# S3 bucket naming rules (general purpose buckets), without the rarer ones.
if ! [[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || [[ "$bucket" == *..* ]]; then
	bad_usage "--bucket $bucket: not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"
fi
[[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || bad_usage "--region $region: not an AWS region name"
[[ "$alias_name" =~ ^alias/[A-Za-z0-9/_-]+$ ]] || bad_usage "--key-alias $alias_name: must look like alias/NAME"
[[ "$alias_name" != alias/aws/* ]] || bad_usage "--key-alias: alias/aws/ is reserved for AWS managed keys"
read -r -a stack_list <<<"$stacks"
[ ${#stack_list[@]} -gt 0 ] || bad_usage "--stacks is empty"
for s in "${stack_list[@]}"; do
	[[ "$s" =~ ^[A-Za-z0-9_.-]+$ ]] || bad_usage "--stacks: $s is not a stack name"
done
[ -f "$project_dir/Pulumi.yaml" ] || bad_usage "--project-dir $project_dir: no Pulumi.yaml there"
cd "$project_dir"

backend_url="s3://$bucket?region=$region"
# secrets_provider STACK: the stack's own key.
secrets_provider() { printf 'awskms://%s?region=%s\n' "$(ci_state_key_alias "$alias_name" "$1")" "$region"; }

if ! $dry_run; then
	command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH"
	command -v pulumi >/dev/null || die "the Pulumi CLI (pulumi) is not on PATH"
fi

export AWS_PAGER="" # the AWS CLI must not wait in a pager
$dry_run && echo "# dry run: nothing is called; these are the commands of a first run"
caller_identity "$region" || die "no usable AWS credentials (aws sts get-caller-identity failed)"

# Look before creating anything: a bucket name that another account holds,
# or a key these credentials may not read, stops the script here.
echo "== Checks"
# find_key ALIAS: sets key_arn to the key's ARN, or to "" if it is missing.
find_key() {
	if key_arn="$(query aws kms describe-key --region "$region" --key-id "$1" \
		--query KeyMetadata.Arn --output text)"; then
		echo "KMS key $1: exists, $key_arn"
	elif ! $dry_run && ! grep -q NotFoundException "$query_err"; then
		cat "$query_err" >&2
		die "cannot look up $1 (see the error above)"
	else
		key_arn=""
		echo "KMS key $1: missing"
	fi
}
declare -A key_of
find_key "$alias_name"
key_of[$alias_name]="$key_arn"
for s in "${stack_list[@]}"; do
	a="$(ci_state_key_alias "$alias_name" "$s")"
	find_key "$a"
	key_of[$a]="$key_arn"
done
bucket_exists=false
if query aws s3api head-bucket --region "$region" --bucket "$bucket" >/dev/null; then
	bucket_exists=true
	echo "S3 bucket $bucket: exists"
elif ! $dry_run && ! grep -Eq '\(404\)|Not Found|NoSuchBucket' "$query_err"; then
	cat "$query_err" >&2
	die "bucket $bucket exists but these credentials cannot use it (another account's, or no s3:ListBucket): choose another name"
else
	echo "S3 bucket $bucket: missing"
fi

# 1. The KMS keys, found by their aliases, with rotation on.
# ensure_key ALIAS DESCRIPTION TAG...: sets key_arn.
ensure_key() {
	local alias="$1" description="$2" rotation
	shift 2
	echo "== KMS key $alias"
	key_arn="${key_of[$alias]}"
	if [ -z "$key_arn" ]; then
		if $dry_run; then
			run aws kms create-key --region "$region" --description "$description" \
				--tags "$@" --query KeyMetadata.Arn --output text
			key_arn="arn:$partition:kms:$region:$account:key/<new ${alias#alias/} id>"
		else
			key_arn="$(run aws kms create-key --region "$region" --description "$description" \
				--tags "$@" --query KeyMetadata.Arn --output text)"
			[[ "$key_arn" == arn:*:kms:*:key/* ]] || die "create-key returned no key ARN: $key_arn"
			echo "created: $key_arn"
		fi
		run aws kms create-alias --region "$region" --alias-name "$alias" --target-key-id "$key_arn"
	fi
	rotation="$(query aws kms get-key-rotation-status --region "$region" --key-id "$key_arn" \
		--query KeyRotationEnabled --output text || true)"
	if [ "${rotation,,}" = true ]; then
		echo "rotation: enabled"
	else
		run aws kms enable-key-rotation --region "$region" --key-id "$key_arn"
	fi
}
for s in "${stack_list[@]}"; do
	ensure_key "$(ci_state_key_alias "$alias_name" "$s")" "webstack: Pulumi secrets of the stack $s" \
		TagKey=Project,TagValue=webstack TagKey=Environment,TagValue="$s" TagKey=ManagedBy,TagValue=bootstrap-backend
done
ensure_key "$alias_name" "webstack: Pulumi state bucket encryption" \
	TagKey=Project,TagValue=webstack TagKey=ManagedBy,TagValue=bootstrap-backend
bucket_key_arn="$key_arn"

# 2. The state bucket.
echo "== S3 bucket $bucket"
if ! $bucket_exists; then
	if [ "$region" = us-east-1 ]; then
		run aws s3api create-bucket --region "$region" --bucket "$bucket"
	else
		run aws s3api create-bucket --region "$region" --bucket "$bucket" \
			--create-bucket-configuration "LocationConstraint=$region"
	fi
	if ! $dry_run; then
		run aws s3api wait bucket-exists --region "$region" --bucket "$bucket"
	fi
fi
# Applied on every run: each call sets the whole setting, so a rerun repairs
# drift. The bucket policy is this script's: it replaces any other. No S3
# bucket key: with one, S3 asks KMS under the bucket's ARN instead of each
# object's, and the CI roles' policies could not tell one stack's state
# from another's (scripts/bootstrap-ci-roles.sh).
run aws s3api put-public-access-block --region "$region" --bucket "$bucket" \
	--public-access-block-configuration \
	BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
run aws s3api put-bucket-ownership-controls --region "$region" --bucket "$bucket" \
	--ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]'
run aws s3api put-bucket-versioning --region "$region" --bucket "$bucket" \
	--versioning-configuration Status=Enabled
run aws s3api put-bucket-encryption --region "$region" --bucket "$bucket" \
	--server-side-encryption-configuration \
	"{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"$bucket_key_arn\"},\"BucketKeyEnabled\":false}]}"
bucket_arn="arn:$partition:s3:::$bucket"
run aws s3api put-bucket-policy --region "$region" --bucket "$bucket" --policy \
	"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyInsecureTransport\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"$bucket_arn\",\"$bucket_arn/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}"

# 3. Pulumi: the backend and the stacks' secrets provider.
echo "== Pulumi stacks in $backend_url"
run pulumi login "$backend_url"
existing=""
if existing="$(query pulumi stack ls --json)"; then
	:
elif ! $dry_run; then
	cat "$query_err" >&2
	die "pulumi stack ls failed (see the error above)"
fi
changed=()
for s in "${stack_list[@]}"; do
	file="Pulumi.$s.yaml"
	if grep -Eq "\"name\": *\"([^\"]*/)?${s//./\\.}\"" <<<"$existing"; then
		current=""
		if [ -f "$file" ]; then
			current="$(sed -n 's/^secretsprovider:[[:space:]]*//p' "$file" | head -n 1)"
			current="${current%\"}"
			current="${current#\"}"
			current="${current%\'}"
			current="${current#\'}"
		fi
		if [ "$current" = "$(secrets_provider "$s")" ]; then
			echo "stack $s: exists, secrets provider $current"
		else
			echo "stack $s: exists, secrets provider ${current:-passphrase (default)} -> $(secrets_provider "$s")"
			run pulumi stack change-secrets-provider --stack "$s" "$(secrets_provider "$s")"
			changed+=("$file")
		fi
	else
		run pulumi stack init "$s" --secrets-provider "$(secrets_provider "$s")"
		changed+=("$file")
	fi
done

# 4. What is left to do by hand.
echo
if [ ${#changed[@]} -gt 0 ]; then
	if $dry_run; then
		echo "Then commit the stack files: pulumi writes secretsprovider and encryptedkey into them"
	else
		echo "Commit the stack files: pulumi wrote secretsprovider and encryptedkey into them"
	fi
	echo "(every preview and deploy needs them):"
	echo "  git add ${changed[*]} && git commit -m 'stacks: state in $backend_url, secrets in a key per stack ($alias_name-STACK)'"
else
	echo "Stack files: unchanged."
fi
cat <<EOF

GitHub (Settings > Secrets and variables > Actions > Variables), or with gh:
  gh variable set PULUMI_STATE_BUCKET --body '$bucket'
  gh variable set PULUMI_STATE_REGION --body '$region'
Then scripts/bootstrap-ci-roles.sh --bucket $bucket --region $region --repo OWNER/NAME
makes the preview and deploy roles of each stack: each may use only its own
stack's key and state objects (docs/OPERATIONS.md).
EOF
