package inputs_test

import (
	"strings"
	"testing"

	"github.com/foobar/webstack/components/inputs"
)

// Hostile values every pattern refuses: each would run a command, or add
// a line, if written into an env file a script sources or a daemon's
// configuration.
var hostile = []string{"x\nrm -rf /", "$(id)", "`id`", `a"b`, "a'b", "a;b", "a b", "${HOME}", "a\\b", "a\rb", "a|b", "a&b", "a>b"}

func TestEveryPatternRefusesShellAndConfigSyntax(t *testing.T) {
	for name, p := range map[string]inputs.Pattern{
		"Region": inputs.Region, "HostName": inputs.HostName, "SecretID": inputs.SecretID,
		"GroupName": inputs.GroupName, "Partition": inputs.Partition, "AccountID": inputs.AccountID,
	} {
		for _, v := range hostile {
			c := inputs.New("test")
			c.Check(name, v, p)
			err := c.Err()
			if err == nil {
				t.Errorf("%s accepts %q", name, v)
				continue
			}
			if !strings.Contains(err.Error(), "test: Args."+name+" = ") {
				t.Errorf("%s: error %q does not name the field", name, err)
			}
		}
	}
}

func TestOrdinaryValuesPass(t *testing.T) {
	c := inputs.New("test")
	c.Check("Region", "us-gov-west-1", inputs.Region)
	c.Check("HostName", "www.foobar.com", inputs.HostName)
	c.Check("SecretID", "site/pem", inputs.SecretID)
	c.Check("SecretID", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:site/pem-AbCdEf", inputs.SecretID)
	c.Check("GroupName", "webstack-prod-web", inputs.GroupName)
	c.Optional("SecretID", "", inputs.SecretID)
	if err := c.Err(); err != nil {
		t.Error(err)
	}
}
