#!/usr/bin/env bash
# Creates (once) what GitHub Actions needs to reach AWS without stored keys,
# one set per environment (stack) ENV, so that code no reviewer approved
# never decrypts another environment's state or reads its secrets:
#   PREFIX-ENV-preview   pull requests' `pulumi preview` of ENV: trusted for
#                        every pull request of the repository, or, for the
#                        environments of --reviewed-previews (default prod),
#                        only for jobs in the GitHub environment ENV-preview,
#                        whose required reviewers approve the run first.
#                        ReadOnlyAccess, ENV's state objects, ENV's secrets
#                        key and the secrets tagged Environment=ENV; denied
#                        every other environment's.
#   PREFIX-ENV-deploy    `pulumi up` of ENV: trusted only for jobs in the
#                        GitHub environment ENV. PowerUserAccess, IAM roles
#                        only with the boundary below, ENV's state and key;
#                        denied anything tagged with another environment.
#   PREFIX-ENV-boundary  the permissions boundary every role the deploy role
#                        creates must carry (webstack:permissionsBoundary).
# The names are scripts/lib/ci-names.sh's. Run scripts/bootstrap-backend.sh
# first (the keys must exist). Safe to run again: it creates what is missing
# and re-applies trust and policies. docs/OPERATIONS.md explains the roles.
set -euo pipefail
script_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR
. "$script_dir/lib/run.sh"
# shellcheck source-path=SCRIPTDIR
. "$script_dir/lib/ci-names.sh"

