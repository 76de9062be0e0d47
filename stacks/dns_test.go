package stacks_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/stacks"
)

// Stacks that share a hosted zone never write the same record: prod owns
// www.<domain>; any other stack that writes a record must name itself in
// its domain.
func TestOnlyProdWritesTheDefaultRecord(t *testing.T) {
	zone := `"hostedZoneId": "Z0123456789ABCDEFGHIJ"`
	for _, c := range []struct {
		stack, dns string
		ok         bool
	}{
		{"dev", `{"domain": "foobar.com", ` + zone + `}`, false},
		{"staging", `{"domain": "example.org", ` + zone + `}`, false},
		{"staging", `{"domain": "dev.foobar.com", ` + zone + `}`, false}, // another stack's
		{"dev", `{"domain": "dev.foobar.com", ` + zone + `}`, true},
		{"staging", `{"domain": "staging.foobar.com", ` + zone + `}`, true},
		{"prod", `{"domain": "foobar.com", ` + zone + `}`, true},
		{"dev", `{"domain": "foobar.com"}`, true}, // no record written: no clash
	} {
		_, err := stacks.FromConfig("webstack", c.stack, "us-east-1", lookup(map[string]string{"dns": c.dns}))
		if c.ok && err != nil {
			t.Errorf("%s %s: refused: %v", c.stack, c.dns, err)
		}
		if !c.ok {
			if err == nil {
				t.Errorf("%s %s: accepted; it writes the record of another stack", c.stack, c.dns)
				continue
			}
			if want := "webstack:dns.domain"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "such as "+c.stack+".") {
				t.Errorf("%s %s: error %q does not name %s and the domain to use", c.stack, c.dns, err, want)
			}
		}
	}
}
