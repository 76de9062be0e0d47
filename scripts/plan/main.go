// Command plan prints webstack's offline plan of a stack: every resource
// `pulumi up` would create, with its inputs and options, the stack outputs
// and the guardrails' findings, rendered under Pulumi mocks (no AWS account,
// no Pulumi CLI). It exits 1 if a guardrail finds anything of high or
// critical severity, 2 if the plan cannot be rendered.
//
//	go run ./scripts/plan -stack prod
//	go run ./scripts/plan -stack dev -dir path/to/project
//
// The output is the same on every machine; testdata/plans/<stack>.txt
// holds each stack's (go test ./internal/plan/ -update rewrites them).
package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/foobar/webstack/components/apptier/release"
	"os"

	"github.com/foobar/webstack/internal/plan"
)

func main() {
	stack := flag.String("stack", "", "the stack to plan: dev, staging or prod (Pulumi.<stack>.yaml)")
	dir := flag.String("dir", "", "the project directory, holding Pulumi.yaml (default: the nearest directory with a go.mod, upward from here)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./scripts/plan -stack <stack> [-dir <project dir>]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *stack == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*stack, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "plan: %v\n", err)
		var blocking blockingError
		if errors.As(err, &blocking) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

type blockingError int

func (n blockingError) Error() string {
	return fmt.Sprintf("%d guardrail findings of high or critical severity", int(n))
}

func run(stack, dir string) error {
	if dir == "" {
		var err error
		if dir, err = release.ModuleRoot(); err != nil {
			return err
		}
	}
	// Pulumi runs the program in the project directory: the default
	// application is built from there.
	if err := os.Chdir(dir); err != nil {
		return err
	}
	p, err := plan.Render(".", stack)
	if err != nil {
		return err
	}
	if _, err := os.Stdout.WriteString(p.Text); err != nil {
		return err
	}
	if n := len(p.Blocking()); n > 0 {
		return blockingError(n)
	}
	return nil
}
