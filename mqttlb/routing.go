package mqttlb

import "slices"

// routingTable is the routes and default pool installed by SetRouting.
type routingTable struct {
	routes []Route
	def    *Pool
}

// SetRouting replaces the routes and the default pool for the connections
// routed from now on; connections already routed stay on their pool and
// backend. It is safe to call while the proxy serves, for example on a
// configuration reload: the new table is swapped in atomically, and each
// connection sees either the old table or the new one, never a mix.
//
// Once SetRouting has been called, the Routes and Default fields are no
// longer read; Stats and Pools report the new routes and pools, the route
// counters starting from zero. routes is copied; the pools are not.
func (p *Proxy) SetRouting(routes []Route, def *Pool) {
	p.routingTable.Store(&routingTable{routes: slices.Clone(routes), def: def})
	// The route counters follow the new routes, from zero, as HAProxy's
	// do after a reload.
	p.stats.routes.Store(nil)
}

// currentRouting returns the table set by SetRouting, or the Routes and
// Default fields when it was never called.
func (p *Proxy) currentRouting() ([]Route, *Pool) {
	if t := p.routingTable.Load(); t != nil {
		return t.routes, t.def
	}
	return p.Routes, p.Default
}