usage() {
	cat <<'EOF_USAGE'
Usage: scripts/bootstrap-ci-roles.sh --repo OWNER/NAME --bucket NAME --region REGION
           [--key-alias alias/webstack-pulumi] [--prefix webstack-ci]
           [--environments "dev staging prod"] [--reviewed-previews "prod"]
           [--dry-run]

Creates, if missing, the GitHub OIDC provider of the AWS account and, for
each environment ENV, the roles PREFIX-ENV-preview and PREFIX-ENV-deploy and
the managed policy PREFIX-ENV-boundary, and sets their trust and policies:
  preview: trusted for repo:OWNER/NAME:pull_request, or, if ENV is one of
           --reviewed-previews, only for repo:OWNER/NAME:environment:ENV-preview
           (a GitHub environment with required reviewers); ReadOnlyAccess,
           plus reading ENV's state objects, kms:Decrypt on ENV's key, and
           secretsmanager:GetSecretValue on secrets tagged Environment=ENV;
           every other environment's key, state and secrets denied.
  deploy:  trusted for repo:OWNER/NAME:environment:ENV only; PowerUserAccess,
           plus IAM roles only with the boundary PREFIX-ENV-boundary, ENV's
           state objects and key; denied other environments' resources, the
           boundaries, the CI roles and the OIDC providers. Sessions of up
           to 2 hours.
  boundary: what a role the program creates may ever do: no IAM, STS,
           Organizations or account actions, no state, no other environment.

Options:
  --repo OWNER/NAME        the GitHub repository, e.g. foobar/webstack
  --bucket NAME            the state bucket (scripts/bootstrap-backend.sh)
  --region REGION          its region, and the keys'
  --key-alias ALIAS        the state bucket's key (default alias/webstack-pulumi);
                           ENV's secrets key is ALIAS-ENV
  --prefix PREFIX          role and policy name prefix (default webstack-ci)
  --environments "LIST"    environments, i.e. stacks (default "dev staging prod")
  --reviewed-previews "LIST"  environments whose preview waits for a reviewer
                           (default "prod"; "" for none)
  --dry-run                print every aws command instead of running it;
                           makes no call at all
  -h, --help               this text
Exit status: 0 done, 1 failed, 2 bad usage.
EOF_USAGE
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
environments="$(ci_environments)"
reviewed="$(ci_reviewed_previews)"
dry_run=false
while [ $# -gt 0 ]; do
	case "$1" in
	--repo | --bucket | --region | --key-alias | --prefix | --environments | --reviewed-previews)
		[ $# -ge 2 ] || bad_usage "$1 needs a value"
		case "$1" in
		--repo) repo="$2" ;;
		--bucket) bucket="$2" ;;
		--region) region="$2" ;;
		--key-alias) alias_name="$2" ;;
		--prefix) prefix="$2" ;;
		--environments) environments="$2" ;;
		--reviewed-previews) reviewed="$2" ;;
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
# The longest name is PREFIX-ENV-boundary / PREFIX-ENV-preview: 64 at most.
[[ "$prefix" =~ ^[A-Za-z0-9+=,.@_-]{1,40}$ ]] || bad_usage "--prefix $prefix: want 1-40 of A-Z a-z 0-9 + = , . @ _ -"
read -r -a env_list <<<"$environments"
[ ${#env_list[@]} -gt 0 ] || bad_usage "--environments is empty"
for e in "${env_list[@]}"; do
	[[ "$e" =~ ^[a-z0-9][a-z0-9_-]{0,14}$ ]] || bad_usage "--environments: $e: want a stack name of 1-15 of a-z 0-9 _ -"
done
read -r -a reviewed_list <<<"$reviewed"
for e in "${reviewed_list[@]}"; do
	[[ " ${env_list[*]} " == *" $e "* ]] || bad_usage "--reviewed-previews: $e is not one of --environments ($environments)"
done
# The project: the state's key layout and the Project tag use its name.
project="$(sed -n 's/^name:[[:space:]]*//p' "$script_dir/../Pulumi.yaml" | head -n 1)"
[ -n "$project" ] || die "no project name in $script_dir/../Pulumi.yaml"

issuer="token.actions.githubusercontent.com"

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
caller_identity "$region" || die "no usable AWS credentials (aws sts get-caller-identity failed)"

# key_arn_of ALIAS: the ARN of the key behind ALIAS, made by
# scripts/bootstrap-backend.sh.
key_arn_of() {
	local arn
	if arn="$(query aws kms describe-key --region "$region" --key-id "$1" \
		--query KeyMetadata.Arn --output text)"; then
		echo "KMS key $1: $arn" >&2
		printf '%s\n' "$arn"
	elif $dry_run; then
		printf '%s\n' "arn:$partition:kms:$region:$account:key/<${1#alias/}>"
	else
		cat "$query_err" >&2
		die "no KMS key $1 in $region: run scripts/bootstrap-backend.sh first"
	fi
}
bucket_key_arn="$(key_arn_of "$alias_name")"
declare -A env_key
for e in "${env_list[@]}"; do
	env_key[$e]="$(key_arn_of "$(ci_state_key_alias "$alias_name" "$e")")"
done

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

# json_list ITEM...: a JSON array of strings (the items hold no " or \).
json_list() {
	local out="" a
	for a in "$@"; do out+="\"$a\","; done
	printf '[%s]' "${out%,}"
}
# policy STATEMENT...: a policy document, one line, as IAM stores it.
policy() {
	local IFS=,
	printf '{"Version":"2012-10-17","Statement":[%s]}' "$*"
}
# trust SUBJECT: only GitHub's tokens for this audience and this subject.
trust() {
	policy "$(printf '{"Effect":"Allow","Principal":{"Federated":"%s"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"%s:aud":"sts.amazonaws.com","%s:sub":"%s"}}}' \
		"$provider_arn" "$issuer" "$issuer" "$1")"
}

bucket_arn="arn:$partition:s3:::$bucket"
iam_arn="arn:$partition:iam::$account"
meta="$(ci_backend_meta "$bucket_arn")"
all_keys=("$bucket_key_arn")
for e in "${env_list[@]}"; do all_keys+=("${env_key[$e]}"); done
all_boundaries="$iam_arn:policy/$(ci_boundary_policy "$prefix" "*")"

# The statements every role and boundary of environment $1 shares: nothing
# of another environment. A resource tagged with another Environment (the
# program tags everything it makes with its stack's webstack:environment),
# another environment's state objects and secrets key.
others_denied() {
	local e="$1" o other_objects=() other_keys=() statements
	for o in "${env_list[@]}"; do
		[ "$o" = "$e" ] && continue
		mapfile -t -O "${#other_objects[@]}" other_objects < <(ci_state_objects "$bucket_arn" "$project" "$o")
		other_keys+=("${env_key[$o]}")
	done
	statements='{"Sid":"NoOtherEnvironmentsSecrets","Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/Environment":"'"$e"'"},"Null":{"aws:ResourceTag/Environment":"false"}}}'
	statements+=',{"Sid":"NoOtherEnvironmentsResources","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/Environment":"'"$e"'"},"Null":{"aws:ResourceTag/Environment":"false"}}}'
	statements+=',{"Sid":"NoOtherEnvironmentsTags","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestTag/Environment":"'"$e"'"},"Null":{"aws:RequestTag/Environment":"false"}}}'
	if [ ${#other_keys[@]} -gt 0 ]; then
		statements+=',{"Sid":"NoOtherEnvironmentsState","Effect":"Deny","Action":"s3:*","Resource":'"$(json_list "${other_objects[@]}")"'}'
		statements+=',{"Sid":"NoOtherEnvironmentsKeys","Effect":"Deny","Action":"kms:*","Resource":'"$(json_list "${other_keys[@]}")"'}'
	fi
	printf '%s' "$statements"
}

# The state objects of environment $1 (with the backend's meta.yaml, which
# every command reads): S3 encrypts each with the bucket's key under the
# encryption context aws:s3:arn = the object's ARN (bucket keys off, see
# scripts/bootstrap-backend.sh), so a role may decrypt only these.
own_objects() { ci_state_objects "$bucket_arn" "$project" "$1"; }

preview_policy() {
	local e="$1" objects
	mapfile -t objects < <(own_objects "$e")
	policy \
		'{"Sid":"StateList","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"'"$bucket_arn"'"}' \
		'{"Sid":"StateRead","Effect":"Allow","Action":"s3:GetObject","Resource":'"$(json_list "$meta" "${objects[@]}")"'}' \
		'{"Sid":"StateObjectsDecrypt","Effect":"Allow","Action":"kms:Decrypt","Resource":"'"$bucket_key_arn"'","Condition":{"StringLike":{"kms:EncryptionContext:aws:s3:arn":'"$(json_list "$meta" "${objects[@]}")"'}}}' \
		'{"Sid":"NoOtherStateObjectsDecrypt","Effect":"Deny","Action":"kms:*","Resource":"'"$bucket_key_arn"'","Condition":{"StringNotLike":{"kms:EncryptionContext:aws:s3:arn":'"$(json_list "$meta" "${objects[@]}")"'}}}' \
		'{"Sid":"StackSecrets","Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"'"${env_key[$e]}"'"}' \
		'{"Sid":"RefreshStackSecrets","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"'"$project"'","aws:ResourceTag/Environment":"'"$e"'"}}}' \
		"$(others_denied "$e")"
}

deploy_policy() {
	local e="$1" objects boundary
	mapfile -t objects < <(own_objects "$e")
	boundary="$iam_arn:policy/$(ci_boundary_policy "$prefix" "$e")"
	policy \
		'{"Sid":"StateList","Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"'"$bucket_arn"'"}' \
		'{"Sid":"StateMeta","Effect":"Allow","Action":"s3:GetObject","Resource":"'"$meta"'"}' \
		'{"Sid":"StateReadWrite","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":'"$(json_list "${objects[@]}")"'}' \
		'{"Sid":"StateObjectsKey","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"'"$bucket_key_arn"'","Condition":{"StringLike":{"kms:EncryptionContext:aws:s3:arn":'"$(json_list "$meta" "${objects[@]}")"'}}}' \
		'{"Sid":"NoOtherStateObjectsDecrypt","Effect":"Deny","Action":"kms:*","Resource":"'"$bucket_key_arn"'","Condition":{"StringNotLike":{"kms:EncryptionContext:aws:s3:arn":'"$(json_list "$meta" "${objects[@]}")"'}}}' \
		'{"Sid":"StackSecrets","Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey","kms:DescribeKey"],"Resource":"'"${env_key[$e]}"'"}' \
		'{"Sid":"KeysStayAsTheyAre","Effect":"Deny","NotAction":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey","kms:DescribeKey"],"Resource":'"$(json_list "${all_keys[@]}")"'}' \
		'{"Sid":"StateBucketStaysAsItIs","Effect":"Deny","Action":["s3:DeleteBucket*","s3:PutBucket*","s3:PutEncryptionConfiguration","s3:PutLifecycleConfiguration","s3:PutReplicationConfiguration","s3:PutObjectAcl","s3:PutObjectVersionAcl","s3:DeleteObjectVersion"],"Resource":["'"$bucket_arn"'","'"$bucket_arn"'/*"]}' \
		'{"Sid":"RolesOnlyWithTheBoundary","Effect":"Allow","Action":["iam:CreateRole","iam:PutRolePolicy","iam:DeleteRolePolicy","iam:AttachRolePolicy","iam:DetachRolePolicy","iam:PutRolePermissionsBoundary"],"Resource":"'"$iam_arn"':role/*","Condition":{"StringEquals":{"iam:PermissionsBoundary":"'"$boundary"'"}}}' \
		'{"Sid":"ReadRolesAndProfiles","Effect":"Allow","Action":["iam:GetRole","iam:ListRoleTags","iam:GetRolePolicy","iam:ListRolePolicies","iam:ListAttachedRolePolicies","iam:ListInstanceProfilesForRole","iam:GetInstanceProfile"],"Resource":["'"$iam_arn"':role/*","'"$iam_arn"':instance-profile/*"]}' \
		'{"Sid":"OnlyThisEnvironmentsRoles","Effect":"Allow","Action":["iam:DeleteRole","iam:UpdateRole","iam:UpdateRoleDescription","iam:UpdateAssumeRolePolicy","iam:TagRole","iam:UntagRole","iam:PassRole"],"Resource":"'"$iam_arn"':role/*","Condition":{"StringEquals":{"aws:ResourceTag/Environment":"'"$e"'"}}}' \
		'{"Sid":"InstanceProfiles","Effect":"Allow","Action":["iam:CreateInstanceProfile","iam:DeleteInstanceProfile","iam:TagInstanceProfile","iam:UntagInstanceProfile","iam:AddRoleToInstanceProfile","iam:RemoveRoleFromInstanceProfile"],"Resource":"'"$iam_arn"':instance-profile/*"}' \
		'{"Sid":"NoRoleWithoutTheBoundary","Effect":"Deny","Action":["iam:CreateRole","iam:PutRolePolicy","iam:DeleteRolePolicy","iam:AttachRolePolicy","iam:DetachRolePolicy","iam:PutRolePermissionsBoundary"],"Resource":"*","Condition":{"StringNotEquals":{"iam:PermissionsBoundary":"'"$boundary"'"}}}' \
		'{"Sid":"BoundaryStays","Effect":"Deny","Action":"iam:DeleteRolePermissionsBoundary","Resource":"*"}' \
		'{"Sid":"BoundariesStayAsTheyAre","Effect":"Deny","Action":["iam:CreatePolicy","iam:CreatePolicyVersion","iam:DeletePolicy","iam:DeletePolicyVersion","iam:SetDefaultPolicyVersion","iam:TagPolicy","iam:UntagPolicy"],"Resource":"'"$all_boundaries"'"}' \
		'{"Sid":"NotTheCIAccess","Effect":"Deny","Action":"iam:*","Resource":["'"$iam_arn"':role/'"$prefix"'-*","'"$iam_arn"':oidc-provider/*"]}' \
		"$(others_denied "$e")"
}

# The boundary: the most a role the program creates may do, whatever
# policies it gets. The program's roles (the hosts' and the flow logs')
# need EC2, Auto Scaling, SSM, S3, Secrets Manager, KMS and CloudWatch; none
# needs IAM, STS, Organizations, the account, the state, or another
# environment.
boundary_policy() {
	local e="$1"
	policy \
		'{"Sid":"AnythingButIdentity","Effect":"Allow","NotAction":["iam:*","sts:*","organizations:*","account:*"],"Resource":"*"}' \
		'{"Sid":"NoState","Effect":"Deny","Action":"s3:*","Resource":["'"$bucket_arn"'","'"$bucket_arn"'/*"]}' \
		'{"Sid":"NoStateKeys","Effect":"Deny","Action":"kms:*","Resource":'"$(json_list "${all_keys[@]}")"'}' \
		"$(others_denied "$e")"
}

# The roles a deploy role may change or pass are those of its environment:
# tagged Environment=ENV, a tag it can only have set when creating them,
# which needs the boundary (a role of anyone else carries no such tag, and
# TagRole needs it already). Reading any role is fine.

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
			--tags "Key=Project,Value=$project" Key=ManagedBy,Value=bootstrap-ci-roles
	fi
	run aws iam attach-role-policy --role-name "$name" --policy-arn "arn:$partition:iam::aws:policy/$managed"
	run aws iam put-role-policy --role-name "$name" --policy-name webstack-state --policy-document "$inline"
}

# ensure_boundary NAME DOCUMENT: the managed policy, its default version
# DOCUMENT. A policy keeps at most 5 versions: the old ones are deleted.
ensure_boundary() {
	local name="$1" doc="$2" arn="$iam_arn:policy/$1" versions v
	echo "== permissions boundary $name"
	if query aws iam get-policy --policy-arn "$arn" --query Policy.Arn --output text >/dev/null; then
		echo "exists: document re-applied"
		versions="$(query aws iam list-policy-versions --policy-arn "$arn" \
			--query 'Versions[?!IsDefaultVersion].VersionId' --output text)" || die "cannot list the versions of $arn"
		for v in $versions; do
			run aws iam delete-policy-version --policy-arn "$arn" --version-id "$v"
		done
		run aws iam create-policy-version --policy-arn "$arn" --policy-document "$doc" --set-as-default
	else
		missing_or_die "cannot look up policy $arn"
		run aws iam create-policy --policy-name "$name" --policy-document "$doc" \
			--description "webstack: the most any role the deploy role creates may do" \
			--tags "Key=Project,Value=$project" Key=ManagedBy,Value=bootstrap-ci-roles
	fi
}

vars=()
for e in "${env_list[@]}"; do
	ensure_boundary "$(ci_boundary_policy "$prefix" "$e")" "$(boundary_policy "$e")"
	if [[ " ${reviewed_list[*]} " == *" $e "* ]]; then
		preview_subject="repo:$repo:environment:$(ci_preview_environment "$e")"
	else
		preview_subject="repo:$repo:pull_request"
	fi
	ensure_role "$(ci_preview_role "$prefix" "$e")" "$(trust "$preview_subject")" ReadOnlyAccess "$(preview_policy "$e")" 3600
	ensure_role "$(ci_deploy_role "$prefix" "$e")" "$(trust "repo:$repo:environment:$(ci_deploy_environment "$e")")" \
		PowerUserAccess "$(deploy_policy "$e")" 7200
	vars+=("  pulumi config set webstack:permissionsBoundary '$iam_arn:policy/$(ci_boundary_policy "$prefix" "$e")' -s $e")
done

# The roles of earlier versions of this script: one preview role for every
# pull request that could decrypt every stack. Say so; deleting is yours.
for legacy in "$prefix-preview" "$prefix-deploy"; do
	if query aws iam get-role --role-name "$legacy" --query Role.Arn --output text >/dev/null; then
		echo "WARNING: role $legacy (one role for every environment) still exists: delete it:"
		echo "  aws iam list-attached-role-policies --role-name $legacy; aws iam detach-role-policy ...;"
		echo "  aws iam delete-role-policy --role-name $legacy --policy-name webstack-state; aws iam delete-role --role-name $legacy"
	fi
done

reviewed_envs=()
for e in "${reviewed_list[@]}"; do reviewed_envs+=("$(ci_preview_environment "$e")"); done
deploy_envs=()
for e in "${env_list[@]}"; do deploy_envs+=("$(ci_deploy_environment "$e")"); done
cat <<EOF

GitHub (Settings > Secrets and variables > Actions > Variables), or with gh:
  gh variable set $(ci_role_arn_prefix_variable) --body '$iam_arn:role/$prefix'
(the workflows assume that-ENV-preview and that-ENV-deploy).
Environments (Settings > Environments), which the roles trust:
  ${deploy_envs[*]}: "Deployment branches and tags: Selected branches: main"
      only, and required reviewers where a deploy must wait (prod);
  ${reviewed_envs[*]:-(none)}: required reviewers, "Prevent self-review" on, no branch
      rule (pull requests run in it), administrators may not bypass.
Then give each stack its boundary, and commit the stack files:
$(printf '%s\n' "${vars[@]}")
EOF
