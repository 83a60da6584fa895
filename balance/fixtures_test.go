package balance

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newBackends returns backends named a, b, c, ... with the given weights.
func newBackends(weights ...int) []*Backend {
	backends := make([]*Backend, len(weights))
	for i, w := range weights {
		name := string(rune('a' + i))
		backends[i] = &Backend{Addr: "10.0.0." + fmt.Sprint(i+1) + ":1883", Name: name, Weight: w}
	}
	return backends
}

// algorithm is one entry of the table every picker test runs over.
type algorithm struct {
	name     string
	balancer Balancer
	// holdsConnections makes the distribution test Acquire each pick and
	// Release some, because the algorithm balances open connections.
	holdsConnections bool
	// ignoresWeights leaves the algorithm out of the distribution test.
	ignoresWeights bool
}

// algorithms lists every Balancer of the package.
var algorithms = []algorithm{
	{name: "roundrobin", balancer: RoundRobin{}},
	{name: "static-rr", balancer: StaticRR{}},
	{name: "leastconn", balancer: LeastConn{}, holdsConnections: true},
	{name: "first", balancer: First{}, ignoresWeights: true},
	{name: "random", balancer: Random{Seed: 1}},
	{name: "random(2)", balancer: Random{Draws: 2, Seed: 1}, holdsConnections: true},
	{name: "source", balancer: SourceHash{}},
	{name: "hash", balancer: ClientIDHash{}},
}

// connInfos returns n distinct connections, each with its own client ID
// and source address, so that hashing algorithms see a spread of keys.
func connInfos(n int) []ConnInfo {
	infos := make([]ConnInfo, n)
	for i := range infos {
		infos[i] = ConnInfo{
			ClientID:   fmt.Sprintf("client-%d", i),
			RemoteAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000),
		}
	}
	return infos
}

// assertShares checks that counts are within 2 % (relative) of the share
// each backend's weight gives it.
func assertShares(t *testing.T, backends []*Backend, counts map[*Backend]int) {
	t.Helper()
	total, totalWeight := 0, 0
	for _, b := range backends {
		total += counts[b]
		totalWeight += b.EffectiveWeight()
	}
	for _, b := range backends {
		want := float64(b.EffectiveWeight()) / float64(totalWeight)
		got := float64(counts[b]) / float64(total)
		assert.InEpsilonf(t, want, got, 0.02, "backend %s: share %.4f, weight share %.4f", b, got, want)
	}
}

// pickN makes n picks, holding connections the way a proxy would when hold
// is set: Acquire on every pick and, once 1,000 are open, Release a random
// open one per pick, so that loads keep moving.
func pickN(t *testing.T, p Picker, infos []ConnInfo, n int, hold bool) map[*Backend]int {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make(map[*Backend]int)
	var open []*Backend
	for i := range n {
		b, err := p.Pick(infos[i%len(infos)])
		require.NoError(t, err)
		counts[b]++
		if !hold {
			continue
		}
		b.Acquire()
		open = append(open, b)
		if len(open) > 1000 {
			j := rng.IntN(len(open))
			open[j].Release()
			open[j] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	for _, b := range open {
		b.Release()
	}
	return counts
}
