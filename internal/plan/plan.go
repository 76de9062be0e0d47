// Package plan renders webstack's offline plan: what `pulumi up` would
// create for a stack, proven without AWS or the Pulumi CLI.
//
// Render runs infra.Program under the recording mocks with the stack's
// settings (Pulumi.yaml's defaults and Pulumi.<stack>.yaml, exactly as the
// infra tests read them) and prints:
//
//   - the stack's monthly cost drivers (internal/cost);
//   - every resource as a tree: type and name, nested under its parent
//     (providers, then components, then custom resources), the options
//     that matter (protect, ignoreChanges, deleteBeforeReplace…) and every
//     input, keys sorted, nested values indented, multi-line strings
//     (bundles, user data, configuration) and JSON documents (policies) as
//     indented blocks so that a diff shows the lines that change;
//   - the stack outputs;
//   - the guardrails' findings.
//
// The text is the same on every machine and every run: the mocks' ids and
// addresses are hashes of names, secrets print as [secret], and what
// depends on the machine is masked: the project's absolute path, the
// application build (whose SHA-256 depends on the Go toolchain) as
// <sha256 of the app build>, and the bundles' heredoc delimiters,
// signatures and #sha256 lines (hashes of their content). scripts/plan prints it; testdata/plans/<stack>.txt
// holds each stack's, so that a pull request's diff of those files shows
// what it changes in each environment.
package plan

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/foobar/webstack/components/host"
	"github.com/foobar/webstack/internal/cost"
	"github.com/foobar/webstack/stacks"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/foobar/webstack/guardrails"
	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Placeholders for what depends on the machine.
const (
	// AppBuild stands for the SHA-256 of the application built from ./app
	// (BuildOf("app")).
	AppBuild = "<sha256 of the app build>"
	// SourceHash stands for the build cache key in .build/ file names.
	SourceHash = "<source hash>"
	// Secret stands for every secret value.
	Secret = "[secret]"
)

// BuildOf stands for the SHA-256 of a program built from this module
// (app, agent): it depends on the Go toolchain.
func BuildOf(program string) string { return "<sha256 of the " + program + " build>" }

// Plan is one stack's rendered plan.
type Plan struct {
	Stack string
	// Text is the plan as scripts/plan prints it.
	Text string
	// Resources the program registered, as recorded.
	Resources []*mocks.Resource
	// Findings of the guardrails.
	Findings []guardrails.Finding
}

// Blocking returns the findings of high or critical severity: with any,
// scripts/plan exits non-zero.
func (p *Plan) Blocking() []guardrails.Finding { return guardrails.Blocking(p.Findings) }

// Render runs the program for a stack of the project in dir (which holds
// Pulumi.yaml and Pulumi.<stack>.yaml) under the mocks and renders its
// plan. As under Pulumi, the default application is built from the Go
// module of the working directory.
func Render(dir, stack string) (*Plan, error) {
	opts, err := mocks.StackOptions(dir, stack)
	if err != nil {
		return nil, err
	}
	rec, outputs, err := Record(opts)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	resources := rec.Resources()
	g := guardrails.NewGraph(resources, "")
	p := &Plan{Stack: stack, Resources: resources, Findings: guardrails.Evaluate(g)}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := newRenderer(abs, resources)
	if err := r.maskBuilds(); err != nil {
		return nil, err
	}
	r.header(stack, g.Environment)
	r.cost(cost.Of(resources))
	r.tree()
	r.outputs(outputs.Values, outputs.Secret)
	r.findings(p.Findings)
	p.Text = r.b.String()
	return p, nil
}

// Outputs are a stack's outputs: their values, and which are secret.
type Outputs struct {
	Values map[string]any
	Secret map[string]bool
}

