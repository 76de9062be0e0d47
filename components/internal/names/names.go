// Package names gives webstack's resources their Name tags: the project,
// the stack and the resource's own name, so the AWS console reads like the
// Pulumi program.
package names

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Tag returns the Name tag value for a resource of this stack.
func Tag(ctx *pulumi.Context, name string) string {
	return fmt.Sprintf("%s-%s-%s", ctx.Project(), ctx.Stack(), name)
}

// Tags returns tags holding just the Name tag; the provider adds the common
// tags (Project, Environment, ManagedBy and the user's).
func Tags(ctx *pulumi.Context, name string) pulumi.StringMap {
	return pulumi.StringMap{"Name": pulumi.String(Tag(ctx, name))}
}
