package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/foobar/webstack/internal/redact"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Lookup returns the raw value of a config key of the project namespace
// ("network", not "webstack:network") and whether it is set.
type Lookup func(key string) (string, bool)

// Load reads the stack's settings from Pulumi config, applies the defaults
// and validates them. The error lists every problem found: keys of the
// project namespace the program does not read, values set with --secret
// that are not secrets, and every invalid value.
func Load(ctx *pulumi.Context) (*Settings, error) {
	project := config.New(ctx, "")
	region, _ := config.New(ctx, "aws").Try("region")
	var problems Problems
	if cfg, ok := stackConfig(ctx); ok {
		problems = append(problems, CheckKeys(ctx.Project(), slices.Collect(maps.Keys(cfg)))...)
	}
	for _, key := range ConfigKeys() {
		// No setting but one is a secret: a secure value would reach the program
		// decrypted under pulumi up but as a placeholder in the offline
		// plan, and be printed in messages and plans as plain text.
		if full := ctx.Project() + ":" + key; ctx.IsConfigSecret(full) && !SecretAllowed(key) {
			v, _ := project.Try(key)
			problems = append(problems, Problem{Key: full, Value: v, Secret: true, Message: "is set with --secret (secure:), but it is not a secret and would be shown in plain text in plans and resources; set it without --secret (only webstack:monitoring may be secret, for its webhooks: the program makes its passwords itself)"})
		}
	}
	s, err := FromConfig(ctx.Project(), ctx.Stack(), region, func(key string) (string, bool) {
		if ctx.IsConfigSecret(ctx.Project()+":"+key) && !SecretAllowed(key) {
			return "", false // refused above; never decoded, never quoted
		}
		v, err := project.Try(key)
		return v, err == nil
	})
	if err != nil {
		loaded, ok := err.(Problems)
		if !ok {
			return nil, err
		}
		problems = append(problems, loaded...)
	}
	if len(problems) > 0 {
		// A secret config key's value is never shown, whatever it holds.
		for i, p := range problems {
			problems[i].Secret = p.Secret || ctx.IsConfigSecret(ConfigKeyOf(p.Key))
		}
		return nil, problems
	}
	return s, nil
}

// ConfigKeyOf is the config key a problem's key belongs to:
// webstack:database for webstack:database.password, webstack:tags for
// webstack:tags.Owner.
func ConfigKeyOf(problemKey string) string {
	ns, rest, ok := strings.Cut(problemKey, ":")
	if !ok {
		return problemKey
	}
	top, _, _ := strings.Cut(rest, ".")
	top, _, _ = strings.Cut(top, "[")
	return ns + ":" + top
}

// FromConfig builds and validates Settings from raw config values. Load is
// this with Pulumi's config; tests call it directly.
func FromConfig(project, stack, region string, get Lookup) (*Settings, error) {
	s := Defaults()
	s.Project, s.Stack, s.Region = project, stack, region
	var problems Problems

	s.Environment = Environment(stack)
	var envProblems Problems
	if v, ok := get("environment"); ok && v != "" {
		s.Environment = Environment(v)
		if named := Environment(stack); slices.Contains(Environments, named) && s.Environment != named {
			// The environment selects the protections: Pulumi.prod.yaml
			// saying dev would turn every one of prod's off.
			envProblems = append(envProblems, Problem{Key: project + ":environment", Value: v, Message: fmt.Sprintf(
				"must be %s (or unset) in stack %s: the stacks named dev, staging and prod take their own environment's rules, which the environment selects", stack, stack)})
			s.Environment = named // and its rules are the ones checked below
		}
	} else if !slices.Contains(Environments, s.Environment) {
		envProblems = append(envProblems, Problem{Key: project + ":environment", Value: nil, Message: fmt.Sprintf(
			"must be set in stack %s: a stack not named dev, staging or prod says which environment's rules it takes (dev, staging or prod)", redact.Name(stack))})
		s.Environment = "" // reported here, not again by Validate
	}
	if v, ok := get("permissionsBoundary"); ok {
		s.PermissionsBoundary = v
	}
	for _, key := range objectKeys() {
		raw, ok := get(key.name)
		if !ok {
			continue
		}
		problems = append(problems, decodeObject(project+":"+key.name, raw, key.field(&s))...)
	}
	if len(problems) > 0 {
		// Values that did not decode would only produce follow-on noise.
		return nil, append(envProblems, problems...)
	}
	if s.Environment == "" {
		s.Environment = Dev // for the rules below only: the stack is refused anyway
	}
	if p := append(envProblems, s.Validate()...); len(p) > 0 {
		return nil, p
	}
	return &s, nil
}

// objectKey is one structured config key and the settings field it fills.
type objectKey struct {
	name  string
	field func(*Settings) any
}

// objectKeys are the structured keys, one per JSON-named field of
// Settings (objectFields), in the struct's order.
func objectKeys() []objectKey {
	var keys []objectKey
	for _, f := range objectFields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		index := f.Index
		keys = append(keys, objectKey{name, func(s *Settings) any {
			return reflect.ValueOf(s).Elem().FieldByIndex(index).Addr().Interface()
		}})
	}
	return keys
}

