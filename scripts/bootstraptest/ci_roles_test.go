package bootstraptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The tests of scripts/bootstrap-ci-roles.sh run the real script against
// the fake aws CLI, read back every document it gave IAM, and ask the
// evaluator (policy_test.go) what each role may do. What they hold:
//   - code no reviewer approved (a pull request) can assume no role that may
//     decrypt prod's key, read a prod secret or read prod's state;
//   - prod's preview role trusts only jobs in the reviewed GitHub
//     environment, each deploy role only its own environment's jobs;
//   - a deploy role creates and changes roles only with its permissions
//     boundary, cannot drop or edit the boundary, nor touch the CI roles;
//   - the boundary denies what no program role needs.

const repo = "foobar/webstack"

var environments = []string{"dev", "staging", "prod"}

// ciName calls a function of scripts/lib/ci-names.sh: the names the tests
// expect come from where the script and the workflows take them.
func ciName(t *testing.T, fn string, args ...string) string {
	t.Helper()
	trackScripts(t)
	lib := filepath.Join(repoRoot(t), "scripts", "lib", "ci-names.sh")
	out, err := exec.Command("bash", append([]string{"-c", `. "$0"; "$@"`, lib, fn}, args...)...).Output()
	if err != nil {
		t.Fatalf("%s %q: %v", fn, args, err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// ciAccount is what the script left in the fake account.
type ciAccount struct {
	f                 *fixture
	partition, region string
	out               string
	calls             []string
	keys              map[string]string // environment ("" for the bucket) -> key ARN
	trust, inline     map[string]document
	attached          map[string][]string
	boundary          map[string]document // environment -> its boundary policy
	boundaryName      map[string]string
	sizes             map[string]int // document -> characters IAM counts
}

func (a *ciAccount) arn(service, rest string) string {
	return "arn:" + a.partition + ":" + service + ":" + rest
}
func (a *ciAccount) iam(rest string) string { return a.arn("iam", ":"+account+":"+rest) }
func (a *ciAccount) stateObject(env, rest string) string {
	return a.arn("s3", "::"+bucket+"/.pulumi/"+strings.ReplaceAll(rest, "ENV", env))
}
func (a *ciAccount) boundaryARN(env string) string {
	return a.iam("policy/" + a.boundaryName[env])
}
func (a *ciAccount) secret(env string) request {
	return request{"secretsmanager:GetSecretValue", a.arn("secretsmanager", a.region+":"+account+":secret:database-credentials-abc123-XyZ"),
		map[string]string{"aws:ResourceTag/Environment": env, "aws:ResourceTag/Project": "webstack", "aws:ResourceTag/Name": "webstack-" + env + "-database-credentials"}}
}

var (
	ciAccountsMu sync.Mutex
	ciAccounts   = map[string]*ciAccount{}
)

// bootstrapCI makes the keys bootstrap-backend.sh would have made, runs
// bootstrap-ci-roles.sh, and reads back what it set; once per partition
// (the tests only read the result).
func bootstrapCI(t *testing.T, partition, region string) *ciAccount {
	t.Helper()
	ciAccountsMu.Lock()
	defer ciAccountsMu.Unlock()
	if a, ok := ciAccounts[partition+" "+region]; ok {
		return a
	}
	a := &ciAccount{f: newFixture(t), partition: partition, region: region, keys: map[string]string{}, boundaryName: map[string]string{}, sizes: map[string]int{}}
	a.f.env = append(a.f.env, "FAKE_PARTITION="+partition)
	a.keys[""] = a.arn("kms", region+":"+account+":key/bucket")
	a.f.touch(t, "alias-webstack-pulumi", a.keys[""]+"\n")
	for _, e := range environments {
		a.keys[e] = a.arn("kms", region+":"+account+":key/"+e)
		alias := ciName(t, "ci_state_key_alias", "alias/webstack-pulumi", e)
		a.f.touch(t, "alias-"+strings.TrimPrefix(alias, "alias/"), a.keys[e]+"\n")
	}
	var code int
	a.out, code = a.f.runScript(t, "bootstrap-ci-roles.sh", "--repo", repo, "--bucket", bucket, "--region", region)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, a.out)
	}
	a.calls = a.f.calls(t)
	a.trust, a.inline, a.attached, a.boundary = map[string]document{}, map[string]document{}, map[string][]string{}, map[string]document{}
	for _, e := range environments {
		for _, role := range []string{ciName(t, "ci_preview_role", "webstack-ci", e), ciName(t, "ci_deploy_role", "webstack-ci", e)} {
			a.trust[role] = parseDocument(t, "trust of "+role, a.state(t, "trust-"+role+".json"))
			a.inline[role] = parseDocument(t, "policy of "+role, a.state(t, "policy-"+role+".json"))
			a.attached[role] = strings.Fields(a.state(t, "attached-"+role))
		}
		name := ciName(t, "ci_boundary_policy", "webstack-ci", e)
		a.boundaryName[e] = name
		a.boundary[e] = parseDocument(t, name, a.state(t, "managed-"+name+".json"))
	}
	ciAccounts[partition+" "+region] = a
	return a
}

func (a *ciAccount) state(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.f.state, name))
	if err != nil {
		t.Fatalf("the script left no %s: %v", name, err)
	}
	a.sizes[name] = len(strings.Join(strings.Fields(string(b)), ""))
	return string(b)
}

