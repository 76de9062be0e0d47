// Package iampolicy writes IAM policy documents from Go values, so that
// policies are checked by the compiler and rendered deterministically.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"regexp"

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

// ValidPrincipal reports whether p may name a principal in a resource
// policy (inputs.PrincipalPattern: a role, user, root, federated user or
// role session; ArnLike's * and ?).
func ValidPrincipal(p string) bool { return inputs.PrincipalPattern.Match(p) }

// ReadersOf is the aws:PrincipalArn values that name principals (a role
// session: its role, any path): inputs.PrincipalArnsOf, their one owner.
func ReadersOf(principals []string) []string { return inputs.PrincipalArnsOf(principals) }

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
