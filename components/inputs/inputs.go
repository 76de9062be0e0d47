// Package inputs checks the component inputs that end up in files on a
// host, and owns the patterns of names webstack accepts (stack settings
// use them too): env files that scripts source, scripts, daemon configurations
// (HAProxy, nginx, keepalived) and cloud-config. Whatever program builds a
// component, a value must match its field's pattern, which admits no
// newline, quote, $, backtick, semicolon, space or other character a shell
// or a configuration parser would interpret: an input can never execute
// on a host. Errors name the component, the field, the value (rendered by
// package redact: hidden if it looks like a secret, cut if long) and what
// is allowed.
package inputs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/foobar/webstack/internal/redact"
)

// Partitions are the AWS partitions webstack supports: every ARN it writes
// or accepts is in one of them.
var Partitions = []string{"aws", "aws-cn", "aws-us-gov"}

var partitionAlt = "(" + strings.Join(Partitions, "|") + ")"

// Pattern is what a kind of input may be.
type Pattern struct {
	re      *regexp.Regexp
	allowed string
}

// Patterns of the inputs components write onto hosts.
var (
	Region = Pattern{regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`), "an AWS region name such as us-east-1"}
	// HostName is a DNS name (the site's name).
	HostName = Pattern{regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`),
		"a lower-case DNS name such as www.example.org"}
	// SecretID is a Secrets Manager secret's name or ARN.
	SecretID = Pattern{regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:` + partitionAlt + `:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$`),
		"a Secrets Manager secret name (letters, digits and / _ + = . @ -) or ARN"}
	// GroupName is an Auto Scaling group's name as webstack makes them.
	GroupName = Pattern{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`),
		"an Auto Scaling group name (letters, digits and . _ -)"}
	Partition = Pattern{regexp.MustCompile(`^` + partitionAlt + `$`), "an AWS partition webstack supports: " + strings.Join(Partitions, ", ")}
	// Principal is an IAM principal's ARN: a role, a user, the account
	// root, or a role's session as GetCallerIdentity names it.
	Principal = Pattern{regexp.MustCompile(`^arn:` + partitionAlt + `:(iam::[0-9]{12}:(root|(role|user)/[A-Za-z0-9+=,.@_/-]+)|sts::[0-9]{12}:assumed-role/[A-Za-z0-9+=,.@_-]+/[A-Za-z0-9+=,.@_-]+)$`),
		"the ARN of an IAM role, user, root or role session"}
	// BucketName is an S3 bucket's name.
	BucketName = Pattern{regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`), "an S3 bucket name (3 to 63 lower-case letters, digits, dots or hyphens)"}
	AccountID  = Pattern{regexp.MustCompile(`^[0-9]{12}$`), "a 12-digit AWS account id"}
	// ObjectKey is an S3 object key as webstack makes them (bundles,
	// releases).
	ObjectKey = Pattern{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,999}$`), "an S3 object key (letters, digits and . _ / -)"}
	// PackageName is an RPM package name as dnf installs it (webstack-sync
	// passes it to dnf from the host's env file).
	PackageName = Pattern{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`), "an RPM package name (letters, digits and . _ + -, starting with a letter or digit)"}
)

// Match reports whether a value is of the pattern's kind.
func (p Pattern) Match(value string) bool { return p.re.MatchString(value) }

// Allowed says what the pattern admits, for error messages.
func (p Pattern) Allowed() string { return p.allowed }

// Checker collects the problems of one component's inputs.
type Checker struct {
	component string
	errs      []error
}

// New starts checking a component's inputs (its name prefixes errors).
func New(component string) *Checker { return &Checker{component: component} }

// Check records a problem if value does not match p.
func (c *Checker) Check(field, value string, p Pattern) {
	if !p.Match(value) {
		c.errs = append(c.errs, fmt.Errorf("%s: Args.%s = %s: must be %s", c.component, field, Show(field, value), p.allowed))
	}
}

// Optional is Check for an input that may be empty.
func (c *Checker) Optional(field, value string, p Pattern) {
	if value != "" {
		c.Check(field, value, p)
	}
}

// Account checks where a component's resources live, as every component
// that writes them onto a host takes them (Region, Partition and
// AccountID, each optional).
func (c *Checker) Account(region, partition, accountID string) {
	c.Optional("Region", region, Region)
	c.Optional("Partition", partition, Partition)
	c.Optional("AccountID", accountID, AccountID)
}

// Show renders a component input for an error message (package redact:
// quoted, hidden if it looks like a secret, cut if long). Every component
// error that quotes an input renders it here.
func Show(field, value string) string { return redact.Value(field, value, false, true) }

// Err is every problem found, or nil.
func (c *Checker) Err() error { return errors.Join(c.errs...) }
