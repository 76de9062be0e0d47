// Command webstack is the Pulumi program of www.foobar.com's web stack. Run
// it with the Pulumi CLI: pulumi up -s dev. See README.md.
package main

import (
	"github.com/foobar/webstack/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() { pulumi.Run(infra.Program) }