// IAM's quotas, in characters without white space: a role's inline
// policies together 10,240, a managed policy 6,144, a trust policy 2,048
// (the default; it can be raised to 4,096). A document over them fails
// only in a real account.
func TestCIRolesDocumentsFitIAMQuotas(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	for name, n := range a.sizes {
		limit := 0
		switch {
		case strings.HasPrefix(name, "policy-"):
			limit = 10240
		case strings.HasPrefix(name, "managed-"):
			limit = 6144
		case strings.HasPrefix(name, "trust-"):
			limit = 2048
		}
		if limit > 0 && n > limit*9/10 {
			t.Errorf("%s: %d characters, within 10%% of IAM's %d", name, n, limit)
		}
		t.Logf("%s: %d of %d", name, n, limit)
	}
}

// assume is what a GitHub token with this subject gets from a trust policy.
func (a *ciAccount) assume(trust document, sub string) decision {
	d, _ := trust.evaluate(request{"sts:AssumeRoleWithWebIdentity", "", map[string]string{
		"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub": sub,
	}})
	return d
}

// subjects are the tokens GitHub gives jobs of this repository and others.
func subjects() []string {
	subs := []string{"repo:" + repo + ":pull_request", "repo:" + repo + ":ref:refs/heads/main",
		"repo:" + repo + ":ref:refs/heads/feature", "repo:someone/else:pull_request", "repo:someone/else:environment:prod"}
	for _, e := range environments {
		subs = append(subs, "repo:"+repo+":environment:"+e, "repo:"+repo+":environment:"+e+"-preview",
			"repo:"+repo+":environment:deploy-"+e)
	}
	return subs
}

// trustedSubjects lists the subjects a role's trust lets in.
func (a *ciAccount) trustedSubjects(role string) []string {
	var out []string
	for _, s := range subjects() {
		if a.assume(a.trust[role], s) == allowed {
			out = append(out, s)
		}
	}
	return out
}

