package stacks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// FieldDoc is one documented setting, read from Settings' struct tags:
// doc (what is allowed; 'x' is rendered as code, ’ is an apostrophe) and,
// for a number with fixed bounds, range ("min,max"), which
// docs/SETTINGS.md shows and a test checks against Validate.
type FieldDoc struct {
	Key     string // the config key: webstack:web
	Field   string // the field inside its object: scaling.target ("" for a plain key)
	Default string // as JSON
	Doc     string
	// HasRange, Min and Max are the bounds of a range tag.
	HasRange bool
	Min, Max int
}

// Fields lists every setting in Settings' order: the plain keys
// (config tag), then every leaf field of each object key (json tag),
// embedded structs flattened, nested objects as a.b. A new field with its
// json and doc tags is all a new setting needs to be documented.
func Fields(project string) ([]FieldDoc, error) {
	d := Defaults()
	dv := reflect.ValueOf(d)
	t := dv.Type()
	var out []FieldDoc
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if key := f.Tag.Get("config"); key != "" {
			fd, err := fieldDoc(project+":"+key, "", f, dv.Field(i))
			if err != nil {
				return nil, err
			}
			fd.Default = `""` // an empty value means the documented default
			out = append(out, fd)
		}
	}
	for _, f := range objectFields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		v := dv.FieldByIndex(f.Index)
		if v.Kind() != reflect.Struct {
			fd, err := fieldDoc(project+":"+name, "", f, v)
			if err != nil {
				return nil, err
			}
			out = append(out, fd)
			continue
		}
		leaves, err := leafDocs(project+":"+name, "", v)
		if err != nil {
			return nil, err
		}
		out = append(out, leaves...)
	}
	return out, nil
}

func leafDocs(key, prefix string, v reflect.Value) ([]FieldDoc, error) {
	var out []FieldDoc
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			inner, err := leafDocs(key, prefix, v.Field(i))
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			inner, err := leafDocs(key, prefix+name+".", v.Field(i))
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		fd, err := fieldDoc(key, prefix+name, f, v.Field(i))
		if err != nil {
			return nil, err
		}
		out = append(out, fd)
	}
	return out, nil
}

func fieldDoc(key, field string, f reflect.StructField, v reflect.Value) (FieldDoc, error) {
	where := key
	if field != "" {
		where += "." + field
	}
	fd := FieldDoc{Key: key, Field: field, Doc: f.Tag.Get("doc")}
	if fd.Doc == "" {
		return fd, fmt.Errorf("stacks: %s (Go field %s) has no doc tag: say what is allowed", where, f.Name)
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fd, err
	}
	fd.Default = string(b)
	if r := f.Tag.Get("range"); r != "" {
		lo, hi, _ := strings.Cut(r, ",")
		var errLo, errHi error
		fd.Min, errLo = strconv.Atoi(lo)
		fd.Max, errHi = strconv.Atoi(hi)
		if errLo != nil || errHi != nil || fd.Min > fd.Max {
			return fd, fmt.Errorf("stacks: %s: range tag %q must be min,max", where, r)
		}
		fd.HasRange = true
	}
	return fd, nil
}

// Reference is the table of keys in docs/SETTINGS.md, rendered from
// Fields (go test ./stacks/ -update-docs rewrites it).
func Reference(project string) (string, error) {
	fields, err := Fields(project)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| key | field | default | allowed |\n|---|---|---|---|\n")
	b.WriteString("| `aws:region` | | (required) | a region of the `aws` or `aws-us-gov` partition (China's and the isolated ones are refused), as a plain string |\n")
	last := ""
	for _, f := range fields {
		key := ""
		if f.Key != last {
			key = "`" + f.Key + "`"
			last = f.Key
		}
		field := ""
		if f.Field != "" {
			field = "`" + f.Field + "`"
		}
		doc := strings.ReplaceAll(strings.ReplaceAll(f.Doc, "'", "`"), "’", "'")
		if f.HasRange {
			doc = fmt.Sprintf("%d to %d: %s", f.Min, f.Max, doc)
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", key, field, f.Default, strings.ReplaceAll(doc, "|", "\\|"))
	}
	return b.String(), nil
}
