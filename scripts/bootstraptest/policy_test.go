package bootstraptest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// An IAM policy document, as the scripts write it, and a small evaluator of
// the part of IAM's policy language they use: Action/NotAction,
// Resource/NotResource with * and ? wildcards, and the condition operators
// StringEquals, StringNotEquals, StringLike, StringNotLike and Null, with
// IAM's rule for a key missing from the request (a positive operator does
// not match, a negated one does). An explicit Deny wins over any Allow; no
// Allow is an implicit deny. The tests ask it what a role may do instead of
// matching the documents' text, so a statement reworded keeps passing and a
// hole, however written, fails.

type document struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid         string
	Effect      string
	Principal   map[string]strings_
	Action      strings_
	NotAction   strings_
	Resource    strings_
	NotResource strings_
	Condition   map[string]map[string]strings_
}

// strings_ is a JSON string or list of strings.
type strings_ []string

func (s *strings_) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strings_{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func parseDocument(t *testing.T, name, text string) document {
	t.Helper()
	var d document
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: not a policy document: %v\n%s", name, err, text)
	}
	if d.Version != "2012-10-17" {
		t.Errorf("%s: Version %q, want 2012-10-17", name, d.Version)
	}
	for _, s := range d.Statement {
		if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
			t.Errorf("%s: statement %q: want exactly one of Action and NotAction", name, s.Sid)
		}
		if s.Principal == nil && (len(s.Resource) == 0) == (len(s.NotResource) == 0) {
			t.Errorf("%s: statement %q: want exactly one of Resource and NotResource", name, s.Sid)
		}
		if s.Effect != "Allow" && s.Effect != "Deny" {
			t.Errorf("%s: statement %q: Effect %q", name, s.Sid, s.Effect)
		}
	}
	return d
}

// request is one API call as IAM sees it.
type request struct {
	action, resource string
	context          map[string]string // condition keys present
}

type decision string

const (
	allowed    decision = "allowed"
	denied     decision = "explicitly denied"
	notAllowed decision = "not allowed (no statement allows it)"
)

// evaluate is the decision of the document alone, and the statement that
// decided it.
func (d document) evaluate(r request) (decision, string) {
	result, by := notAllowed, ""
	for _, s := range d.Statement {
		if !s.matches(r) {
			continue
		}
		if s.Effect == "Deny" {
			return denied, s.Sid
		}
		result, by = allowed, s.Sid
	}
	return result, by
}

func (s statement) matches(r request) bool {
	if len(s.Action) > 0 && !anyGlob(s.Action, r.action, true) {
		return false
	}
	if len(s.NotAction) > 0 && anyGlob(s.NotAction, r.action, true) {
		return false
	}
	if s.Principal == nil {
		if len(s.Resource) > 0 && !anyGlob(s.Resource, r.resource, false) {
			return false
		}
		if len(s.NotResource) > 0 && anyGlob(s.NotResource, r.resource, false) {
			return false
		}
	}
	for op, keys := range s.Condition {
		for key, values := range keys {
			if !condition(op, key, values, r.context) {
				return false
			}
		}
	}
	return true
}

func condition(op, key string, values []string, ctx map[string]string) bool {
	got, present := lookup(ctx, key)
	switch op {
	case "StringEquals":
		return present && anyEqual(values, got)
	case "StringNotEquals":
		return !present || !anyEqual(values, got)
	case "StringLike":
		return present && anyGlob(values, got, false)
	case "StringNotLike":
		return !present || !anyGlob(values, got, false)
	case "Null":
		return len(values) == 1 && (values[0] == "true") == !present
	}
	panic(fmt.Sprintf("condition operator %s: not modelled; extend the evaluator", op))
}

// lookup finds a condition key; IAM's keys are case-insensitive.
func lookup(ctx map[string]string, key string) (string, bool) {
	for k, v := range ctx {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func anyEqual(values []string, s string) bool {
	for _, v := range values {
		if v == s {
			return true
		}
	}
	return false
}

// anyGlob: IAM's wildcards, * (any run of characters, / included) and ?.
func anyGlob(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if glob(p, s) {
			return true
		}
	}
	return false
}

func glob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(p[1:], s[1:])
	}
	return s != "" && s[0] == p[0] && glob(p[1:], s[1:])
}

// The evaluator itself is tested: a test that trusts a broken evaluator
// proves nothing.
func TestEvaluator(t *testing.T) {
	d := document{Version: "2012-10-17", Statement: []statement{
		{Sid: "A", Effect: "Allow", Action: strings_{"kms:Decrypt"}, Resource: strings_{"arn:aws:kms:*:1:key/a"}},
		{Sid: "S", Effect: "Allow", Action: strings_{"s3:GetObject"}, Resource: strings_{"arn:aws:s3:::b/.pulumi/stacks/p/dev.json*"}},
		{Sid: "T", Effect: "Allow", Action: strings_{"secretsmanager:GetSecretValue"}, Resource: strings_{"*"},
			Condition: map[string]map[string]strings_{"StringEquals": {"aws:ResourceTag/Environment": {"dev"}}}},
		{Sid: "D", Effect: "Deny", Action: strings_{"secretsmanager:*"}, Resource: strings_{"*"},
			Condition: map[string]map[string]strings_{"StringNotEquals": {"aws:ResourceTag/Environment": {"dev"}}, "Null": {"aws:ResourceTag/Environment": {"false"}}}},
		{Sid: "N", Effect: "Deny", NotAction: strings_{"kms:Decrypt"}, Resource: strings_{"arn:aws:kms:*:1:key/a"}},
	}}
	for _, tc := range []struct {
		r    request
		want decision
	}{
		{request{"kms:Decrypt", "arn:aws:kms:us-east-1:1:key/a", nil}, allowed},
		{request{"KMS:decrypt", "arn:aws:kms:us-east-1:1:key/a", nil}, allowed},
		{request{"kms:Decrypt", "arn:aws:kms:us-east-1:1:key/b", nil}, notAllowed},
		{request{"kms:ScheduleKeyDeletion", "arn:aws:kms:us-east-1:1:key/a", nil}, denied},
		{request{"s3:GetObject", "arn:aws:s3:::b/.pulumi/stacks/p/dev.json.gz", nil}, allowed},
		{request{"s3:GetObject", "arn:aws:s3:::b/.pulumi/stacks/p/prod.json", nil}, notAllowed},
		{request{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:x", map[string]string{"aws:ResourceTag/Environment": "dev"}}, allowed},
		{request{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:x", map[string]string{"aws:resourcetag/environment": "prod"}}, denied},
		{request{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:r:1:secret:x", nil}, notAllowed},
	} {
		if got, by := d.evaluate(tc.r); got != tc.want {
			t.Errorf("%s on %s %v: %s (by %q), want %s", tc.r.action, tc.r.resource, tc.r.context, got, by, tc.want)
		}
	}
}
