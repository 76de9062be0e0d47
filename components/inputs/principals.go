package inputs

import (
	"regexp"
	"slices"
	"strings"
)

// Principals are the IAM principals that run Pulumi for a stack, as the
// stack's resource policies name them (the bucket's, the secrets'): by the
// value of aws:PrincipalArn, matched with ArnLike. This file is their one
// owner: the settings' forms, what a role session stands for, and whether
// a list covers a caller.

var (
	// PrincipalPattern is what a policy may name as aws:PrincipalArn: a
	// role (with its path), a user, an account root or a federated user,
	// ArnLike's * and ? allowed; or a role session as GetCallerIdentity
	// names it, which stands for its role (PrincipalArns).
	PrincipalPattern = Pattern{regexp.MustCompile(`^arn:` + partitionAlt + `:(iam::[0-9]{12}:(root|(role|user)/[A-Za-z0-9+=,.@_/*?-]+)|sts::[0-9]{12}:(federated-user/[A-Za-z0-9+=,.@_*?-]+|assumed-role/[A-Za-z0-9+=,.@_-]+/[A-Za-z0-9+=,.@_-]+))$`),
		"the ARN of an IAM role (with its path), user, account root, federated user or role session (* and ? match as in ArnLike)"}
	assumedRole = regexp.MustCompile(`^arn:` + partitionAlt + `:sts::([0-9]{12}):assumed-role/([A-Za-z0-9+=,.@_-]+)/[^/]+$`)
)

// ExpandPrincipal turns a principal given relative to the stack's account
// (role/<path/><name>, user/<name>, root), as a stack file may, into its
// ARN in partition and account; anything else is returned as is.
func ExpandPrincipal(p, partition, account string) string {
	if strings.HasPrefix(p, "role/") || strings.HasPrefix(p, "user/") || p == "root" {
		return "arn:" + partition + ":iam::" + account + ":" + p
	}
	return p
}

// PrincipalArns is how aws:PrincipalArn sees a principal: a role session
// (arn:P:sts::A:assumed-role/R/S, as GetCallerIdentity names a role's
// caller) is its role, whose ARN has a path the session's does not show,
// hence arn:P:iam::A:role/R and arn:P:iam::A:role/*/R (role names are
// unique in an account, whatever their path); anything else is itself.
func PrincipalArns(arn string) []string {
	if m := assumedRole.FindStringSubmatch(arn); m != nil {
		base := "arn:" + m[1] + ":iam::" + m[2] + ":role/"
		return []string{base + m[3], base + "*/" + m[3]}
	}
	return []string{arn}
}

// PrincipalArnsOf is PrincipalArns of each principal, in order, without
// duplicates: the values a policy's aws:PrincipalArn condition lists.
func PrincipalArnsOf(principals []string) []string {
	var out []string
	for _, p := range principals {
		for _, a := range PrincipalArns(p) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Covers reports whether a policy naming principals would match the
// caller GetCallerIdentity names (a role session: its role, whatever the
// role's path), as ArnLike on aws:PrincipalArn does.
func Covers(principals []string, callerArn string) bool {
	callers := PrincipalArns(callerArn)
	for _, pattern := range PrincipalArnsOf(principals) {
		for _, c := range callers {
			if arnLike(pattern, c) {
				return true
			}
		}
		// A session's role may have a path its ARN does not show.
		if m := assumedRole.FindStringSubmatch(callerArn); m != nil {
			base := "arn:" + m[1] + ":iam::" + m[2] + ":role/"
			if strings.HasPrefix(pattern, base) && strings.HasSuffix(pattern, "/"+m[3]) {
				return true
			}
		}
	}
	return false
}

// arnLike is ArnLike's match: * any run of characters, ? one.
func arnLike(pattern, arn string) bool {
	re := strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern))
	ok, _ := regexp.MatchString("^"+re+"$", arn)
	return ok
}
