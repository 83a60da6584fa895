package balance

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
)

// Random picks backends at random in proportion to their weights.
//
// With Draws above 1 it draws that many backends, each after the first
// from the backends other than the best so far, and takes the one with the
// fewest active connections per unit of weight: the "power of two choices"
// for Draws 2, which keeps loads nearly as even as [LeastConn] while
// spreading simultaneous picks, and which is HAProxy's default for
// "balance random".
//
// Pick draws from a per-picker splitmix64 generator advanced with one
// atomic add, so it takes no lock and does not allocate; a draw costs a
// binary search over the weights. A backend at its MaxConn is never
// returned: a full backend is drawn again, up to as many extra draws as
// there are backends, after which the first backend with room after the
// last draw is taken.
type Random struct {
	// Draws is the number of backends drawn per pick, the best of which is
	// taken. 0 and 1 mean a plain weighted random pick; more draws than
	// there are backends act as one draw per backend.
	Draws int
	// Seed, when not 0, makes the sequence of picks reproducible, for
	// tests. 0 means a random seed for every Build.
	Seed uint64
}

// Build returns a Picker over the backends of info with a weight above zero.
func (r Random) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, r.newPicker)
}

func (r Random) newPicker(s snapshot) Picker {
	p := &randomPicker{snapshot: s, draws: min(max(r.Draws, 1), len(s.backends)), cumulative: make([]uint64, len(s.weights))}
	sum := uint64(0)
	for i, w := range s.weights {
		sum += w
		p.cumulative[i] = sum
	}
	seed := r.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	p.rng.state.Store(seed)
	return p
}

type randomPicker struct {
	snapshot
	draws int
	// cumulative[i] is the sum of the weights of backends 0..i.
	cumulative []uint64
	rng        splitmix
}

func (p *randomPicker) Pick(ConnInfo) (*Backend, error) {
	n := len(p.backends)
	best, last, taken := -1, 0, 0
	var bestLoad uint64
	// A full backend does not count as a draw; the budget bounds the
	// redraws it causes.
	for budget := p.draws + n; taken < p.draws && budget > 0; budget-- {
		// Drawing among the others than the best so far makes every draw
		// after the first a real alternative.
		i := p.draw(best)
		last = i
		next, room := load(p.backends[i])
		if !room {
			continue
		}
		if best < 0 || lighter(next, p.weights[i], bestLoad, p.weights[best]) {
			best, bestLoad = i, next
		}
		taken++
	}
	if best >= 0 {
		return p.backends[best], nil
	}
	return p.firstWithRoom(last + 1)
}

// draw returns the index of a backend drawn with probability proportional
// to its weight, leaving out backend except (-1: none) unless it is the
// only one.
func (p *randomPicker) draw(except int) int {
	total, skipFrom, skip := p.totalWeight, uint64(0), uint64(0)
	if except >= 0 && len(p.backends) > 1 {
		skip = p.weights[except]
		skipFrom = p.cumulative[except] - skip
		total -= skip
	}
	// The high word of a 64×64-bit product is a uniform draw from
	// [0, total) with a bias below 2^-50.
	r, _ := bits.Mul64(p.rng.next(), total)
	if skip > 0 && r >= skipFrom {
		r += skip
	}
	lo, hi := 0, len(p.cumulative)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.cumulative[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// splitmix is the splitmix64 generator with its state advanced by an
// atomic add, so that concurrent callers each get a distinct output
// without a lock. Its state has a cache line of its own.
type splitmix struct {
	_     [64]byte
	state atomic.Uint64
	_     [56]byte
}

func (s *splitmix) next() uint64 {
	return mix64(s.state.Add(0x9e3779b97f4a7c15))
}

// mix64 is the splitmix64 finalizer: a bijection on 64-bit values whose
// every output bit depends on every input bit.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