func TestCIRolesTrust(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	provider := a.iam("oidc-provider/token.actions.githubusercontent.com")
	for _, e := range environments {
		preview, deploy := ciName(t, "ci_preview_role", "webstack-ci", e), ciName(t, "ci_deploy_role", "webstack-ci", e)
		want := []string{"repo:" + repo + ":pull_request"}
		if e == "prod" { // --reviewed-previews' default
			want = []string{"repo:" + repo + ":environment:" + ciName(t, "ci_preview_environment", e)}
		}
		if got := a.trustedSubjects(preview); !slices.Equal(got, want) {
			t.Errorf("%s is trusted for %q, want only %q", preview, got, want)
		}
		want = []string{"repo:" + repo + ":environment:" + ciName(t, "ci_deploy_environment", e)}
		if got := a.trustedSubjects(deploy); !slices.Equal(got, want) {
			t.Errorf("%s is trusted for %q, want only %q", deploy, got, want)
		}
		for _, role := range []string{preview, deploy} {
			for _, s := range a.trust[role].Statement {
				if s.Effect == "Allow" && !slices.Equal(s.Principal["Federated"], []string{provider}) {
					t.Errorf("%s trusts %v, want only GitHub's OIDC provider %s", role, s.Principal, provider)
				}
			}
			// Another audience (a token minted for something else) is refused.
			if d, _ := a.trust[role].evaluate(request{"sts:AssumeRoleWithWebIdentity", "", map[string]string{
				"token.actions.githubusercontent.com:aud": "https://example.com",
				"token.actions.githubusercontent.com:sub": want[0],
			}}); d == allowed {
				t.Errorf("%s accepts a token for another audience", role)
			}
		}
	}
	if !strings.Contains(a.out, "gh variable set AWS_ROLE_ARN_PREFIX --body '"+a.iam("role/webstack-ci")+"'") {
		t.Errorf("the output does not give the role ARN prefix variable:\n%s", a.out)
	}
}

// No role a pull request can assume may decrypt another environment's key,
// read another environment's secret or state: explicitly denied, so that
// no managed policy (ReadOnlyAccess) can open it. Its own environment's it
// may (else the test would pass for a role that can do nothing).
func TestCIRolesPullRequestsNeverReachProd(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	pr := "repo:" + repo + ":pull_request"
	var prRoles []string
	for _, e := range environments {
		for _, role := range []string{ciName(t, "ci_preview_role", "webstack-ci", e), ciName(t, "ci_deploy_role", "webstack-ci", e)} {
			if a.assume(a.trust[role], pr) != allowed {
				continue
			}
			prRoles = append(prRoles, role)
			if !strings.HasPrefix(role, "webstack-ci-"+e+"-") {
				t.Fatalf("role %s is not of environment %s", role, e)
			}
			if got := a.attached[role]; !slices.Equal(got, []string{a.iam("")[:len(a.iam(""))-len(account)-1] + "aws:policy/ReadOnlyAccess"}) {
				t.Errorf("%s has managed policies %q, want only ReadOnlyAccess", role, got)
			}
			a.checkOnlyItsEnvironment(t, role, e)
			// ReadOnlyAccess does not read secret values: the refresh
			// needs this environment's, from the role's own policy.
			if got, by := a.inline[role].evaluate(a.secret(e)); got != allowed {
				t.Errorf("%s: its own environment's secret: %s (by %q), want %s", role, got, by, allowed)
			}
		}
	}
	if !slices.Equal(prRoles, []string{"webstack-ci-dev-preview", "webstack-ci-staging-preview"}) {
		t.Errorf("pull requests may assume %q, want the dev and staging preview roles only", prRoles)
	}
}

