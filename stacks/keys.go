package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/foobar/webstack/internal/redact"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// configKey is the context key under which a run that has no PULUMI_CONFIG
// (the mocks, an Automation API inline program) passes the stack's whole
// config map.
type configKey struct{}

// WithConfig returns ctx carrying the stack's whole config map (fully
// qualified keys, as PULUMI_CONFIG has them), so that Load can refuse the
// keys it does not know. pulumi up sets PULUMI_CONFIG; runs that do not
// (internal/mocks, internal/engine's inline program) call this.
func WithConfig(ctx *pulumi.Context, cfg map[string]string) *pulumi.Context {
	return ctx.WithValue(configKey{}, cfg)
}

// stackConfig is every config key the stack sets, and whether they are
// known at all.
func stackConfig(ctx *pulumi.Context) (map[string]string, bool) {
	if cfg, ok := ctx.Value(configKey{}).(map[string]string); ok {
		return cfg, true
	}
	// The Go language host passes the stack's config to the program in
	// PULUMI_CONFIG (pulumi sdk go/pulumi/run.go reads the same).
	raw := os.Getenv(pulumi.EnvConfig)
	if raw == "" {
		return nil, false
	}
	var cfg map[string]string
	if json.Unmarshal([]byte(raw), &cfg) != nil {
		return nil, false
	}
	return cfg, true
}

// CheckKeys refuses every key of the project namespace that the program
// does not read: a typo (webstack:databse), a mis-cased key
// (webstack:loadbalancer) or a flat dotted key (webstack:web.count, set
// without --path) would otherwise leave the defaults in place, silently.
// keys are fully qualified (webstack:web); other namespaces are left to
// their owners (aws: to the provider).
func CheckKeys(project string, keys []string) Problems {
	var problems Problems
	known := ConfigKeys()
	for _, full := range slices.Sorted(slices.Values(keys)) {
		ns, key, ok := strings.Cut(full, ":")
		if !ok || ns != project || slices.Contains(known, key) {
			continue
		}
		shown := project + ":" + redact.Name(key)
		if top, field, dotted := strings.Cut(key, "."); dotted && slices.Contains(known, top) {
			problems = append(problems, Problem{Key: shown, Message: fmt.Sprintf(
				"is not a key: %s is a field of the object %s:%s; set it with pulumi config set --path '%s:%s' (or nest %s: under %s:%s in the stack file)",
				redact.Name(field), project, top, project, redact.Name(key), redact.Name(field), project, top)})
			continue
		}
		msg := "unknown setting, the program would ignore it; known keys: " + strings.Join(known, ", ")
		if near := closest(key, known); near != "" {
			msg = fmt.Sprintf("unknown setting, the program would ignore it; did you mean %s:%s? (known keys: %s)", project, near, strings.Join(known, ", "))
		}
		problems = append(problems, Problem{Key: shown, Message: msg})
	}
	return problems
}

// closest is the known name nearest to name (case-insensitive edit
// distance at most a third of its length, at least 1), or "".
func closest(name string, known []string) string {
	best, bestD := "", 0
	for _, k := range known {
		d := distance(strings.ToLower(name), strings.ToLower(k))
		if best == "" || d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(1, len(name)/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of two strings, by bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// objectFields are the structured keys: every field of Settings with a
// JSON name. A new field with its json tag is a new key, known, loaded,
// merged with its default and refused when misspelt, with nothing else to
// change here.
func objectFields() []reflect.StructField {
	var out []reflect.StructField
	t := reflect.TypeFor[Settings]()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, f)
		}
	}
	return out
}

// SecretAllowed reports whether a structured key may be set with --secret:
// its Settings field is tagged secret:"allowed" because a value inside it
// may carry a token (webstack:monitoring's httpsEndpoints). Every other
// key is refused when secret: no other setting is one.
func SecretAllowed(key string) bool {
	for _, f := range objectFields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return f.Tag.Get("secret") == "allowed"
		}
	}
	return false
}

// OfflineSecret stands, in the offline plan, for a secret value inside a
// key that may be secret: the plan cannot decrypt it (pulumi up does). It
// is a valid https:// URL of a reserved domain, so that a webhook kept
// secret previews as one.
const OfflineSecret = "https://secret.invalid/"
