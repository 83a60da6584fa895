package balance

import "sync/atomic"

// snapshot is the immutable part every picker shares: the backends that
// may take connections (weight above zero), in the order given to Build,
// with their weights captured at Build time.
type snapshot struct {
	backends []*Backend
	weights  []uint64
	// totalWeight is the sum of weights.
	totalWeight uint64
}

// newSnapshot copies the backends with an effective weight above zero, so
// that no picker has to consider weight-zero backends again.
func newSnapshot(all []*Backend) snapshot {
	var s snapshot
	for _, b := range all {
		w := b.EffectiveWeight()
		if w == 0 {
			continue
		}
		s.backends = append(s.backends, b)
		s.weights = append(s.weights, uint64(w))
		s.totalWeight += uint64(w)
	}
	return s
}

// buildOver returns the picker newPicker makes from the snapshot of
// backends, or a picker that always fails with ErrNoBackend when no backend
// has a weight above zero, so that no picker has to handle an empty set.
func buildOver(backends []*Backend, newPicker func(snapshot) Picker) Picker {
	s := newSnapshot(backends)
	if len(s.backends) == 0 {
		return noBackend
	}
	return newPicker(s)
}

// firstWithRoom returns the first backend at or after index start (wrapping
// around) that is below its MaxConn. It is the fallback of the pickers
// whose first choice is full.
func (s *snapshot) firstWithRoom(start int) (*Backend, error) {
	n := len(s.backends)
	for j := range n {
		b := s.backends[(start+j)%n]
		if !b.Full() {
			return b, nil
		}
	}
	return nil, ErrNoBackend
}

// load returns the connections a backend would hold after taking one more,
// and whether it has room for that one below its MaxConn. A negative
// Active (more Release than Acquire calls) counts as zero.
func load(b *Backend) (next uint64, room bool) {
	active := max(b.Active(), 0)
	if b.MaxConn > 0 && active >= int64(b.MaxConn) {
		return 0, false
	}
	return uint64(active) + 1, true
}

// lighter reports whether load a at weight wa is lower than load b at
// weight wb, that is a/wa < b/wb, without division. Loads stay far below
// 2^55 and weights at most MaxWeight, so the products do not overflow.
func lighter(a, wa, b, wb uint64) bool { return a*wb < b*wa }

// counter is an atomic counter on a cache line of its own, so that the
// picks incrementing it do not slow down the reads of the immutable
// fields next to it.
type counter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// next returns the counter's value before incrementing it.
func (c *counter) next() uint64 { return c.n.Add(1) - 1 }

// noBackend is the Picker of an empty snapshot.
var noBackend Picker = PickerFunc(func(ConnInfo) (*Backend, error) { return nil, ErrNoBackend })
