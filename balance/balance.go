// Package balance chooses a backend for each new MQTT connection.
//
// A [Balancer] turns a snapshot of the usable backends into an immutable
// [Picker]. Whenever the usable set or a weight changes, the owner (usually an
// mqttlb.Pool) builds a new Picker and swaps it in atomically, so
// [Picker.Pick] never takes a lock, never blocks and never allocates.
//
//	backends := []*balance.Backend{
//		{Addr: "10.0.0.1:1883", Name: "node1"},
//		{Addr: "10.0.0.2:1883", Name: "node2", Weight: 2},
//	}
//	picker := balance.RoundRobin{}.Build(balance.BuildInfo{Backends: backends})
//	b, err := picker.Pick(balance.ConnInfo{ClientID: "sensor-42"})
//	if err == nil {
//		b.Acquire() // Release when the connection ends
//	}
//
// The algorithms, by their HAProxy names (see [ByName]):
//
//   - roundrobin: [RoundRobin], smooth weighted round robin.
//   - static-rr: [StaticRR], weighted round robin in rounds, O(backends) memory.
//   - leastconn: [LeastConn], fewest active connections per unit of weight.
//   - first: [First], fill backends in order up to their MaxConn.
//   - random: [Random], weighted random, or the best of several draws.
//   - source: [SourceHash], consistent hash of the client's IP address.
//   - hash: [ClientIDHash], consistent hash of the MQTT client ID with
//     bounded load, identical on every proxy replica.
//
// [Eligible] applies the backup-backend rule before Build. Every Pick
// uses only atomic operations on immutable state: no lock, no blocking, no
// allocation. Pickers never return a backend with weight zero or one at its
// MaxConn; with none left they return [ErrNoBackend].
package balance

import (
	"errors"
	"net/netip"
	"sync/atomic"
)

// ErrNoBackend is returned by a Picker that has no backend to offer: the
// usable set is empty, or every backend is at its MaxConn.
var ErrNoBackend = errors.New("balance: no backend available")

// DefaultWeight is the weight of a backend whose Weight field is 0.
const DefaultWeight = 1

// MaxWeight is the largest weight a backend may have, as in HAProxy.
const MaxWeight = 256

// Backend is one broker address that connections can be sent to.
//
// The exported fields are configuration: set them before the Backend is
// handed to a pool and do not change them afterwards (a pool replaces a
// Backend's weight by building a new picker, see mqttlb.Pool.SetWeight).
// The connection counters are atomic and safe for concurrent use.
type Backend struct {
	// Addr is the address dialed, host:port.
	Addr string
	// Name identifies the backend in logs, statistics and sticky tables.
	// Empty means Addr.
	Name string
	// Weight is the backend's share relative to the others, 1 to MaxWeight.
	// 0 means DefaultWeight; a negative weight means weight zero: the
	// backend takes no new connections from a balancer (HAProxy "weight 0").
	Weight int
	// Backup backends receive connections only when no other backend is
	// usable (see Eligible).
	Backup bool
	// MaxConn caps the connections a balancer sends to this backend at
	// once; 0 means no cap.
	MaxConn int

	active atomic.Int64
	total  atomic.Uint64
	// weight is a runtime weight set by SetWeight, plus one; 0 means
	// none, so the Weight field applies.
	weight atomic.Int32
}

// String returns the backend's name.
func (b *Backend) String() string { return b.ID() }

// ID returns Name, or Addr when Name is empty.
func (b *Backend) ID() string {
	if b.Name != "" {
		return b.Name
	}
	return b.Addr
}

// EffectiveWeight returns the weight balancers use: the weight given to
// SetWeight if any, else Weight clamped to [0, MaxWeight], with 0 meaning
// DefaultWeight and a negative value 0.
func (b *Backend) EffectiveWeight() int {
	if w := b.weight.Load(); w != 0 {
		return int(w - 1)
	}
	switch {
	case b.Weight == 0:
		return DefaultWeight
	case b.Weight < 0:
		return 0
	case b.Weight > MaxWeight:
		return MaxWeight
	}
	return b.Weight
}

// SetWeight overrides the configured Weight at run time, safely while
// pickers read the backend: w is used as is, clamped to [0, MaxWeight]
// (0 takes the backend out of balancing, unlike a zero Weight field). A
// new weight takes effect when the owner builds the next Picker.
func (b *Backend) SetWeight(w int) {
	b.weight.Store(int32(min(max(w, 0), MaxWeight)) + 1)
}

// Acquire counts a connection assigned to the backend. The owner calls it
// as soon as Pick returns, before dialing, so that concurrent picks see it.
func (b *Backend) Acquire() {
	b.active.Add(1)
	b.total.Add(1)
}

// Release undoes one Acquire when the connection ends or its dial fails.
func (b *Backend) Release() { b.active.Add(-1) }

// Active returns the number of connections currently assigned.
func (b *Backend) Active() int64 { return b.active.Load() }

// Total returns the number of connections ever assigned.
func (b *Backend) Total() uint64 { return b.total.Load() }

// Full reports whether the backend is at its MaxConn.
func (b *Backend) Full() bool {
	return b.MaxConn > 0 && b.active.Load() >= int64(b.MaxConn)
}

// ConnInfo describes the connection being placed. It is built once per
// connection from the decoded CONNECT and passed by value.
type ConnInfo struct {
	ClientID   string
	Username   string
	RemoteAddr netip.AddrPort
	LocalAddr  netip.AddrPort
	// ServerName is the TLS SNI, empty on plain TCP.
	ServerName string
	// ClientCertCN is the first Common Name in the subject of the
	// client's TLS certificate, and ClientCertSANs are its subject
	// alternative names (DNS names, IP addresses, e-mail addresses, URIs,
	// in that order). Both are empty unless the proxy terminated TLS and
	// verified the certificate.
	ClientCertCN   string
	ClientCertSANs []string
	// ProtocolVersion is the CONNECT's protocol level: 3, 4 or 5.
	ProtocolVersion byte
	CleanStart      bool
	// KeepAlive is the client's keep-alive in seconds.
	KeepAlive uint16
	// SessionExpiry is the MQTT 5 Session Expiry Interval in seconds;
	// HasSessionExpiry reports whether the CONNECT carried it.
	SessionExpiry    uint32
	HasSessionExpiry bool
}

// Picker chooses a backend for one connection. Implementations are
// immutable snapshots: Pick is safe for concurrent use, takes no lock and
// does not allocate.
type Picker interface {
	Pick(ConnInfo) (*Backend, error)
}

// PickerFunc adapts a function to a Picker.
type PickerFunc func(ConnInfo) (*Backend, error)

// Pick calls f.
func (f PickerFunc) Pick(c ConnInfo) (*Backend, error) { return f(c) }

// BuildInfo is what a Balancer builds a Picker from.
type BuildInfo struct {
	// Backends are the backends the picker may choose from, already
	// filtered to the usable ones (see Eligible). The slice and the
	// Backends are owned by the caller and not modified after Build.
	// Build reads each backend's EffectiveWeight once: a new weight takes
	// effect with the next Build.
	Backends []*Backend
}

// Balancer builds Pickers. Build is called whenever the usable set changes;
// it may be called concurrently with Pick on older pickers.
type Balancer interface {
	Build(BuildInfo) Picker
}

// BalancerFunc adapts a function to a Balancer.
type BalancerFunc func(BuildInfo) Picker

// Build calls f.
func (f BalancerFunc) Build(info BuildInfo) Picker { return f(info) }
