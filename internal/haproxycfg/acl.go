package haproxycfg

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mqttlb/mqttlb/balance"
)

// Fetch names the part of a connection an ACL or a stick rule looks at.
type Fetch string

// The sample fetches this package understands, by their HAProxy
// expressions (configuration manual §7.3.6 "Fetching samples from buffer
// contents (Layer 6)", converters mqtt_is_valid and mqtt_field_value).
const (
	// FetchMQTTValid is req.payload(0,0),mqtt_is_valid: the connection
	// starts with a valid MQTT CONNECT. mqttlb validates every CONNECT
	// before routing, so it is true for every connection a rule sees.
	FetchMQTTValid Fetch = "req.payload(0,0),mqtt_is_valid"
	// FetchClientID is the CONNECT's client identifier.
	FetchClientID Fetch = "req.payload(0,0),mqtt_field_value(connect,client_identifier)"
	// FetchUsername is the CONNECT's user name.
	FetchUsername Fetch = "req.payload(0,0),mqtt_field_value(connect,username)"
	// FetchProtocolVersion is the CONNECT's protocol level (3, 4 or 5).
	FetchProtocolVersion Fetch = "req.payload(0,0),mqtt_field_value(connect,protocol_version)"
	// FetchSource is the client's IP address (HAProxy "src").
	FetchSource Fetch = "src"
)

var knownFetches = []Fetch{FetchMQTTValid, FetchClientID, FetchUsername, FetchProtocolVersion, FetchSource}

// takeFetch reads a sample expression at the start of words and returns it
// with the number of words it took. HAProxy configurations in the wild
// write the expression with spaces after the commas
// ("req.payload(0,0), mqtt_field_value(connect, client_identifier)"), so
// words are joined while the expression ends with a comma or has an
// unclosed parenthesis.
func takeFetch(words []string) (Fetch, int, error) {
	if len(words) == 0 {
		return "", 0, fmt.Errorf("missing sample expression")
	}
	expr, n := words[0], 1
	for n < len(words) && (strings.HasSuffix(expr, ",") || strings.Count(expr, "(") > strings.Count(expr, ")")) {
		expr += words[n]
		n++
	}
	if i := slices.Index(knownFetches, Fetch(expr)); i >= 0 {
		return knownFetches[i], n, nil
	}
	return "", 0, fmt.Errorf("unsupported sample expression %q (supported: req.payload(0,0),mqtt_is_valid; req.payload(0,0),mqtt_field_value(connect,client_identifier|username|protocol_version); src)", expr)
}

// ACL is one access control list: a fetch, a match method and patterns
// (configuration manual §7.1). It matches when the fetched value matches
// any of its patterns.
type ACL struct {
	// Name is the ACL's name, empty for an anonymous ACL in braces.
	Name  string
	Fetch Fetch
	// Method is the match method: "str", "beg", "end", "sub", "reg",
	// "found", "int", "ip" or "bool".
	Method string
	// IgnoreCase is the -i flag.
	IgnoreCase bool
	Patterns   []string

	regexps  []*regexp.Regexp
	prefixes []netip.Prefix
	ints     []int
}

// parseACL reads "<fetch> [-i] [-m <method>] [--] <pattern> ...".
func parseACL(name string, words []string) (*ACL, error) {
	fetch, n, err := takeFetch(words)
	if err != nil {
		return nil, err
	}
	a := &ACL{Name: name, Fetch: fetch, Method: defaultMethod(fetch)}
	words = words[n:]
flags:
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		switch words[0] {
		case "-i":
			a.IgnoreCase = true
			words = words[1:]
		case "-m":
			if len(words) < 2 {
				return nil, fmt.Errorf("-m needs a match method")
			}
			a.Method = words[1]
			words = words[2:]
		case "--":
			words = words[1:]
			break flags
		default:
			return nil, fmt.Errorf("unsupported ACL flag %q (supported: -i, -m, --)", words[0])
		}
	}
	a.Patterns = words
	return a, a.compile()
}

func defaultMethod(f Fetch) string {
	switch f {
	case FetchMQTTValid:
		return "bool"
	case FetchProtocolVersion:
		return "int"
	case FetchSource:
		return "ip"
	}
	return "str"
}