// checkOnlyItsEnvironment: role (of environment e) may use e's key, secrets
// and state, and is explicitly denied every other environment's.
func (a *ciAccount) checkOnlyItsEnvironment(t *testing.T, role, e string) {
	t.Helper()
	doc := a.inline[role]
	check := func(r request, want decision) {
		t.Helper()
		if got, by := doc.evaluate(r); got != want {
			t.Errorf("%s: %s on %s %v: %s (by %q), want %s", role, r.action, r.resource, r.context, got, by, want)
		}
	}
	checkpoint := func(env string) request {
		obj := a.stateObject(env, "stacks/webstack/ENV.json")
		return request{"s3:GetObject", obj, nil}
	}
	viaS3 := func(env string) request {
		return request{"kms:Decrypt", a.keys[""], map[string]string{"kms:EncryptionContext:aws:s3:arn": a.stateObject(env, "stacks/webstack/ENV.json")}}
	}
	check(request{"kms:Decrypt", a.keys[e], nil}, allowed)
	// The preview role's own grant; the deploy role's is PowerUserAccess.
	if got, by := doc.evaluate(a.secret(e)); got == denied {
		t.Errorf("%s: its own environment's secret: %s (by %q)", role, got, by)
	}
	check(checkpoint(e), allowed)
	check(viaS3(e), allowed)
	check(request{"s3:GetObject", a.stateObject(e, "meta.yaml"), nil}, allowed)
	// The bucket's key only through S3, for this environment's objects:
	// not for a ciphertext handed to KMS directly.
	check(request{"kms:Decrypt", a.keys[""], nil}, denied)
	for _, other := range environments {
		if other == e {
			continue
		}
		check(request{"kms:Decrypt", a.keys[other], nil}, denied)
		check(request{"kms:CreateGrant", a.keys[other], nil}, denied)
		check(a.secret(other), denied)
		check(checkpoint(other), denied)
		check(request{"s3:GetObject", a.stateObject(other, "history/webstack/ENV/ENV-1700000000.checkpoint.json"), nil}, denied)
		check(request{"s3:GetObject", a.stateObject(other, "backups/webstack/ENV/ENV.1700000000.json"), nil}, denied)
		check(viaS3(other), denied)
		check(request{"ec2:DescribeInstanceAttribute", a.arn("ec2", a.region+":"+account+":instance/i-1"), map[string]string{"aws:ResourceTag/Environment": other}}, denied)
	}
}

func TestCIRolesDeployStaysInItsEnvironment(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	for _, e := range environments {
		role := ciName(t, "ci_deploy_role", "webstack-ci", e)
		if got := a.attached[role]; len(got) != 1 || !strings.HasSuffix(got[0], ":iam::aws:policy/PowerUserAccess") {
			t.Errorf("%s has managed policies %q, want only PowerUserAccess", role, got)
		}
		a.checkOnlyItsEnvironment(t, role, e)
		doc := a.inline[role]
		for _, tc := range []struct {
			r    request
			want decision
		}{
			{request{"s3:PutObject", a.stateObject(e, "stacks/webstack/ENV.json"), nil}, allowed},
			{request{"s3:PutObject", a.stateObject(e, "locks/organization/webstack/ENV/abc.json"), nil}, allowed},
			{request{"kms:GenerateDataKey", a.keys[""], map[string]string{"kms:EncryptionContext:aws:s3:arn": a.stateObject(e, "history/webstack/ENV/x.json")}}, allowed},
			{request{"kms:Encrypt", a.keys[e], nil}, allowed},
			{request{"kms:ScheduleKeyDeletion", a.keys[e], nil}, denied},
			{request{"kms:PutKeyPolicy", a.keys[""], nil}, denied},
			{request{"s3:PutBucketPolicy", a.arn("s3", "::"+bucket), nil}, denied},
			{request{"s3:DeleteObjectVersion", a.stateObject(e, "stacks/webstack/ENV.json"), nil}, denied},
		} {
			if got, by := doc.evaluate(tc.r); got != tc.want {
				t.Errorf("%s: %s on %s: %s (by %q), want %s", role, tc.r.action, tc.r.resource, got, by, tc.want)
			}
		}
		for _, other := range environments {
			if other == e {
				continue
			}
			for _, r := range []request{
				{"s3:PutObject", a.stateObject(other, "stacks/webstack/ENV.json"), nil},
				{"s3:DeleteObject", a.stateObject(other, "locks/organization/webstack/ENV/abc.json"), nil},
				{"ec2:TerminateInstances", a.arn("ec2", a.region+":"+account+":instance/i-1"), map[string]string{"aws:ResourceTag/Environment": other}},
				{"ssm:SendCommand", a.arn("ec2", a.region+":"+account+":instance/i-1"), map[string]string{"aws:ResourceTag/Environment": other}},
				{"secretsmanager:TagResource", a.secret(other).resource, a.secret(other).context},
				{"ec2:RunInstances", a.arn("ec2", a.region+":"+account+":instance/*"), map[string]string{"aws:RequestTag/Environment": other}},
				{"iam:PassRole", a.iam("role/web-1234"), map[string]string{"iam:PassedToService": "ec2.amazonaws.com", "aws:ResourceTag/Environment": other}},
			} {
				if got, by := doc.evaluate(r); got != denied {
					t.Errorf("%s: %s on %s of %s: %s (by %q), want %s", role, r.action, r.resource, other, got, by, denied)
				}
			}
		}
	}
}

