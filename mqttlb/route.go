package mqttlb

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/mqttlb/mqttlb/balance"
)

// Route sends the connections its matcher accepts to a pool. A Proxy
// tries its routes in order; the first match wins.
type Route struct {
	// Name identifies the route in logs and statistics.
	Name string
	// Match selects connections; nil matches every connection.
	Match Matcher
	// Pool serves the matched connections.
	Pool *Pool
}

// Matcher decides whether a connection takes a route. It sees the
// connection as described by its CONNECT and transport. Implementations
// must be safe for concurrent use.
type Matcher interface {
	Match(balance.ConnInfo) bool
}

// MatcherFunc adapts a function to a Matcher.
type MatcherFunc func(balance.ConnInfo) bool

// Match calls f.
func (f MatcherFunc) Match(ci balance.ConnInfo) bool { return f(ci) }

// ClientIDPrefix matches client IDs that start with any of the prefixes.
func ClientIDPrefix(prefixes ...string) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(ci.ClientID, p) })
	})
}

// Username matches connections whose CONNECT carries one of the names.
func Username(names ...string) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool { return slices.Contains(names, ci.Username) })
}

// SourcePrefix matches clients whose address is in one of the prefixes.
// IPv4-mapped IPv6 addresses match IPv4 prefixes.
func SourcePrefix(prefixes ...netip.Prefix) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool {
		addr := ci.RemoteAddr.Addr().Unmap()
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
	})
}

// ServerName matches TLS connections whose SNI is one of the names,
// compared without regard to case.
func ServerName(names ...string) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool {
		return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, ci.ServerName) })
	})
}

// route returns the route and pool for a connection: the first matching
// route, else the default pool under the route name "default".
func (p *Proxy) route(ci balance.ConnInfo) (string, *Pool) {
	routes, def := p.currentRouting()
	for i := range routes {
		r := &routes[i]
		if r.Match == nil || r.Match.Match(ci) {
			return r.Name, r.Pool
		}
	}
	return "default", def
}