// ConfigKeys lists every key of the project namespace Load reads.
// The plain keys are the fields of Settings with a config tag; the
// structured ones, its JSON-named fields.
func ConfigKeys() []string {
	var keys []string
	t := reflect.TypeFor[Settings]()
	for i := 0; i < t.NumField(); i++ {
		if key := t.Field(i).Tag.Get("config"); key != "" {
			keys = append(keys, key)
		}
	}
	for _, k := range objectKeys() {
		keys = append(keys, k.name)
	}
	return keys
}

// decodeObject decodes one structured config value into dst (a pointer to a
// struct already holding the defaults, or to a map), field by field, so that
// every unknown or mistyped field is reported, not just the first.
func decodeObject(key, raw string, dst any) Problems {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		return Problems{{Key: key, Value: raw, Message: "must be an object (a YAML mapping)"}}
	}
	target := reflect.ValueOf(dst).Elem()
	if target.Kind() == reflect.Map {
		m := map[string]string{}
		var problems Problems
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			var v string
			if err := json.Unmarshal(fields[name], &v); err != nil {
				problems = append(problems, Problem{Key: key + "." + redact.Name(name), Value: rawJSON(fields[name]), Message: "must be a string"})
				continue
			}
			m[name] = v
		}
		target.Set(reflect.ValueOf(m))
		return problems
	}

	byName := jsonFields(target)
	var problems Problems
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		field, ok := byName[name]
		if !ok {
			allowed := slices.Sorted(maps.Keys(byName))
			message := "unknown setting; allowed: " + strings.Join(allowed, ", ")
			if near := closest(name, allowed); near != "" {
				message = "unknown setting; did you mean " + near + "? allowed: " + strings.Join(allowed, ", ")
			}
			if instead, renamed := renamedFields[name]; renamed {
				message = instead
			}
			problems = append(problems, Problem{Key: key + "." + redact.Name(name), Value: rawJSON(fields[name]), Message: message})
			continue
		}
		// Decode into a fresh value so that a list replaces the default
		// instead of being merged into it; a nested object (scaling) is
		// merged field by field, like the top-level ones.
		fresh := reflect.New(field.Type())
		if field.Kind() == reflect.Struct {
			fresh.Elem().Set(field)
		}
		dec := json.NewDecoder(bytes.NewReader(fields[name]))
		dec.DisallowUnknownFields() // in nested objects (scaling) too
		if err := dec.Decode(fresh.Interface()); err != nil || isNull(fields[name]) {
			problems = append(problems, Problem{
				Key: key + "." + name, Value: rawJSON(fields[name]),
				Message: "must be " + describeType(field.Type()),
			})
			continue
		}
		field.Set(fresh.Elem())
	}
	return problems
}

// renamedFields are settings that no longer exist, and what to write
// instead.
var renamedFields = map[string]string{
	"count": "replaced by the tier's Auto Scaling group: write desired: N (how many hosts run), with min and max (the group's bounds), e.g. {min: 2, max: 4, desired: 2}",
}

// jsonFields maps the JSON names of a struct's fields (including those of
// embedded structs) to the settable fields.
func jsonFields(v reflect.Value) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for name, inner := range jsonFields(v.Field(i)) {
				out[name] = inner
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = v.Field(i)
	}
	return out
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "a mapping of strings to strings"
	case reflect.Struct:
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names = append(names, name+" ("+strings.TrimPrefix(describeType(t.Field(i).Type), "a ")+")")
		}
		return "an object with " + strings.Join(names, " and ")
	}
	return t.String()
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// raw shows a raw JSON value in an error message.
func rawJSON(b json.RawMessage) rawValue { return rawValue(bytes.TrimSpace(b)) }

type rawValue string

func (r rawValue) String() string { return string(r) }

// Problem is one invalid setting: the full config key, the value found, and
// what is allowed.
type Problem struct {
	Key     string
	Value   any
	Message string
	// Secret marks the value of a secret config key: never shown.
	Secret bool
}

// String renders the problem. The value is rendered by package redact
// (the one owner of values in error messages): a secret, or anything
// that looks like one, is named but hidden, and a long value is cut.
func (p Problem) String() string {
	return fmt.Sprintf("%s = %s: %s", p.Key, formatValue(p.Key, p.Value, p.Secret), p.Message)
}

func formatValue(key string, v any, secret bool) string {
	switch v := v.(type) {
	case string:
		return redact.Value(key, v, secret, true)
	case rawValue:
		return redact.Value(key, string(v), secret, false)
	case fmt.Stringer:
		return redact.Value(key, v.String(), secret, false)
	case nil:
		return "(not set)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return redact.Value(key, fmt.Sprint(v), secret, false)
	}
	return redact.Value(key, string(b), secret, false)
}

// Problems is every invalid setting of a stack; it is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid stack settings (%d %s, nothing was created):\n%s", len(ps), noun, strings.Join(lines, "\n"))
}
