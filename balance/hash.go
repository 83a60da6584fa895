package balance

import (
	"encoding/binary"
	"math"
)

// ClientIDHash places each client by a consistent hash of its MQTT client
// ID, so that a client reconnecting finds the broker that holds its
// session, and so that every proxy replica, given the same backends, places
// the same client on the same backend with no shared table: the hash has no
// per-process seed and depends only on the client ID, the backends' IDs
// ([Backend.ID]) and their weights, not on their order.
//
// The hash is weighted rendezvous hashing (highest random weight): each
// backend scores the client ID and the best score wins, a backend winning
// in proportion to its weight. Removing one of N backends therefore moves
// only the clients that were on it, and adding one moves about 1/(N+1) of
// them, all to the new one.
//
// The load is bounded, as in "consistent hashing with bounded loads"
// (Mirrokni, Thorup, Zadimoghaddam): a backend whose active connections
// would exceed (1 + LoadFactor) times its weighted share of all active
// connections, counting the one being placed, is passed over for the next
// best backend for this client. Hot spots (many clients that hash alike, a
// crowd of reconnects) thus spill over in a way every replica agrees on as
// far as their connection counts agree. The bound holds for sequential
// picks; picks that run concurrently before their Acquire may exceed it by
// their number.
//
// An empty client ID (an MQTT 5 client asking the server to assign one)
// has nothing to hash: such a connection gets a [LeastConn] pick.
//
// Pick computes one score per backend (O(backends)), takes no lock and does
// not allocate. Backends at their MaxConn are passed over.
type ClientIDHash struct {
	// LoadFactor is how far above its weighted share of the active
	// connections a backend may go: 0.25 lets it hold 1.25 times its share.
	// 0 means 0.25; a negative value removes the bound; values above 100
	// act as 100. HAProxy's hash-balance-factor 150 is LoadFactor 0.5.
	LoadFactor float64
}

// Build returns a Picker over the backends of info with a weight above zero.
func (h ClientIDHash) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, func(s snapshot) Picker { return newHashPicker(s, h.LoadFactor, clientIDKey) })
}

func clientIDKey(c ConnInfo) (uint64, bool) {
	if c.ClientID == "" {
		return 0, false
	}
	return mix64(fnv1a(c.ClientID)), true
}

// SourceHash places each connection by a consistent hash of the client's
// IP address (without the port), like HAProxy's "balance source" with
// "hash-type consistent": all connections from one address go to the same
// backend, on every proxy replica. It is [ClientIDHash] with the address
// as the key, with the same weighting, bounded load and minimal movement
// when backends come and go. An IPv4 address and its IPv4-mapped IPv6 form
// are the same key. A connection without a valid remote address gets a
// [LeastConn] pick.
//
// Pick takes no lock and does not allocate.
type SourceHash struct {
	// LoadFactor bounds each backend's load as in [ClientIDHash]. 0 means
	// 0.25; a negative value removes the bound.
	LoadFactor float64
}

// Build returns a Picker over the backends of info with a weight above zero.
func (h SourceHash) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, func(s snapshot) Picker { return newHashPicker(s, h.LoadFactor, sourceKey) })
}

func sourceKey(c ConnInfo) (uint64, bool) {
	addr := c.RemoteAddr.Addr()
	if !addr.IsValid() {
		return 0, false
	}
	a16 := addr.Unmap().As16()
	return mix64(mix64(binary.BigEndian.Uint64(a16[:8])) ^ binary.BigEndian.Uint64(a16[8:])), true
}

// defaultLoadFactor is the LoadFactor that 0 stands for.
const defaultLoadFactor = 0.25

// loadFactorScale is the fixed-point scale of hashPicker.capacityFactor.
const loadFactorScale = 1024

type hashPicker struct {
	snapshot
	// ids are the hashes of the backends' IDs.
	ids   []uint64
	table *log2Lookup
	// capacityFactor is 1 + LoadFactor in 1/loadFactorScale units,
	// rounded down so the bound is never looser than asked; 0 means
	// unbounded.
	capacityFactor uint64
	key            func(ConnInfo) (uint64, bool)
	// fallback places connections that have no key.
	fallback leastConnPicker
}

func newHashPicker(s snapshot, loadFactor float64, key func(ConnInfo) (uint64, bool)) Picker {
	p := &hashPicker{snapshot: s, table: log2Table(), key: key, fallback: leastConnPicker{snapshot: s}}
	p.ids = make([]uint64, len(s.backends))
	for i, b := range s.backends {
		p.ids[i] = mix64(fnv1a(b.ID()))
	}
	switch {
	case loadFactor == 0:
		loadFactor = defaultLoadFactor
	case loadFactor > 100:
		loadFactor = 100
	}
	if loadFactor > 0 {
		p.capacityFactor = loadFactorScale + uint64(math.Floor(loadFactor*loadFactorScale))
	}
	return p
}

func (p *hashPicker) Pick(c ConnInfo) (*Backend, error) {
	key, ok := p.key(c)
	if !ok {
		return p.fallback.Pick(c)
	}
	var active uint64
	if p.capacityFactor != 0 {
		for _, b := range p.backends {
			active += uint64(max(b.Active(), 0))
		}
	}
	best := -1
	var bestScore uint64
	for i, b := range p.backends {
		next, room := load(b)
		if !room || (p.capacityFactor != 0 && next > p.capacity(active, p.weights[i])) {
			continue
		}
		// The score is an exponential variable divided by the weight;
		// the lowest wins, backend i with probability weight/total.
		score := negLog2(p.table, mix64(key^p.ids[i]))
		if best < 0 || lighter(score, p.weights[i], bestScore, p.weights[best]) ||
			(!lighter(bestScore, p.weights[best], score, p.weights[i]) && p.ids[i] < p.ids[best]) {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return nil, ErrNoBackend
	}
	return p.backends[best], nil
}

// capacity returns the most connections a backend of weight w may hold
// when the backends hold active ones and a new one is being placed:
// ceil((1 + LoadFactor) × (active + 1) × w / totalWeight). The sum over
// the backends is above active + 1, so some backend always has room.
func (p *hashPicker) capacity(active, w uint64) uint64 {
	numerator := p.capacityFactor * (active + 1) * w
	denominator := loadFactorScale * p.totalWeight
	return (numerator + denominator - 1) / denominator
}

// fnv1a is the 64-bit FNV-1a hash: fixed, unseeded, the same in every
// process.
func fnv1a(data string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(data); i++ {
		h ^= uint64(data[i])
		h *= prime
	}
	return h
}
