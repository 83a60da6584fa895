package balance

import (
	"cmp"
	"slices"
)

// StaticRR is weighted round robin in rounds, like HAProxy's static-rr and
// LVS's wrr: the cycle has as many rounds as the largest weight, and in
// round r every backend whose weight exceeds r takes one turn (in order of
// decreasing weight, then of configuration), so weights 5, 1, 1 give
// a b c a a a a. Every backend gets exactly its weight's share of a cycle.
//
// Unlike [RoundRobin] it keeps no precomputed cycle: Build takes
// O(backends × log backends) time and O(backends) memory whatever the
// weights, so it suits very large farms; the price is that a heavy
// backend's turns bunch up at the end of the cycle. Pick uses one atomic
// counter, takes no lock and does not allocate. A backend at its MaxConn is
// skipped and its turn goes to the next backend of the cycle with room.
//
// The zero value is ready to use.
type StaticRR struct{}

// Build returns a Picker over the backends of info with a weight above zero.
func (StaticRR) Build(info BuildInfo) Picker { return buildOver(info.Backends, newStaticRRPicker) }

func newStaticRRPicker(s snapshot) Picker {
	byWeight := make([]int32, len(s.backends))
	for i := range byWeight {
		byWeight[i] = int32(i)
	}
	slices.SortStableFunc(byWeight, func(a, b int32) int { return cmp.Compare(s.weights[b], s.weights[a]) })
	// Round r holds the backends with weight above r: a prefix of
	// byWeight, as long as the number of such backends.
	heaviest := s.weights[byWeight[0]]
	roundStart := make([]uint64, heaviest+1)
	inRound := len(byWeight)
	for r := range heaviest {
		for s.weights[byWeight[inRound-1]] <= r {
			inRound--
		}
		roundStart[r+1] = roundStart[r] + uint64(inRound)
	}
	return &staticRRPicker{snapshot: s, byWeight: byWeight, roundStart: roundStart}
}

type staticRRPicker struct {
	snapshot
	byWeight []int32
	// roundStart[r] is the position in the cycle where round r begins;
	// the last entry is the cycle's length, the sum of the weights.
	roundStart []uint64
	turn       counter
}

func (p *staticRRPicker) Pick(ConnInfo) (*Backend, error) {
	turn := p.turn.next()
	n := p.totalWeight
	if b := p.at(turn % n); !b.Full() {
		return b, nil
	}
	if _, err := p.firstWithRoom(0); err != nil {
		return nil, err
	}
	for step := uint64(1); step < n; step++ {
		if b := p.at((turn + step) % n); !b.Full() {
			return b, nil
		}
	}
	return nil, ErrNoBackend
}

// at returns the backend at position pos of the cycle: a binary search
// for pos's round among at most MaxWeight rounds.
func (p *staticRRPicker) at(pos uint64) *Backend {
	lo, hi := 0, len(p.roundStart)-1 // pos lies in round lo..hi-1
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if p.roundStart[mid] <= pos {
			lo = mid
		} else {
			hi = mid
		}
	}
	return p.backends[p.byWeight[pos-p.roundStart[lo]]]
}
