package balance

// RoundRobin is smooth weighted round robin, as nginx does it: over one
// cycle every backend gets as many connections as its weight, and the turns
// of a heavy backend are spread between those of the light ones rather
// than bunched together (weights 5, 1, 1 give a a b a c a a).
//
// Build precomputes the cycle (its length is the sum of the weights divided
// by their greatest common divisor, at most MaxWeight times the number of
// backends) in O(backends × cycle) time; Pick walks it with one atomic
// counter, takes no lock and does not allocate. A backend at its MaxConn is
// skipped and its turn goes to the next backend of the cycle with room.
// For farms of many hundreds of backends with uneven weights, [StaticRR]
// builds in linear time.
//
// The zero value is ready to use.
type RoundRobin struct{}

// Build returns a Picker over the backends of info with a weight above zero.
func (RoundRobin) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, func(s snapshot) Picker {
		return &roundRobinPicker{snapshot: s, cycle: smoothCycle(s.weights)}
	})
}

type roundRobinPicker struct {
	snapshot
	// cycle holds indexes into backends, in the order they take turns.
	cycle []int32
	turn  counter
}

func (p *roundRobinPicker) Pick(ConnInfo) (*Backend, error) {
	turn := p.turn.next()
	n := uint64(len(p.cycle))
	if b := p.backends[p.cycle[turn%n]]; !b.Full() {
		return b, nil
	}
	// Checking every backend first keeps a pick over a completely full
	// farm at O(backends) instead of O(cycle).
	if _, err := p.firstWithRoom(0); err != nil {
		return nil, err
	}
	for step := uint64(1); step < n; step++ {
		if b := p.backends[p.cycle[(turn+step)%n]]; !b.Full() {
			return b, nil
		}
	}
	return nil, ErrNoBackend
}

// smoothCycle returns one cycle of nginx's smooth weighted round robin:
// every step, each backend's current score grows by its weight, the
// backend with the highest score (the earliest on a tie) takes the turn,
// and its score drops by the sum of the weights. Scaling all weights by the
// same factor leaves the choices unchanged, so the weights are first
// divided by their greatest common divisor to keep the cycle short.
func smoothCycle(weights []uint64) []int32 {
	divisor := uint64(0)
	for _, w := range weights {
		divisor = gcd(divisor, w)
	}
	reduced := make([]int64, len(weights))
	total := int64(0)
	for i, w := range weights {
		reduced[i] = int64(w / divisor)
		total += reduced[i]
	}
	current := make([]int64, len(weights))
	cycle := make([]int32, total)
	for step := range cycle {
		best := 0
		for i, w := range reduced {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		cycle[step] = int32(best)
	}
	return cycle
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
