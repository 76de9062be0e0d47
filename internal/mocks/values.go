package mocks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Plain turns Pulumi property values into Go values: nil, bool, float64,
// string, []any, map[string]any, and Secret, Unknown or Asset where Pulumi
// has them.
func Plain(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = plainValue(v)
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	switch {
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e)
		}
		return out
	case v.IsObject():
		return Plain(v.ObjectValue())
	case v.IsSecret():
		return Secret{plainValue(v.SecretValue().Element)}
	case v.IsComputed():
		return Unknown{}
	case v.IsOutput():
		o := v.OutputValue()
		var inner any = Unknown{}
		if o.Known {
			inner = plainValue(o.Element)
		}
		if o.Secret {
			return Secret{inner}
		}
		return inner
	case v.IsAsset():
		a := v.AssetValue()
		return Asset{Text: a.Text, Path: a.Path, Hash: a.Hash}
	case v.IsArchive():
		a := v.ArchiveValue()
		return Asset{Path: a.Path, Hash: a.Hash}
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return fmt.Sprintf("%v", v)
}

// Reveal strips Secret markers (for assertions on secret values).
func Reveal(v any) any {
	if s, ok := v.(Secret); ok {
		return Reveal(s.Value)
	}
	return v
}

// Lookup walks a dotted path (metadataOptions.httpTokens, tags.Name,
// ingress.0.fromPort) through a value; secrets are looked through.
func Lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, part := range strings.Split(path, ".") {
		v = Reveal(v)
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// In returns an input at a dotted path, or nil.
func (r *Resource) In(path string) any {
	v, _ := Lookup(r.Inputs, path)
	return v
}

// Out returns an output at a dotted path, or nil.
func (r *Resource) Out(path string) any {
	v, _ := Lookup(r.Outputs, path)
	return v
}

// Str returns a string input (secrets revealed), or "".
func (r *Resource) Str(path string) string {
	s, _ := Reveal(r.In(path)).(string)
	return s
}

// Int returns a number input as an int, or 0.
func (r *Resource) Int(path string) int {
	f, _ := Reveal(r.In(path)).(float64)
	return int(f)
}

// Bool returns a boolean input, or false.
func (r *Resource) Bool(path string) bool {
	b, _ := Reveal(r.In(path)).(bool)
	return b
}

// Strings returns a list-of-strings input.
func (r *Resource) Strings(path string) []string {
	list, _ := Reveal(r.In(path)).([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := Reveal(e).(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// IsSecret reports whether the input at path is secret.
func (r *Resource) IsSecret(path string) bool {
	_, ok := r.In(path).(Secret)
	return ok
}

// FindPlain lists the paths (inputs.userData, outputs.tags.x) where needle
// appears in v outside a Secret, in a stable order.
func FindPlain(v any, needle, path string) []string {
	switch c := v.(type) {
	case Secret:
		return nil
	case string:
		if strings.Contains(c, needle) {
			return []string{path}
		}
	case []any:
		var out []string
		for i, e := range c {
			out = append(out, FindPlain(e, needle, fmt.Sprintf("%s.%d", path, i))...)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, FindPlain(c[k], needle, path+"."+k)...)
		}
		return out
	}
	return nil
}
