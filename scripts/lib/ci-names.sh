# shellcheck shell=bash
# The names that tie AWS to GitHub Actions, defined once (sourced, not run):
# scripts/bootstrap-backend.sh names the keys with them,
# scripts/bootstrap-ci-roles.sh the roles, the boundaries and the trusted
# GitHub environments, and the workflow checks
# (scripts/bootstraptest/workflows_test.go, run by scripts/lint-workflows.sh)
# hold .github/workflows to the same names. ENV is a stack name (dev,
# staging, prod): each stack is one environment, in AWS and in GitHub.

# ci_environments: the environments (stacks) the scripts set up by default,
# and the ones the workflows must preview and deploy.
ci_environments() { printf '%s\n' "dev staging prod"; }

# ci_reviewed_previews: the environments whose pull-request preview runs
# only after a reviewer approves it (scripts/bootstrap-ci-roles.sh's default).
ci_reviewed_previews() { printf '%s\n' "prod"; }

# ci_role_arn_prefix_variable: the GitHub repository variable holding
# arn:PARTITION:iam::ACCOUNT:role/PREFIX; a workflow assumes
# ${{ vars.THAT }}-ENV-preview or ${{ vars.THAT }}-ENV-deploy.
ci_role_arn_prefix_variable() { printf '%s\n' AWS_ROLE_ARN_PREFIX; }

# ci_state_key_alias BASE ENV: the KMS alias of ENV's secrets provider. BASE
# (--key-alias, alias/webstack-pulumi) is the state bucket's own key.
ci_state_key_alias() { printf '%s-%s\n' "$1" "$2"; }

# ci_preview_role PREFIX ENV: the role that previews ENV.
ci_preview_role() { printf '%s-%s-preview\n' "$1" "$2"; }

# ci_deploy_role PREFIX ENV: the role that deploys ENV.
ci_deploy_role() { printf '%s-%s-deploy\n' "$1" "$2"; }

# ci_boundary_policy PREFIX ENV: the managed policy every IAM role the deploy
# role of ENV creates must carry as its permissions boundary.
ci_boundary_policy() { printf '%s-%s-boundary\n' "$1" "$2"; }

# ci_deploy_environment ENV: the GitHub environment whose jobs deploy ENV
# (protected: deployments from main only; prod with required reviewers).
ci_deploy_environment() { printf '%s\n' "$1"; }

# ci_preview_environment ENV: the GitHub environment (with required
# reviewers) a pull request's preview of a reviewed-preview ENV runs in.
ci_preview_environment() { printf '%s-preview\n' "$1"; }

# ci_state_objects BUCKET-ARN PROJECT ENV: the state objects of stack ENV in
# Pulumi's S3 backend (pkg/backend/diy of pulumi v3: the project-scoped
# layout), one ARN pattern a line: the stack's checkpoint (.json, .json.gz,
# .json.zst, .json.bak), its history, its backups and its locks.
ci_state_objects() {
	printf '%s\n' \
		"$1/.pulumi/stacks/$2/$3.json*" \
		"$1/.pulumi/history/$2/$3/*" \
		"$1/.pulumi/backups/$2/$3/*" \
		"$1/.pulumi/locks/organization/$2/$3/*"
}

# ci_backend_meta BUCKET-ARN: the object every command reads first.
ci_backend_meta() { printf '%s\n' "$1/.pulumi/meta.yaml"; }
