// Package iampolicy writes IAM policy documents from Go values, so that
// policies are checked by the compiler and rendered deterministically.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/foobar/webstack/components/inputs"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal map[string]any            `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// Allow is an Allow statement of actions on resources.
func Allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources}
}

// ARN is the ARN of a resource in a partition (aws, aws-cn, aws-us-gov):
// arn:<partition>:<service>:<region>:<account>:<resource>. Region and
// account are empty for global resources (S3 buckets). Every ARN webstack
// writes is made here, so none assumes the commercial partition.
func ARN(partition, service, region, account, resource string) string {
	return "arn:" + partition + ":" + service + ":" + region + ":" + account + ":" + resource
}

// AssumeRole is the trust policy letting an AWS service assume a role.
func AssumeRole(service string) string {
	return Document(Statement{
		Effect:    "Allow",
		Principal: map[string]any{"Service": service},
		Action:    []string{"sts:AssumeRole"},
	})
}

// AssumeRoleFrom is the trust policy letting an AWS service assume a role
// only on behalf of resources of one account whose ARNs match sourceArn
// (aws:SourceAccount and aws:SourceArn): the service cannot be made to use
// the role for another account's resources (the confused deputy).
func AssumeRoleFrom(service, account, sourceArn string) string {
	return Document(Statement{
		Effect:    "Allow",
		Principal: map[string]any{"Service": service},
		Action:    []string{"sts:AssumeRole"},
		Condition: map[string]map[string]any{
			"StringEquals": {"aws:SourceAccount": account},
			"ArnLike":      {"aws:SourceArn": sourceArn},
		},
	})
}

// Document renders a policy document.
func Document(statements ...Statement) string {
	b, err := json.Marshal(struct {
		Version   string      `json:"Version"`
		Statement []Statement `json:"Statement"`
	}{"2012-10-17", statements})
	if err != nil {
		panic(err) // only strings and maps of strings: cannot fail
	}
	return string(b)
}

// FromARNs renders a policy document once the ARNs it names are known.
func FromARNs(arns pulumi.StringArrayInput, statements func(arns []string) []Statement) pulumi.StringOutput {
	return arns.ToStringArrayOutput().ApplyT(func(a []string) string {
		return Document(statements(a)...)
	}).(pulumi.StringOutput)
}

// ValidPrincipal reports whether arn is an IAM principal's ARN: a role, a
// user, the root, or a role's session (inputs.Principal).
func ValidPrincipal(arn string) bool { return inputs.Principal.Match(arn) }

// ReadersOf is the aws:PrincipalArn patterns of principals (PrincipalArns
// of each), in order, without duplicates.
func ReadersOf(principals []string) []string {
	var out []string
	for _, p := range principals {
		for _, a := range PrincipalArns(p) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// PrincipalArns is how aws:PrincipalArn sees the caller GetCallerIdentity
// names: a role session (arn:aws:sts::1:assumed-role/Name/session) is its
// role, whose path the session ARN omits, hence the role with any path
// (arn:aws:iam::1:role/Name, arn:aws:iam::1:role/*/Name, for ArnLike); a
// user or root is itself.
func PrincipalArns(callerArn string) []string {
	parts := strings.SplitN(callerArn, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		role := strings.SplitN(strings.TrimPrefix(parts[5], "assumed-role/"), "/", 2)[0]
		return []string{
			ARN(parts[1], "iam", "", parts[4], "role/"+role),
			ARN(parts[1], "iam", "", parts[4], "role/*/"+role),
		}
	}
	return []string{callerArn}
}

// OnlyReaders is a secret's resource policy: it denies
// secretsmanager:GetSecretValue to every principal whose ARN matches none
// of readers (ArnNotLike aws:PrincipalArn), whatever IAM policies
// elsewhere in the account allow. It grants nothing itself: readers still
// need an identity policy allowing the read.
func OnlyReaders(readers []string) string {
	return Document(Statement{
		Sid:       "OnlyTheNamedPrincipalsReadTheValue",
		Effect:    "Deny",
		Principal: map[string]any{"AWS": "*"},
		Action:    []string{"secretsmanager:GetSecretValue"},
		Resource:  []string{"*"},
		Condition: map[string]map[string]any{"ArnNotLike": {"aws:PrincipalArn": readers}},
	})
}

// boundaryRe is a managed policy's ARN: arn:PARTITION:iam::ACCOUNT:policy/
// [PATH/]NAME, or an AWS managed policy's (ACCOUNT "aws").
var boundaryRe = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,128}$`)

// CheckBoundary says whether arn can be a role's permissions boundary: ""
// (none) or a managed policy's ARN.
func CheckBoundary(arn string) error {
	if arn == "" || boundaryRe.MatchString(arn) {
		return nil
	}
	return fmt.Errorf("%s is not an IAM managed policy ARN (arn:PARTITION:iam::ACCOUNT:policy/NAME)", inputs.Show("PermissionsBoundary", arn))
}

// Boundary is the PermissionsBoundary input of a role: nil for none.
func Boundary(arn string) pulumi.StringPtrInput {
	if arn == "" {
		return nil
	}
	return pulumi.String(arn)
}
