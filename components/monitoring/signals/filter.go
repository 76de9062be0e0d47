package signals

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Filter is a parsed CloudWatch Logs JSON metric filter pattern, of the
// subset the stack's patterns use: { $.a.b OP value } terms joined with &&
// and ||, grouped with parentheses; OP is =, !=, <, <=, > or >=; a value is
// a number, a "quoted string" or a bare word, and a string may end in * (a
// prefix). As in CloudWatch, a line that is not a JSON object matches no
// filter, a missing field fails its term, strings compare only with = and
// !=, and a numeric comparison needs a JSON number.
//
// It exists so that the tests can evaluate the shipped patterns on the
// lines the real daemons write; CloudWatch itself evaluates them on AWS.
type Filter struct{ root node }

type node interface{ eval(doc any) bool }

type orNode []node
type andNode []node
type cmpNode struct {
	path   []string
	op     string
	num    float64
	isNum  bool
	str    string
	prefix bool
}

func (o orNode) eval(d any) bool {
	for _, n := range o {
		if n.eval(d) {
			return true
		}
	}
	return false
}

func (a andNode) eval(d any) bool {
	for _, n := range a {
		if !n.eval(d) {
			return false
		}
	}
	return true
}

func (c cmpNode) eval(d any) bool {
	v, ok := lookup(d, c.path)
	if !ok {
		return false
	}
	if c.isNum {
		f, ok := v.(float64)
		if !ok {
			return false
		}
		switch c.op {
		case "=":
			return f == c.num
		case "!=":
			return f != c.num
		case "<":
			return f < c.num
		case "<=":
			return f <= c.num
		case ">":
			return f > c.num
		case ">=":
			return f >= c.num
		}
		return false
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	eq := s == c.str
	if c.prefix {
		eq = strings.HasPrefix(s, c.str)
	}
	if c.op == "!=" {
		return !eq
	}
	return eq
}

func lookup(d any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, false
		}
		if d, ok = m[p]; !ok {
			return nil, false
		}
	}
	return d, true
}

// Match reports whether the log line matches the filter.
func (f *Filter) Match(line string) bool {
	doc, ok := parseLine(line)
	return ok && f.root.eval(doc)
}

func parseLine(line string) (map[string]any, bool) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &doc); err != nil {
		return nil, false
	}
	return doc, true
}

// MetricValue is the value a metric filter with value selector (a $.field
// or a number) publishes for a line, and whether it publishes one (a
// selected field must be a number).
func MetricValue(selector, line string) (float64, bool) {
	if !strings.HasPrefix(selector, "$.") {
		f, err := strconv.ParseFloat(selector, 64)
		return f, err == nil
	}
	doc, ok := parseLine(line)
	if !ok {
		return 0, false
	}
	v, ok := lookup(doc, strings.Split(selector[2:], "."))
	f, isNum := v.(float64)
	return f, ok && isNum
}

// ParseFilter parses a pattern.
func ParseFilter(pattern string) (*Filter, error) {
	p := &parser{src: pattern}
	p.skip()
	if !p.eat("{") {
		return nil, p.errorf("a JSON pattern starts with {")
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.eat("}") {
		return nil, p.errorf("expected && , || or }")
	}
	if p.skip(); p.pos != len(p.src) {
		return nil, p.errorf("text after the closing }")
	}
	return &Filter{root}, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("filter pattern %q at %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skip() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *parser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *parser) or() (node, error) {
	var terms orNode
	for {
		t, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !p.eat("||") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) and() (node, error) {
	var terms andNode
	for {
		t, err := p.factor()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !p.eat("&&") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) factor() (node, error) {
	if p.eat("(") {
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errorf("expected )")
		}
		return n, nil
	}
	if !p.eat("$.") {
		return nil, p.errorf("expected a selector $.field or (")
	}
	var c cmpNode
	start := p.pos
	for p.pos < len(p.src) && (isIdent(rune(p.src[p.pos])) || p.src[p.pos] == '.') {
		p.pos++
	}
	if p.pos == start {
		return nil, p.errorf("expected a field name after $.")
	}
	c.path = strings.Split(p.src[start:p.pos], ".")
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if p.eat(op) {
			c.op = op
			break
		}
	}
	if c.op == "" {
		return nil, p.errorf("expected one of = != < <= > >=")
	}
	p.skip()
	switch {
	case p.pos < len(p.src) && p.src[p.pos] == '"':
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return nil, p.errorf("unterminated string")
		}
		c.str = p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
	default:
		start := p.pos
		for p.pos < len(p.src) && !strings.ContainsRune(" &|)}", rune(p.src[p.pos])) {
			p.pos++
		}
		word := p.src[start:p.pos]
		if word == "" {
			return nil, p.errorf("expected a value")
		}
		if f, err := strconv.ParseFloat(word, 64); err == nil {
			c.num, c.isNum = f, true
		} else {
			c.str = word
		}
	}
	if !c.isNum {
		if c.op != "=" && c.op != "!=" {
			return nil, p.errorf("strings compare only with = and !=")
		}
		if strings.HasSuffix(c.str, "*") {
			c.str, c.prefix = strings.TrimSuffix(c.str, "*"), true
		}
	}
	return c, nil
}

func isIdent(r rune) bool { return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// CountLines runs a tier's metric filters over log lines as CloudWatch Logs
// would: how many lines each metric counts. A line a filter matches but
// whose value the metric cannot publish (a selected field that is not a
// number) is an error, as it is a metric that never moves.
func CountLines(tier Tier, lines []string) (map[string]int, error) {
	counts := map[string]int{}
	for _, m := range Metrics {
		if m.Tier != tier {
			continue
		}
		f, err := ParseFilter(m.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		for _, l := range lines {
			if !f.Match(l) {
				continue
			}
			if _, published := MetricValue(m.Value, l); !published {
				return nil, fmt.Errorf("%s matched %s but publishes no value", m.Name, l)
			}
			counts[m.Name]++
		}
	}
	return counts, nil
}