// Every role a deploy role creates carries its environment's boundary; the
// deploy role can neither drop it, swap it, edit it, nor change the CI's
// own roles.
func TestCIRolesDeployNeedsTheBoundary(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	bounded := []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary",
		"iam:DeleteRolePolicy", "iam:DetachRolePolicy"}
	for _, e := range environments {
		role := ciName(t, "ci_deploy_role", "webstack-ci", e)
		doc := a.inline[role]
		own := a.boundaryARN(e)
		if !strings.Contains(a.out, "pulumi config set webstack:permissionsBoundary '"+own+"' -s "+e) {
			t.Errorf("the output does not say how to set %s's boundary:\n%s", e, a.out)
		}
		// Statement by statement: an Allow of a bounded action names the
		// boundary in its condition.
		for _, s := range doc.Statement {
			if s.Effect != "Allow" {
				continue
			}
			for _, act := range bounded {
				if !(statement{Action: s.Action, NotAction: s.NotAction, Resource: strings_{"*"}}).matches(request{act, "x", nil}) {
					continue
				}
				if !slices.Equal(s.Condition["StringEquals"]["iam:PermissionsBoundary"], []string{own}) {
					t.Errorf("%s: statement %q allows %s without requiring the boundary %s: %v", role, s.Sid, act, own, s.Condition)
				}
			}
		}
		for _, act := range bounded {
			target := a.iam("role/web-1234")
			for _, tc := range []struct {
				boundary string
				want     decision
			}{{own, allowed}, {"", denied}, {a.iam("policy/AdministratorAccess"), denied}} {
				ctx := map[string]string{"aws:ResourceTag/Environment": e}
				if tc.boundary != "" {
					ctx["iam:PermissionsBoundary"] = tc.boundary
				}
				if got, by := doc.evaluate(request{act, target, ctx}); got != tc.want {
					t.Errorf("%s: %s with boundary %q: %s (by %q), want %s", role, act, tc.boundary, got, by, tc.want)
				}
			}
			for _, other := range environments {
				if other != e {
					ctx := map[string]string{"iam:PermissionsBoundary": a.boundaryARN(other)}
					if got, _ := doc.evaluate(request{act, target, ctx}); got != denied {
						t.Errorf("%s: %s with %s's boundary: %s, want %s", role, act, other, got, denied)
					}
				}
			}
		}
		for _, r := range []request{
			{"iam:DeleteRolePermissionsBoundary", a.iam("role/web-1234"), map[string]string{"iam:PermissionsBoundary": own}},
			{"iam:CreatePolicyVersion", own, nil},
			{"iam:SetDefaultPolicyVersion", own, nil},
			{"iam:DeletePolicy", own, nil},
			{"iam:DeletePolicyVersion", a.boundaryARN("prod"), nil},
			{"iam:CreatePolicy", a.boundaryARN(e), nil},
			{"iam:UpdateAssumeRolePolicy", a.iam("role/" + role), nil},
			{"iam:PutRolePolicy", a.iam("role/" + role), map[string]string{"iam:PermissionsBoundary": own}},
			{"iam:AttachRolePolicy", a.iam("role/" + ciName(t, "ci_preview_role", "webstack-ci", "prod")), map[string]string{"iam:PermissionsBoundary": own}},
			{"iam:DeleteOpenIDConnectProvider", a.iam("oidc-provider/token.actions.githubusercontent.com"), nil},
		} {
			if got, by := doc.evaluate(r); got != denied {
				t.Errorf("%s: %s on %s: %s (by %q), want %s", role, r.action, r.resource, got, by, denied)
			}
		}
		// Its own environment's roles (created with the boundary, tagged
		// Environment=e on creation) it may pass and change; a role of
		// anyone else (an administrator's, untagged) it may neither pass
		// to an instance, nor tag into its environment, nor make trust it.
		ownCtx := map[string]string{"iam:PassedToService": "ec2.amazonaws.com", "aws:ResourceTag/Environment": e}
		admin := map[string]string{"iam:PassedToService": "ec2.amazonaws.com"}
		for _, act := range []string{"iam:PassRole", "iam:TagRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"} {
			if got, by := doc.evaluate(request{act, a.iam("role/web-1234"), ownCtx}); got != allowed {
				t.Errorf("%s: %s on its own environment's role: %s (by %q)", role, act, got, by)
			}
			if got, by := doc.evaluate(request{act, a.iam("role/Admin"), admin}); got == allowed {
				t.Errorf("%s: %s on an untagged (administrator's) role: %s (by %q)", role, act, got, by)
			}
		}
	}
}

