package mocks_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type component struct{ pulumi.ResourceState }

// Two resources with one URN are refused, as the engine refuses them; a
// name under two parents of different types is two URNs.
func TestDuplicateURNIsRefused(t *testing.T) {
	register := func(names ...[2]string) error {
		_, err := mocks.Run(func(ctx *pulumi.Context) error {
			for _, n := range names {
				if err := ctx.RegisterComponentResource(n[0], n[1], &component{}); err != nil {
					return err
				}
			}
			return nil
		}, mocks.Options{Project: "p", Stack: "s"})
		return err
	}
	err := register([2]string{"test:index:Thing", "a"}, [2]string{"test:index:Thing", "a"})
	if err == nil || !strings.Contains(err.Error(), "Duplicate resource URN 'urn:pulumi:s::p::test:index:Thing::a'") {
		t.Errorf("a second resource with the same URN: %v", err)
	}
	if err := register([2]string{"test:index:Thing", "a"}, [2]string{"test:index:Other", "a"}, [2]string{"test:index:Thing", "b"}); err != nil {
		t.Errorf("distinct URNs were refused: %v", err)
	}
}
