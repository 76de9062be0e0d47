// Package infra is the diagram of www.foobar.com as a Pulumi program:
//
//	user ─► internet ─► [ lb1 + lb2: HAProxy, keepalived, one Elastic IP ]
//	                     ─► web servers (nginx) ─► app servers ─► database (RDS)
//
// Program loads the stack's settings (package stacks), looks up what AWS
// must tell us (zones, images) and then builds each box of the diagram with
// a component from package components, wiring tier to tier. Nothing is
// registered until every setting and lookup has been checked.
package infra

import (
	"github.com/foobar/webstack/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"maps"
	"slices"
)

// Program is the webstack Pulumi program: main.go runs it with pulumi.Run,
// tests run it under mocks.
func Program(ctx *pulumi.Context) error {
	site, err := BuildStack(ctx)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(site.Outputs)) {
		ctx.Export(name, site.Outputs[name])
	}
	return nil
}

// BuildStack is the program's body: it loads the stack's settings and
// builds the site. Program exports the site's outputs; tools that run the
// program under mocks (the offline plan) call BuildStack to read them.
func BuildStack(ctx *pulumi.Context) (*Site, error) {
	settings, err := stacks.Load(ctx)
	if err != nil {
		return nil, err
	}
	return Build(ctx, settings)
}