// The boundary: what any role the program creates may do at most.
func TestCIRolesBoundaryDenies(t *testing.T) {
	a := bootstrapCI(t, "aws", "us-east-1")
	for _, e := range environments {
		doc := a.boundary[e]
		for _, tc := range []struct {
			r    request
			want decision
		}{
			// What the hosts and the flow logs do.
			{request{"ec2:DescribeInstances", "*", nil}, allowed},
			{request{"ec2:AssociateAddress", a.arn("ec2", a.region+":"+account+":elastic-ip/eipalloc-1"), map[string]string{"aws:ResourceTag/Environment": e}}, allowed},
			{request{"autoscaling:CompleteLifecycleAction", "*", nil}, allowed},
			{request{"ssm:UpdateInstanceInformation", "*", nil}, allowed},
			{request{"logs:PutLogEvents", "*", nil}, allowed},
			{a.secret(e), allowed},
			// What none of them may.
			{request{"iam:CreateRole", "*", nil}, notAllowed},
			{request{"iam:PassRole", "*", nil}, notAllowed},
			{request{"iam:PutRolePolicy", a.iam("role/web-1234"), nil}, notAllowed},
			{request{"sts:AssumeRole", a.iam("role/" + ciName(t, "ci_deploy_role", "webstack-ci", e)), nil}, notAllowed},
			{request{"organizations:LeaveOrganization", "*", nil}, notAllowed},
			{request{"s3:GetObject", a.stateObject(e, "stacks/webstack/ENV.json"), nil}, denied},
			{request{"kms:Decrypt", a.keys[e], nil}, denied},
			{request{"kms:Decrypt", a.keys[""], map[string]string{"kms:EncryptionContext:aws:s3:arn": a.stateObject(e, "stacks/webstack/ENV.json")}}, denied},
		} {
			if got, by := doc.evaluate(tc.r); got != tc.want {
				t.Errorf("boundary of %s: %s on %s: %s (by %q), want %s", e, tc.r.action, tc.r.resource, got, by, tc.want)
			}
		}
		for _, other := range environments {
			if other == e {
				continue
			}
			for _, r := range []request{
				a.secret(other),
				{"kms:Decrypt", a.keys[other], nil},
				{"ssm:SendCommand", a.arn("ec2", a.region+":"+account+":instance/i-1"), map[string]string{"aws:ResourceTag/Environment": other}},
			} {
				if got, by := doc.evaluate(r); got != denied {
					t.Errorf("boundary of %s: %s on %s of %s: %s (by %q), want %s", e, r.action, r.resource, other, got, by, denied)
				}
			}
		}
	}
}

// Every ARN is in the partition of the credentials: GovCloud and China.
func TestCIRolesPartition(t *testing.T) {
	for _, tc := range []struct{ partition, region string }{{"aws-us-gov", "us-gov-west-1"}, {"aws-cn", "cn-north-1"}} {
		t.Run(tc.partition, func(t *testing.T) {
			a := bootstrapCI(t, tc.partition, tc.region)
			for _, c := range a.calls {
				if strings.Contains(c, "arn:aws:") {
					t.Errorf("an ARN of partition aws in %s: %s", tc.partition, c)
				}
			}
			if strings.Contains(a.out, "arn:aws:") {
				t.Errorf("the output names an ARN of partition aws:\n%s", a.out)
			}
			mustCall(t, a.calls, "aws iam attach-role-policy --role-name webstack-ci-dev-preview --policy-arn arn:"+tc.partition+":iam::aws:policy/ReadOnlyAccess")
			// The documents evaluate the same in the partition.
			a.checkOnlyItsEnvironment(t, "webstack-ci-dev-preview", "dev")
		})
	}
}