// compile checks the method against the fetch and prepares the patterns.
func (a *ACL) compile() error {
	isString := a.Fetch == FetchClientID || a.Fetch == FetchUsername
	switch a.Method {
	case "bool":
		if a.Fetch != FetchMQTTValid || len(a.Patterns) > 0 {
			return fmt.Errorf("-m bool applies to mqtt_is_valid, without patterns")
		}
		return nil
	case "found":
		if len(a.Patterns) > 0 {
			return fmt.Errorf("-m found takes no pattern")
		}
		return nil
	case "str", "beg", "end", "sub":
		if !isString {
			return fmt.Errorf("-m %s applies to client_identifier and username", a.Method)
		}
	case "reg":
		if !isString {
			return fmt.Errorf("-m reg applies to client_identifier and username")
		}
		for _, p := range a.Patterns {
			if a.IgnoreCase {
				p = "(?i)" + p
			}
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("regular expression %q: %w", p, err)
			}
			a.regexps = append(a.regexps, re)
		}
	case "int":
		if a.Fetch != FetchProtocolVersion {
			return fmt.Errorf("-m int applies to protocol_version")
		}
		for _, p := range a.Patterns {
			v, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("protocol_version pattern %q is not an integer", p)
			}
			a.ints = append(a.ints, v)
		}
	case "ip":
		if a.Fetch != FetchSource {
			return fmt.Errorf("-m ip applies to src")
		}
		for _, p := range a.Patterns {
			prefix, err := parsePrefix(p)
			if err != nil {
				return err
			}
			a.prefixes = append(a.prefixes, prefix)
		}
	default:
		return fmt.Errorf("unsupported match method %q (supported: str, beg, end, sub, reg, found, int, ip)", a.Method)
	}
	if len(a.Patterns) == 0 {
		return fmt.Errorf("ACL on %s needs at least one pattern", a.Fetch)
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address pattern %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address pattern %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Match reports whether the connection described by ci matches the ACL.
func (a *ACL) Match(ci balance.ConnInfo) bool {
	switch a.Fetch {
	case FetchMQTTValid:
		return true
	case FetchProtocolVersion:
		return a.Method == "found" || slices.Contains(a.ints, int(ci.ProtocolVersion))
	case FetchSource:
		addr := ci.RemoteAddr.Addr().Unmap()
		return a.Method == "found" && addr.IsValid() ||
			slices.ContainsFunc(a.prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
	}
	value := ci.ClientID
	if a.Fetch == FetchUsername {
		value = ci.Username
	}
	if a.Method == "found" {
		return value != ""
	}
	if a.Method == "reg" {
		return slices.ContainsFunc(a.regexps, func(re *regexp.Regexp) bool { return re.MatchString(value) })
	}
	if a.IgnoreCase {
		value = strings.ToLower(value)
	}
	return slices.ContainsFunc(a.Patterns, func(p string) bool {
		if a.IgnoreCase {
			p = strings.ToLower(p)
		}
		switch a.Method {
		case "beg":
			return strings.HasPrefix(value, p)
		case "end":
			return strings.HasSuffix(value, p)
		case "sub":
			return strings.Contains(value, p)
		}
		return value == p
	})
}

// Condition is an "if" or "unless" condition (configuration manual §7.2):
// terms joined by "||" (or "or"), each term a conjunction of ACLs, each
// possibly negated with "!". Several ACL lines with one name form one
// named ACL that matches when any of them does.
type Condition struct {
	// Unless inverts the condition.
	Unless bool
	// Any holds the alternatives; each is a list of terms that must all
	// match.
	Any [][]Term
}

// Term is one ACL reference in a condition.
type Term struct {
	Negate bool
	// ACLs match when any of them does: the lines of one named ACL, or
	// the single ACL written in braces.
	ACLs []*ACL
}

// Match reports whether the condition holds for the connection. A nil
// condition always holds.
func (c *Condition) Match(ci balance.ConnInfo) bool {
	if c == nil {
		return true
	}
	matched := slices.ContainsFunc(c.Any, func(all []Term) bool {
		for _, t := range all {
			hit := slices.ContainsFunc(t.ACLs, func(a *ACL) bool { return a.Match(ci) })
			if hit == t.Negate {
				return false
			}
		}
		return true
	})
	return matched != c.Unless
}

// predefinedACLs are HAProxy's built-in ACLs (configuration manual §7.4)
// that make sense for MQTT connections.
var predefinedACLs = map[string]func() *ACL{
	"TRUE":      func() *ACL { return &ACL{Name: "TRUE", Fetch: FetchMQTTValid, Method: "bool"} },
	"LOCALHOST": func() *ACL { a, _ := parseACL("LOCALHOST", []string{"src", "127.0.0.1/8", "::1"}); return a },
}

// parseCondition reads "if|unless <terms>" with the section's named ACLs.
func parseCondition(words []string, named map[string][]*ACL) (*Condition, error) {
	if len(words) == 0 || words[0] != "if" && words[0] != "unless" {
		return nil, fmt.Errorf("expected 'if' or 'unless'")
	}
	keyword := words[0]
	c := &Condition{Unless: keyword == "unless", Any: [][]Term{nil}}
	words = words[1:]
	if len(words) == 0 {
		return nil, fmt.Errorf("missing condition after '%s'", keyword)
	}
	for len(words) > 0 {
		w := words[0]
		if w == "||" || w == "or" {
			if len(c.Any[len(c.Any)-1]) == 0 {
				return nil, fmt.Errorf("'%s' without a term before it", w)
			}
			c.Any = append(c.Any, nil)
			words = words[1:]
			continue
		}
		t, rest, err := parseTerm(words, named)
		if err != nil {
			return nil, err
		}
		last := &c.Any[len(c.Any)-1]
		*last = append(*last, t)
		words = rest
	}
	if len(c.Any[len(c.Any)-1]) == 0 {
		return nil, fmt.Errorf("condition ends with '||'")
	}
	return c, nil
}

// parseTerm reads one term: an optional "!", then an ACL name or an
// anonymous ACL in braces. It returns the words after the term.
func parseTerm(words []string, named map[string][]*ACL) (Term, []string, error) {
	var t Term
	w := words[0]
	for strings.HasPrefix(w, "!") {
		t.Negate = !t.Negate
		w = w[1:]
	}
	words = words[1:]
	if w == "" {
		if len(words) == 0 {
			return t, nil, fmt.Errorf("'!' without a term after it")
		}
		w, words = words[0], words[1:]
	}
	if w != "{" {
		t.ACLs = named[w]
		if t.ACLs == nil {
			mk := predefinedACLs[w]
			if mk == nil {
				return t, nil, fmt.Errorf("no ACL named %q in this section", w)
			}
			t.ACLs = []*ACL{mk()}
		}
		return t, words, nil
	}
	end := slices.Index(words, "}")
	if end < 0 {
		return t, nil, fmt.Errorf("'{' without a matching '}'")
	}
	a, err := parseACL("", words[:end])
	if err != nil {
		return t, nil, err
	}
	t.ACLs = []*ACL{a}
	return t, words[end+1:], nil
}