// Record runs the program's body (infra.BuildStack) under the mocks and awaits the
// outputs infra.Program exports, which a mocked run does not record.
func Record(opts mocks.Options) (*mocks.Recorder, Outputs, error) {
	out := Outputs{Values: map[string]any{}, Secret: map[string]bool{}}
	rec, err := mocks.Run(func(ctx *pulumi.Context) error {
		site, err := infra.BuildStack(ctx)
		if err != nil {
			return err
		}
		for name, v := range site.Outputs {
			res, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(v))
			if err != nil {
				return err
			}
			out.Values[name], out.Secret[name] = res.Value, res.Secret
		}
		return nil
	}, opts)
	return rec, out, err
}

// renderer writes the plan.
type renderer struct {
	b         *strings.Builder
	dir       string // the project's absolute path
	resources []*mocks.Resource
	byURN     map[string]*mocks.Resource
	children  map[string][]*mocks.Resource
	refs      map[string][]*mocks.Resource
	masks     []string // old, new pairs for strings.NewReplacer
	replacer  *strings.Replacer
	providers map[string]int // package → number of explicit providers
}

var (
	heredocRe = regexp.MustCompile(`WEBSTACK_EOF_[0-9a-f]{12}`)
	// A content-addressed bundle's key names its content's hash, which
	// depends on the builds it names.
	bundleKeyRe = regexp.MustCompile(`(bundles/[a-z0-9-]+/)[0-9a-f]{16}(\.sh)`)
	buildHashRe = regexp.MustCompile(`-[0-9a-f]{16}$`)
	// A signed bundle's signature and sum depend on its content (the
	// builds it names).
	signatureRe = regexp.MustCompile(`(?m)^(` + host.SignatureTag + `)[A-Za-z0-9+/]{86}==$`)
	sumRe       = regexp.MustCompile(`(?m)^(` + host.SumTag + `)[0-9a-f]{64}$`)
)

func newRenderer(dir string, resources []*mocks.Resource) *renderer {
	r := &renderer{
		b: &strings.Builder{}, dir: dir, resources: resources,
		byURN: map[string]*mocks.Resource{}, children: map[string][]*mocks.Resource{},
		refs: map[string][]*mocks.Resource{}, providers: map[string]int{},
	}
	for _, res := range resources {
		r.byURN[res.URN] = res
		if strings.HasPrefix(res.Type, "pulumi:providers:") {
			r.providers[strings.TrimPrefix(res.Type, "pulumi:providers:")]++
		}
		keys := []string{res.ID}
		for _, k := range []string{"arn", "name"} {
			if s, ok := mocks.Reveal(res.Outputs[k]).(string); ok {
				keys = append(keys, s)
			}
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k != "" && !seen[k] {
				seen[k] = true
				r.refs[k] = append(r.refs[k], res)
			}
		}
	}
	for _, res := range resources {
		parent := res.Parent
		if r.byURN[parent] == nil {
			parent = ""
		}
		r.children[parent] = append(r.children[parent], res)
	}
	for _, list := range r.children {
		sort.SliceStable(list, func(i, j int) bool { return lessResource(list[i], list[j]) })
	}
	r.masks = []string{r.dir + string(filepath.Separator), "", r.dir, "."}
	r.replacer = strings.NewReplacer(r.masks...)
	return r
}

// kind orders siblings: providers, components, custom resources.
func kind(r *mocks.Resource) int {
	switch {
	case strings.HasPrefix(r.Type, "pulumi:providers:"):
		return 0
	case !r.Custom:
		return 1
	}
	return 2
}