func TestCIRolesRuns(t *testing.T) {
	f := newFixture(t)
	args := []string{"--repo", repo, "--bucket", bucket, "--region", "us-east-1"}

	out, code := f.runScript(t, "bootstrap-ci-roles.sh", append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "+ aws iam create-role --role-name webstack-ci-prod-deploy ") ||
		!strings.Contains(out, "+ aws iam create-policy --policy-name webstack-ci-prod-boundary ") {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	if calls := f.calls(t); len(calls) > 0 {
		t.Errorf("--dry-run called:\n%s", strings.Join(calls, "\n"))
	}
	for _, bad := range [][]string{
		append(slices.Clone(args), "--reviewed-previews", "production"),
		append(slices.Clone(args), "--environments", "Prod"),
		append(slices.Clone(args), "--prefix", strings.Repeat("x", 41)),
	} {
		if out, code := f.runScript(t, "bootstrap-ci-roles.sh", bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", bad, code, out)
		}
	}

	// The keys come from bootstrap-backend.sh: without them, nothing is made.
	out, code = f.runScript(t, "bootstrap-ci-roles.sh", args...)
	if code != 1 || !strings.Contains(out, "run scripts/bootstrap-backend.sh first") {
		t.Errorf("without the keys: exit %d\n%s", code, out)
	}
	mustNotCall(t, f.calls(t), "create-")

	f.touch(t, "alias-webstack-pulumi", "arn:aws:kms:us-east-1:"+account+":key/bucket\n")
	for _, e := range environments {
		f.touch(t, "alias-webstack-pulumi-"+e, "arn:aws:kms:us-east-1:"+account+":key/"+e+"\n")
	}
	if out, code = f.runScript(t, "bootstrap-ci-roles.sh", args...); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	calls := f.calls(t)
	mustCall(t, calls, "aws iam create-open-id-connect-provider --url https://token.actions.githubusercontent.com --client-id-list sts.amazonaws.com")
	for _, e := range environments {
		mustCall(t, calls, "aws iam create-role --role-name webstack-ci-"+e+"-preview", "--max-session-duration 3600")
		mustCall(t, calls, "aws iam create-role --role-name webstack-ci-"+e+"-deploy", "--max-session-duration 7200")
		mustCall(t, calls, "aws iam create-policy --policy-name webstack-ci-"+e+"-boundary")
	}

	// Roles of the earlier one-role-for-all layout are reported.
	f.touch(t, "role-webstack-ci-preview", "")
	out, code = f.runScript(t, "bootstrap-ci-roles.sh", args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	calls = f.calls(t)
	mustNotCall(t, calls, "create-role")
	mustNotCall(t, calls, "create-policy ")
	mustNotCall(t, calls, "create-open-id-connect-provider")
	mustCall(t, calls, "aws iam update-assume-role-policy --role-name webstack-ci-prod-preview")
	mustCall(t, calls, "aws iam put-role-policy --role-name webstack-ci-dev-preview")
	mustCall(t, calls, "aws iam create-policy-version --policy-arn arn:aws:iam::"+account+":policy/webstack-ci-prod-boundary", "--set-as-default")
	if i := mustCall(t, calls, "aws iam delete-policy-version --policy-arn arn:aws:iam::"+account+":policy/webstack-ci-prod-boundary"); i >= 0 {
		if j := index(calls[i:], "create-policy-version", "webstack-ci-prod-boundary"); j < 0 {
			t.Errorf("old versions must go before the new one (a policy keeps 5):\n%s", strings.Join(calls, "\n"))
		}
	}
	if !strings.Contains(out, "WARNING: role webstack-ci-preview") {
		t.Errorf("the old shared preview role is not reported:\n%s", out)
	}
}
