package mocks

import (
	"encoding/json"
	"fmt"
	"github.com/foobar/webstack/stacks"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Project is the part of Pulumi.yaml a mocked run needs.
type Project struct {
	Name   string                   `yaml:"name"`
	Config map[string]ConfigDeclare `yaml:"config"`
}

// ConfigDeclare is one typed config declaration of Pulumi.yaml.
type ConfigDeclare struct {
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Default     any    `yaml:"default"`
	Secret      bool   `yaml:"secret"`
}

// ReadProject reads Pulumi.yaml from a project directory.
func ReadProject(dir string) (*Project, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return nil, err
	}
	var p Project
	if err := yaml.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("mocks: reading Pulumi.yaml: %w", err)
	}
	return &p, nil
}

// StackOptions reads a stack the way the Pulumi CLI does: Pulumi.yaml's
// declared defaults, overridden by Pulumi.<stack>.yaml, with structured
// values passed as JSON. It returns mock options for that stack.
func StackOptions(dir, stack string) (Options, error) {
	p, err := ReadProject(dir)
	if err != nil {
		return Options{}, err
	}
	cfg := map[string]string{}
	for key, decl := range p.Config {
		if decl.Default == nil {
			continue
		}
		v, err := configString(decl.Default)
		if err != nil {
			return Options{}, fmt.Errorf("mocks: Pulumi.yaml: config %s: %w", key, err)
		}
		cfg[qualify(p.Name, key)] = v
	}

	file := filepath.Join(dir, "Pulumi."+stack+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		return Options{}, err
	}
	var st struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &st); err != nil {
		return Options{}, fmt.Errorf("%s: %w", file, err)
	}
	var secrets []string
	for key, val := range st.Config {
		if m, ok := val.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			// Encrypted values cannot be read offline; pass a placeholder.
			secrets = append(secrets, qualify(p.Name, key))
			cfg[qualify(p.Name, key)] = "mock-secret"
			continue
		}
		v, err := configString(val)
		if err != nil {
			return Options{}, fmt.Errorf("%s: config %s: %w", file, key, err)
		}
		if hasSecure(val) && stacks.SecretAllowed(strings.TrimPrefix(key, p.Name+":")) {
			// A key that may hold a secret (a webhook's token): pulumi up
			// decrypts it; offline, each encrypted value inside stands as
			// stacks.OfflineSecret, and the key is secret as a whole.
			if v, err = configString(replaceSecure(val)); err != nil {
				return Options{}, fmt.Errorf("%s: config %s: %w", file, key, err)
			}
			secrets = append(secrets, qualify(p.Name, key))
		} else if hasSecure(val) {
			// The CLI marks a structured key with a secure value inside it
			// secret as a whole (and decrypts it): so do the mocks, so
			// that the program refuses or hides it the same way, never
			// printing the ciphertext.
			secrets = append(secrets, qualify(p.Name, key))
		}
		cfg[qualify(p.Name, key)] = v
	}
	sort.Strings(secrets)
	return Options{Project: p.Name, Stack: stack, Config: cfg, Secrets: secrets, CallerRole: DeployRole(cfg[qualify(p.Name, "operators")])}, nil
}

// DeployRole is the role name of the first deploying operator a stack
// names (operators, the JSON of webstack:operators: its deploy list's
// role/<path/><name> or role ARN), or "": the mocks then run as that role,
// as CI's pulumi up would.
func DeployRole(operators string) string {
	var o struct {
		Deploy []string `json:"deploy"`
	}
	if json.Unmarshal([]byte(operators), &o) != nil || len(o.Deploy) == 0 {
		return ""
	}
	first := o.Deploy[0]
	if i := strings.Index(first, ":role/"); i >= 0 {
		first = "role/" + first[i+len(":role/"):]
	}
	if !strings.HasPrefix(first, "role/") || strings.ContainsAny(first, "*?") {
		return ""
	}
	return first[strings.LastIndex(first, "/")+1:]
}

func qualify(project, key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return project + ":" + key
}

// configString encodes a YAML value as the CLI passes it to a program:
// strings as they are, everything else as JSON.
func configString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// replaceSecure is v with every {secure: …} value inside replaced by
// stacks.OfflineSecret.
func replaceSecure(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["secure"]; ok && len(v) == 1 {
			return stacks.OfflineSecret
		}
		out := map[string]any{}
		for k, x := range v {
			out[k] = replaceSecure(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = replaceSecure(x)
		}
		return out
	}
	return v
}

// hasSecure reports whether a YAML value holds a {secure: …} value at any
// depth.
func hasSecure(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["secure"]; ok && len(v) == 1 {
			return true
		}
		for _, e := range v {
			if hasSecure(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasSecure(e) {
				return true
			}
		}
	}
	return false
}