func lessResource(a, b *mocks.Resource) bool {
	if ka, kb := kind(a), kind(b); ka != kb {
		return ka < kb
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.Name < b.Name
}

// maskBuilds finds the files built into .build/ that resources upload and
// masks their SHA-256 and cache key wherever they appear.
func (r *renderer) maskBuilds() error {
	buildDir := filepath.Join(r.dir, ".build") + string(filepath.Separator)
	done := map[string]bool{}
	var visit func(v any) error
	visit = func(v any) error {
		switch c := v.(type) {
		case mocks.Asset:
			path := c.Path
			if path != "" && !filepath.IsAbs(path) {
				path = filepath.Join(r.dir, path)
			}
			if path == "" || done[path] || !strings.HasPrefix(path, buildDir) {
				return nil
			}
			done[path] = true
			sum, err := fileSHA256(path)
			if err != nil {
				return err
			}
			name := filepath.Base(path)
			program, _, _ := strings.Cut(name, "-linux-")
			r.masks = append(r.masks, sum, BuildOf(program), name, buildHashRe.ReplaceAllString(name, "-"+SourceHash))
		case mocks.Secret:
			return visit(c.Value)
		case map[string]any:
			for _, e := range c {
				if err := visit(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range c {
				if err := visit(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, res := range r.resources {
		if err := visit(res.Inputs); err != nil {
			return err
		}
	}
	// Longer strings first: the project path before its prefixes.
	r.replacer = strings.NewReplacer(r.masks...)
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mask makes a string the same on every machine.
func (r *renderer) mask(s string) string {
	s = heredocRe.ReplaceAllString(r.replacer.Replace(s), "WEBSTACK_EOF_<content hash>")
	s = signatureRe.ReplaceAllString(s, "${1}<signature>")
	s = sumRe.ReplaceAllString(s, "${1}<content hash>")
	return bundleKeyRe.ReplaceAllString(s, "${1}<content hash>${2}")
}

func (r *renderer) line(indent int, s string) {
	r.b.WriteString(strings.Repeat(" ", indent))
	r.b.WriteString(s)
	r.b.WriteByte('\n')
}

func (r *renderer) header(stack string, env stacks.Environment) {
	custom := 0
	for _, res := range r.resources {
		if res.Custom {
			custom++
		}
	}
	for _, l := range []string{
		fmt.Sprintf("# webstack plan: stack %s (environment %s)", stack, env),
		"#",
		"# Rendered offline by scripts/plan: infra.Program under the recording mocks (internal/mocks),",
		"# with Pulumi.yaml's defaults and Pulumi." + stack + ".yaml. Ids, ARNs and addresses are the mocks'",
		"# stand-ins. Secrets print as " + Secret + "; the application build, whose SHA-256 depends on the Go",
		"# toolchain, as " + AppBuild + "; bundle heredoc delimiters, signatures and sums without their content hash.",
		"# The caller is a session of the stack's first webstack:operators.deploy role (else an IAM user).",
		"# \"# Type name\" after a value names the resource it refers to. Regenerate the snapshots with",
		"# go test ./internal/plan/ -update.",
		"#",
		fmt.Sprintf("# %d resources: %d components and providers, %d custom resources.", len(r.resources), len(r.resources)-custom, custom),
	} {
		r.line(0, l)
	}
}

// cost prints the stack's monthly cost drivers, before the resources.
func (r *renderer) cost(e cost.Estimate) {
	r.b.WriteString("\ncost:\n")
	for _, l := range strings.Split(strings.TrimSuffix(e.Render(), "\n"), "\n") {
		r.line(2, l)
	}
}

func (r *renderer) tree() {
	r.b.WriteString("\nresources:\n")
	for _, res := range r.children[""] {
		r.resource(2, res)
	}
}

func (r *renderer) resource(indent int, res *mocks.Resource) {
	head := "+ " + res.Type + " " + res.Name
	for _, o := range r.options(res) {
		head += "  [" + o + "]"
	}
	r.line(indent, head)
	for _, k := range slices.Sorted(maps.Keys(res.Inputs)) {
		r.field(indent+4, k, res.Inputs[k], res)
	}
	for _, c := range r.children[res.URN] {
		r.resource(indent+2, c)
	}
}

// options are the resource options that change what Pulumi does.
func (r *renderer) options(res *mocks.Resource) []string {
	var out []string
	if res.Protect {
		out = append(out, "protect")
	}
	if res.DeleteBeforeReplace {
		out = append(out, "deleteBeforeReplace")
	}
	if res.RetainOnDelete {
		out = append(out, "retainOnDelete")
	}
	if len(res.IgnoreChanges) > 0 {
		out = append(out, "ignoreChanges: "+strings.Join(sorted(res.IgnoreChanges), ", "))
	}
	if len(res.ReplaceOnChanges) > 0 {
		out = append(out, "replaceOnChanges: "+strings.Join(sorted(res.ReplaceOnChanges), ", "))
	}
	// The provider, when it is not the stack's one explicit provider of
	// the resource's package (aws resources must use the tagged one).
	if res.Custom && kind(res) == 2 {
		pkg := strings.SplitN(res.Type, ":", 2)[0]
		switch p := r.byURN[providerURN(res.Provider)]; {
		case res.Provider == "" && r.providers[pkg] > 0:
			out = append(out, "provider: default")
		case p != nil && r.providers[pkg] > 1:
			out = append(out, "provider: "+p.Name)
		case res.Provider != "" && p == nil:
			out = append(out, "provider: "+r.mask(res.Provider))
		}
	}
	return out
}

func providerURN(ref string) string {
	if i := strings.LastIndex(ref, "::"); i > 0 {
		return ref[:i]
	}
	return ref
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

// field writes "key: value", or "key:" and the value's lines below it.
func (r *renderer) field(indent int, key string, v any, self *mocks.Resource) {
	prefix := key + ":"
	switch c := v.(type) {
	case mocks.Secret:
		r.line(indent, prefix+" "+Secret)
	case mocks.Unknown:
		r.line(indent, prefix+" [unknown until deployed]")
	case mocks.Asset:
		switch {
		case c.Path != "":
			r.line(indent, prefix+" file("+r.mask(c.Path)+")")
		case c.Text != "":
			r.block(indent, prefix+" text", c.Text)
		default:
			r.line(indent, prefix+" asset")
		}
	case map[string]any:
		if len(c) == 0 {
			r.line(indent, prefix+" {}")
			return
		}
		r.line(indent, prefix)
		for _, k := range slices.Sorted(maps.Keys(c)) {
			r.field(indent+2, k, c[k], self)
		}
	case []any:
		if len(c) == 0 {
			r.line(indent, prefix+" []")
			return
		}
		r.line(indent, prefix)
		for _, e := range c {
			r.item(indent+2, e, self)
		}
	case string:
		r.str(indent, prefix, key, c, self)
	default:
		r.line(indent, prefix+" "+scalar(c))
	}
}

// item writes one list element: "- value", or "- " before a map's first
// field.
func (r *renderer) item(indent int, v any, self *mocks.Resource) {
	switch c := v.(type) {
	case map[string]any:
		if len(c) == 0 {
			r.line(indent, "- {}")
			return
		}
		outer := r.b
		r.b = &strings.Builder{}
		for _, k := range slices.Sorted(maps.Keys(c)) {
			r.field(indent+2, k, c[k], self)
		}
		text := r.b.String()
		r.b = outer
		// The first field's indentation becomes the item's dash.
		r.b.WriteString(strings.Repeat(" ", indent) + "- " + text[indent+2:])
	case []any:
		r.line(indent, "-")
		for _, e := range c {
			r.item(indent+2, e, self)
		}
	case string:
		r.str(indent, "-", "", c, self)
	case mocks.Secret:
		r.line(indent, "- "+Secret)
	case mocks.Unknown, mocks.Asset:
		r.field(indent, "-", v, self)
	default:
		r.line(indent, "- "+scalar(c))
	}
}

// str writes a string: inline, as an indented text block, or as an
// indented JSON document.
func (r *renderer) str(indent int, prefix, key, s string, self *mocks.Resource) {
	// A launch template's user data is base64 too.
	if strings.HasSuffix(key, "Base64") || (key == "userData" && self != nil && self.Type == "aws:ec2/launchTemplate:LaunchTemplate") {
		if text, how, ok := decodeBase64(s); ok {
			r.block(indent, prefix+" ("+how+")", text)
			return
		}
	}
	if t := strings.TrimSpace(s); len(t) > 1 && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		var pretty bytes.Buffer
		if json.Indent(&pretty, []byte(t), "", "  ") == nil && strings.Contains(pretty.String(), "\n") {
			r.line(indent, prefix+" (JSON)")
			for _, l := range strings.Split(r.mask(pretty.String()), "\n") {
				r.line(indent+2, l)
			}
			return
		}
	}
	if strings.Contains(s, "\n") {
		r.block(indent, prefix, s)
		return
	}
	r.line(indent, prefix+" "+quote(r.mask(s))+r.annotate(s, self))
}

// block writes a multi-line string as YAML's literal block: "|" when it
// ends with a newline, "|-" when not.
func (r *renderer) block(indent int, prefix, s string) {
	s = r.mask(s)
	style := "|"
	if !strings.HasSuffix(s, "\n") {
		style = "|-"
	}
	r.line(indent, prefix+" "+style)
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" {
			r.b.WriteByte('\n')
			continue
		}
		r.line(indent+2, l)
	}
}

// annotate names the resource a value refers to (by id, ARN or name) when
// exactly one other resource has it.
func (r *renderer) annotate(s string, self *mocks.Resource) string {
	var found []*mocks.Resource
	for _, res := range r.refs[s] {
		if res != self {
			found = append(found, res)
		}
	}
	if len(found) != 1 {
		return ""
	}
	t := found[0].Type
	if i := strings.LastIndex(t, ":"); i >= 0 {
		t = t[i+1:]
	}
	return "  # " + t + " " + found[0].Name
}

// decodeBase64 shows base64 (and gzipped) user data as text.
func decodeBase64(s string) (text, how string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	how = "base64, shown decoded"
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return "", "", false
		}
		if b, err = io.ReadAll(zr); err != nil {
			return "", "", false
		}
		how = "gzip and base64, shown decoded"
	}
	if !utf8.Valid(b) {
		return "", "", false
	}
	return string(b), how, true
}

// scalar formats a number, a boolean or null.
func scalar(v any) string {
	switch c := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(c)
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	case int:
		return strconv.Itoa(c)
	}
	return fmt.Sprint(v)
}

// quote leaves a string bare unless it would read as something else: empty,
// surrounding spaces, a number, a boolean, null, or unprintable characters.
func quote(s string) string {
	switch {
	case s == "", strings.TrimSpace(s) != s, s == "true", s == "false", s == "null", strconv.Quote(s) != `"`+s+`"`:
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	return s
}

func (r *renderer) outputs(values map[string]any, secret map[string]bool) {
	r.b.WriteString("\noutputs:\n")
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if secret[k] {
			r.line(2, k+": "+Secret)
			continue
		}
		// Outputs are Go values ([]string, int…): read them as JSON does.
		var v any
		if b, err := json.Marshal(values[k]); err == nil && json.Unmarshal(b, &v) == nil {
			r.field(2, k, v, nil)
		} else {
			r.line(2, k+": "+quote(r.mask(fmt.Sprint(values[k]))))
		}
	}
}

func (r *renderer) findings(fs []guardrails.Finding) {
	blocking := len(guardrails.Blocking(fs))
	r.b.WriteString("\n")
	switch {
	case len(fs) == 0:
		r.line(0, fmt.Sprintf("guardrails: %d rules, no findings", len(guardrails.Rules())))
		return
	default:
		r.line(0, fmt.Sprintf("guardrails: %d rules, %d findings, %d of high or critical severity", len(guardrails.Rules()), len(fs), blocking))
	}
	for _, f := range fs {
		r.line(2, fmt.Sprintf("%s %-8s %s %s: %s", f.Rule.ID, f.Rule.Severity, f.Type, f.Name, r.mask(f.Message)))
	}
}
