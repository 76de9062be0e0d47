#!/usr/bin/env bash
# Creates (once) what GitHub Actions needs to reach AWS without stored keys:
# the account's GitHub OIDC identity provider and two roles,
#   PREFIX-preview  assumed by pull requests of the repository only:
#                   ReadOnlyAccess, the state bucket read, kms:Decrypt,
#                   the values of the secrets tagged Project=webstack
#                   (a refresh reads them)
#   PREFIX-deploy   assumed only by jobs in the GitHub environments dev,
#                   staging and prod: PowerUserAccess, the IAM roles and
#                   instance profiles the program makes, the state bucket
#                   read/write, the KMS key
# Run scripts/bootstrap-backend.sh first (the key must exist). Safe to run
# again: it creates what is missing and re-applies trust and policies.
# docs/OPERATIONS.md explains the roles.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(cd "$(dirname "$0")" && pwd)/lib/run.sh"

usage() {
	cat <<'EOF'
Usage: scripts/bootstrap-ci-roles.sh --repo OWNER/NAME --bucket NAME --region REGION
           [--key-alias alias/webstack-pulumi] [--prefix webstack-ci]
           [--environments "dev staging prod"] [--dry-run]

Creates, if missing, the GitHub OIDC provider of the AWS account and the
roles PREFIX-preview and PREFIX-deploy, and sets their trust and policies:
  preview: trusted for repo:OWNER/NAME:pull_request; ReadOnlyAccess, plus
           s3:GetObject/ListBucket on the state bucket, kms:Decrypt on the
           key, and secretsmanager:GetSecretValue on the secrets tagged
           Project=webstack (the preview's refresh reads them);
  deploy:  trusted for repo:OWNER/NAME:environment:ENV for each environment
           (protect the environments: deployments from main only, prod with
           a required reviewer); PowerUserAccess, plus IAM for roles and
           instance profiles, read/write on the state bucket and the key.
           Sessions of up to 2 hours.

Options:
  --repo OWNER/NAME     the GitHub repository, e.g. foobar/webstack
  --bucket NAME         the state bucket (scripts/bootstrap-backend.sh)
  --region REGION       its region, and the key's
  --key-alias ALIAS     the secrets key (default alias/webstack-pulumi)
  --prefix PREFIX       role name prefix (default webstack-ci)
  --environments "LIST" GitHub environments the deploy role trusts
                        (default "dev staging prod")
  --dry-run             print every aws command instead of running it;
                        makes no call at all
  -h, --help            this text
Exit status: 0 done, 1 failed, 2 bad usage.
EOF
}

die() {
	echo "bootstrap-ci-roles: $*" >&2
	exit 1
}
bad_usage() {
	echo "bootstrap-ci-roles: $*" >&2
	echo "Run scripts/bootstrap-ci-roles.sh --help for usage." >&2
	exit 2
}

repo=""
bucket=""
region=""
alias_name="alias/webstack-pulumi"
prefix="webstack-ci"
environments="dev staging prod"
dry_run=false
while [ $# -gt 0 ]; do
	case "$1" in
	--repo | --bucket | --region | --key-alias | --prefix | --environments)
		[ $# -ge 2 ] || bad_usage "$1 needs a value"
		case "$1" in
		--repo) repo="$2" ;;
		--bucket) bucket="$2" ;;
		--region) region="$2" ;;
		--key-alias) alias_name="$2" ;;
		--prefix) prefix="$2" ;;
		--environments) environments="$2" ;;
		esac
		shift 2
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
[ -n "$repo" ] || bad_usage "--repo is required"
[ -n "$bucket" ] || bad_usage "--bucket is required"
[ -n "$region" ] || bad_usage "--region is required"
[[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || bad_usage "--repo $repo: want OWNER/NAME"
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || bad_usage "--bucket $bucket: not a valid S3 bucket name"
[[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || bad_usage "--region $region: not an AWS region name"
[[ "$alias_name" =~ ^alias/[A-Za-z0-9/_-]+$ ]] || bad_usage "--key-alias $alias_name: must look like alias/NAME"
[[ "$prefix" =~ ^[A-Za-z0-9+=,.@_-]{1,50}$ ]] || bad_usage "--prefix $prefix: not usable in a role name"
read -r -a env_list <<<"$environments"
[ ${#env_list[@]} -gt 0 ] || bad_usage "--environments is empty"
for e in "${env_list[@]}"; do
	[[ "$e" =~ ^[A-Za-z0-9_.-]+$ ]] || bad_usage "--environments: $e is not an environment name"
done

partition="$(partition_of "$region")"
issuer="token.actions.githubusercontent.com"
preview_role="$prefix-preview"
deploy_role="$prefix-deploy"

# missing_or_die: after a failed query, true if the error says "not found";
# any other error stops the script.
missing_or_die() {
	$dry_run && return 0
	grep -Eq 'NoSuchEntity|NotFoundException' "$query_err" && return 0
	cat "$query_err" >&2
	die "$1 (see the error above)"
}

export AWS_PAGER=""
if ! $dry_run; then
	command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH"
fi
$dry_run && echo "# dry run: nothing is called; these are the commands of a first run"
if account="$(query aws sts get-caller-identity --query Account --output text)"; then
	echo "AWS account $account"
elif $dry_run; then
	account="<account-id>"
else
	cat "$query_err" >&2
	die "no usable AWS credentials (aws sts get-caller-identity failed)"
fi

if key_arn="$(query aws kms describe-key --region "$region" --key-id "$alias_name" \
	--query KeyMetadata.Arn --output text)"; then
	echo "KMS key $alias_name: $key_arn"
elif $dry_run; then
	key_arn="arn:$partition:kms:$region:$account:key/<key-id>"
else
	cat "$query_err" >&2
	die "no KMS key $alias_name in $region: run scripts/bootstrap-backend.sh first"
fi

# The OIDC provider: one per account, shared by every repository.
provider_arn="arn:$partition:iam::$account:oidc-provider/$issuer"
echo "== OIDC provider $issuer"
if query aws iam get-open-id-connect-provider --open-id-connect-provider-arn "$provider_arn" >/dev/null; then
	echo "exists"
else
	missing_or_die "cannot look up $provider_arn"
	# IAM fetches the thumbprint itself for this issuer; none is passed.
	run aws iam create-open-id-connect-provider --url "https://$issuer" \
		--client-id-list sts.amazonaws.com
fi

trust() { # subjects...
	local subs="" s
	for s in "$@"; do subs+="\"$s\","; done
	printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"%s"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"%s:aud":"sts.amazonaws.com","%s:sub":[%s]}}}]}' \
		"$provider_arn" "$issuer" "$issuer" "${subs%,}"
}
bucket_arn="arn:$partition:s3:::$bucket"
iam_arn="arn:$partition:iam::$account"

preview_trust="$(trust "repo:$repo:pull_request")"
deploy_subjects=()
for e in "${env_list[@]}"; do deploy_subjects+=("repo:$repo:environment:$e"); done
deploy_trust="$(trust "${deploy_subjects[@]}")"

preview_policy='{"Version":"2012-10-17","Statement":[
{"Sid":"StateRead","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"'"$bucket_arn"'"},
{"Sid":"StateObjectsRead","Effect":"Allow","Action":"s3:GetObject","Resource":"'"$bucket_arn"'/*"},
{"Sid":"Secrets","Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"'"$key_arn"'"},
{"Sid":"RefreshStackSecrets","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"webstack"}}}]}'
deploy_policy='{"Version":"2012-10-17","Statement":[
{"Sid":"StateBucket","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"'"$bucket_arn"'"},
{"Sid":"StateObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"'"$bucket_arn"'/*"},
{"Sid":"Secrets","Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey","kms:DescribeKey"],"Resource":"'"$key_arn"'"},
{"Sid":"HostAndFlowLogRoles","Effect":"Allow","Action":["iam:CreateRole","iam:DeleteRole","iam:GetRole","iam:UpdateRole","iam:UpdateAssumeRolePolicy","iam:TagRole","iam:UntagRole","iam:ListRoleTags","iam:PutRolePolicy","iam:GetRolePolicy","iam:DeleteRolePolicy","iam:ListRolePolicies","iam:AttachRolePolicy","iam:DetachRolePolicy","iam:ListAttachedRolePolicies","iam:ListInstanceProfilesForRole","iam:PassRole","iam:CreateInstanceProfile","iam:DeleteInstanceProfile","iam:GetInstanceProfile","iam:TagInstanceProfile","iam:UntagInstanceProfile","iam:AddRoleToInstanceProfile","iam:RemoveRoleFromInstanceProfile"],"Resource":["'"$iam_arn"':role/*","'"$iam_arn"':instance-profile/*"]},
{"Sid":"NotTheCIAccess","Effect":"Deny","Action":"iam:*","Resource":["'"$iam_arn"':role/'"$prefix"'-*","'"$iam_arn"':oidc-provider/*"]}]}'
# One line each, as IAM stores them.
preview_policy="${preview_policy//$'\n'/}"
deploy_policy="${deploy_policy//$'\n'/}"

# ensure_role NAME TRUST MANAGED-POLICY INLINE-POLICY MAX-SESSION-SECONDS
ensure_role() {
	local name="$1" trust_doc="$2" managed="$3" inline="$4" max="$5"
	echo "== role $name"
	if query aws iam get-role --role-name "$name" --query Role.Arn --output text >/dev/null; then
		echo "exists: trust and policies re-applied"
		run aws iam update-assume-role-policy --role-name "$name" --policy-document "$trust_doc"
		run aws iam update-role --role-name "$name" --max-session-duration "$max"
	else
		missing_or_die "cannot look up role $name"
		run aws iam create-role --role-name "$name" --assume-role-policy-document "$trust_doc" \
			--max-session-duration "$max" --description "webstack: GitHub Actions ($repo)" \
			--tags Key=Project,Value=webstack Key=ManagedBy,Value=bootstrap-ci-roles
	fi
	run aws iam attach-role-policy --role-name "$name" --policy-arn "arn:$partition:iam::aws:policy/$managed"
	run aws iam put-role-policy --role-name "$name" --policy-name webstack-state --policy-document "$inline"
}
ensure_role "$preview_role" "$preview_trust" ReadOnlyAccess "$preview_policy" 3600
ensure_role "$deploy_role" "$deploy_trust" PowerUserAccess "$deploy_policy" 7200

cat <<EOF

GitHub (Settings > Secrets and variables > Actions > Variables), or with gh:
  gh variable set AWS_PREVIEW_ROLE_ARN --body '$iam_arn:role/$preview_role'
  gh variable set AWS_DEPLOY_ROLE_ARN --body '$iam_arn:role/$deploy_role'
and create the environments ${env_list[*]} (Settings > Environments), each
with "Deployment branches: main" only, and prod with a required reviewer:
the deploy role trusts any job that runs in one of them.
EOF
