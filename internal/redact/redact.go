// Package redact renders a value for an error message, so that no message
// prints a secret or an unbounded value: a private key, a password or
// token pasted into a setting, or any value of a secret config key, is
// named by its key and length but never shown, and a long value is cut.
// Every error that quotes a setting or a component input renders it here.
package redact

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a rendered value: longer values show their first Keep bytes.
const (
	MaxLen = 80
	Keep   = 40
)

// Keys whose values are secrets whatever they look like (a password is a
// secret even when it is a weak one), and keys whose high-entropy values
// are (an API key, a secret access key; not a secret's name or ARN).
var (
	alwaysSecretKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|token|credential|private.?key)`)
	maybeSecretKey  = regexp.MustCompile(`(?i)(secret|key)`)
	arnLike         = regexp.MustCompile(`^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:[^\s"']+$`)
)

// Value renders text, the value found at key, for an error message:
// hidden when secret is set or the value looks like a secret (Secret),
// cut after Keep bytes when longer than MaxLen, and Go-quoted when quote
// is set (strings; JSON and numbers are shown as they are).
func Value(key, text string, secret, quote bool) string {
	if why := reason(key, text, secret); why != "" {
		return fmt.Sprintf("(hidden: %s, %d bytes)", why, len(text))
	}
	q := func(s string) string {
		if quote {
			return strconv.Quote(s)
		}
		return s
	}
	if len(text) <= MaxLen {
		return q(text)
	}
	cut := Keep
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", q(text[:cut]), len(text))
}

// Secret reports whether the value at key looks like a secret: a PEM
// block (a private key or certificate pasted in), any value of a key
// named like a password or token, or a high-entropy value of a key named
// like a secret or key.
func Secret(key, text string) bool { return reason(key, text, false) != "" }

func reason(key, text string, secret bool) string {
	switch {
	case secret:
		return "the value of a secret config key"
	case strings.Contains(text, "-----BEGIN") || strings.Contains(text, "PRIVATE KEY"):
		return "looks like a PEM key or certificate"
	case text == "" || text == `""` || text == "null":
		return ""
	case alwaysSecretKey.MatchString(key):
		return "the key names a password or token"
	case maybeSecretKey.MatchString(key) && !arnLike.MatchString(strings.Trim(text, `"`)) && highEntropy(text):
		return "looks like a secret value"
	}
	return ""
}

// highEntropy reports whether s looks random: at least 16 bytes of at
// least 3.5 bits of Shannon entropy per byte (names and words stay below,
// base64 and hex keys above).
func highEntropy(s string) bool {
	if len(s) < 16 {
		return false
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h >= 3.5
}

// Name renders a name the user wrote (an unknown setting's field, a tag
// key) as part of a key in an error message: hidden if it looks like a
// PEM block, quoted if it holds anything but printable characters, cut
// when long.
func Name(name string) string {
	if strings.Contains(name, "-----BEGIN") || strings.Contains(name, "PRIVATE KEY") {
		return fmt.Sprintf("(hidden name, %d bytes)", len(name))
	}
	if len(name) > MaxLen {
		cut := Keep
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		return fmt.Sprintf("%s…(%d bytes)", Name(name[:cut]), len(name))
	}
	if strconv.Quote(name) != `"`+name+`"` {
		return strconv.Quote(name)
	}
	return name
}
