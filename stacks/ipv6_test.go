package stacks_test

import (
	"strings"
	"testing"
)

// The site is IPv4 only: IPv6 client blocks are refused rather than
// accepted and ignored.
func TestIPv6ClientBlocksAreRefused(t *testing.T) {
	msg := problemsOf(t, map[string]string{"loadBalancer": `{"allowedIpv6Cidrs": ["::/0"]}`})
	if !strings.Contains(msg, `webstack:loadBalancer.allowedIpv6Cidrs = ["::/0"]: must be empty: the site's address is IPv4 only`) {
		t.Errorf("error: %s", msg)
	}
}
