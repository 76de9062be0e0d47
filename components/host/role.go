package host

import (
	"fmt"

	"github.com/foobar/webstack/components/internal/iampolicy"
	"github.com/foobar/webstack/components/internal/names"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SessionManagerActions are what the SSM agent calls so that Session
// Manager reaches the host (no SSH): register and report the instance
// (ssm:UpdateInstanceInformation) and open the session's control and data
// channels (ssmmessages). This is AWS's documented minimum instance
// permission for Session Manager (the same actions as the AWS managed
// policy AWSCloud9SSMInstanceProfile); none of them takes a resource ARN,
// so the statement names "*". Unlike AmazonSSMManagedInstanceCore it does
// not let a host read every SSM parameter of the account
// (ssm:GetParameter(s) on *), nor fetch documents, associations, patch
// baselines or Run Command messages (ec2messages): webstack's hosts use
// none of them (their images come from the program's own
// getParameter lookup, their configuration from the stack's bucket).
var SessionManagerActions = []string{
	"ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel",
	"ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
}

// SessionManagerPolicy is the inline policy every host role carries.
func SessionManagerPolicy() string {
	return iampolicy.Document(iampolicy.Allow("SessionManager", SessionManagerActions, "*"))
}

// RoleArgs configures a tier's role.
type RoleArgs struct {
	// Description of what the tier's hosts do.
	Description string
	// Policy is the tier's own inline policy document (JSON), granting only
	// what its hosts call. Optional.
	Policy pulumi.StringInput
	// PermissionsBoundary is the ARN of a managed policy the role carries
	// as its permissions boundary: the most it may do, whatever its
	// policies say. Optional ("": none).
	PermissionsBoundary string
}

// CheckPermissionsBoundary reports a PermissionsBoundary that is not ""
// or a managed policy's ARN.
func CheckPermissionsBoundary(arn string) error { return iampolicy.CheckBoundary(arn) }

// Role is the IAM role and instance profile the hosts of one tier share.
type Role struct {
	pulumi.ResourceState

	Role    *iam.Role
	Profile *iam.InstanceProfile
	// ProfileName is what host.Args.InstanceProfile takes; ProfileArn what
	// a launch template takes.
	ProfileName, ProfileArn pulumi.StringOutput
	// RoleArn identifies the role in resource policies.
	RoleArn pulumi.StringOutput
}

// NewRole creates a role EC2 may assume, with Session Manager access (an
// inline policy of SessionManagerActions only) and the tier's policy, and
// its instance profile.
func NewRole(ctx *pulumi.Context, name string, args RoleArgs, opts ...pulumi.ResourceOption) (*Role, error) {
	if err := CheckPermissionsBoundary(args.PermissionsBoundary); err != nil {
		return nil, fmt.Errorf("host role %s: PermissionsBoundary %w", name, err)
	}
	r := &Role{}
	if err := ctx.RegisterComponentResource("webstack:host:Role", name, r, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(r)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:         pulumi.String(args.Description),
		AssumeRolePolicy:    pulumi.String(iampolicy.AssumeRole("ec2.amazonaws.com")),
		PermissionsBoundary: iampolicy.Boundary(args.PermissionsBoundary),
		Tags:                names.Tags(ctx, name),
	}, child)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-ssm", &iam.RolePolicyArgs{
		Role: role.ID(), Policy: pulumi.String(SessionManagerPolicy()),
	}, child); err != nil {
		return nil, err
	}
	if args.Policy != nil {
		if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.ID(), Policy: args.Policy}, child); err != nil {
			return nil, err
		}
	}
	profile, err := iam.NewInstanceProfile(ctx, name, &iam.InstanceProfileArgs{
		Role: role.Name, Tags: names.Tags(ctx, name),
	}, child)
	if err != nil {
		return nil, err
	}
	r.Role, r.Profile, r.ProfileName, r.ProfileArn, r.RoleArn = role, profile, profile.Name, profile.Arn, role.Arn
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"roleArn": role.Arn, "instanceProfile": profile.Name})
}

// AddPolicy attaches another inline policy to the role, for permissions that
// name resources created after the role, such as the tier's own instances.
func (r *Role) AddPolicy(ctx *pulumi.Context, name string, policy pulumi.StringInput) error {
	_, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: r.Role.ID(), Policy: policy}, pulumi.Parent(r))
	return err
}
