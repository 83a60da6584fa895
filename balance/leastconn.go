package balance

// LeastConn sends each connection to the backend with the fewest active
// connections per unit of weight, counting the one being placed, so a
// backend of weight 2 holds about twice the connections of one of weight 1.
// Backends with equal load take turns: the scan starts at a position that
// advances with every pick, as HAProxy round-robins within a group of
// servers of the same load.
//
// It suits MQTT well: connections live long, so the number of open
// connections is the load that matters. The load is [Backend.Active], which
// the caller raises with Acquire right after Pick; concurrent picks that
// have not yet called Acquire may choose the same backend.
//
// Pick reads every backend's counter once (O(backends)), takes no lock and
// does not allocate. Backends at their MaxConn are skipped.
//
// The zero value is ready to use.
type LeastConn struct{}

// Build returns a Picker over the backends of info with a weight above zero.
func (LeastConn) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, func(s snapshot) Picker { return &leastConnPicker{snapshot: s} })
}

type leastConnPicker struct {
	snapshot
	start counter
}

func (p *leastConnPicker) Pick(ConnInfo) (*Backend, error) {
	n := len(p.backends)
	i := int(p.start.next() % uint64(n))
	var best *Backend
	var bestLoad, bestWeight uint64
	for range n {
		if next, room := load(p.backends[i]); room && (best == nil || lighter(next, p.weights[i], bestLoad, bestWeight)) {
			best, bestLoad, bestWeight = p.backends[i], next, p.weights[i]
		}
		if i++; i == n {
			i = 0
		}
	}
	if best == nil {
		return nil, ErrNoBackend
	}
	return best, nil
}
