package balance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sequence returns the names of n successive picks.
func sequence(t *testing.T, p Picker, n int) string {
	t.Helper()
	var names strings.Builder
	for range n {
		b, err := p.Pick(ConnInfo{})
		require.NoError(t, err)
		names.WriteString(b.Name)
	}
	return names.String()
}

func TestStaticRRRounds(t *testing.T) {
	cases := []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "abcaaaa"},
		{[]int{1, 3, 2}, "bcabcb"}, // rounds list heavier backends first
		{[]int{2, 2}, "abab"},
		{[]int{1, -1, 1}, "ac"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			p := StaticRR{}.Build(BuildInfo{Backends: newBackends(tc.weights...)})
			assert.Equal(t, strings.Repeat(tc.want, 3), sequence(t, p, 3*len(tc.want)))
		})
	}
}

func TestRoundRobinFullBackendYieldsItsTurn(t *testing.T) {
	for _, balancer := range []Balancer{RoundRobin{}, StaticRR{}} {
		backends := newBackends(1, 1, 1)
		backends[1].MaxConn = 1
		backends[1].Acquire()
		p := balancer.Build(BuildInfo{Backends: backends})
		assert.Equal(t, "accacc", sequence(t, p, 6), "%T", balancer)
		backends[1].Release()
		assert.Equal(t, "abcabc", sequence(t, p, 6), "%T", balancer)
	}
}

func TestFirstFillsInOrder(t *testing.T) {
	backends := newBackends(1, 5, 1)
	backends[0].MaxConn = 2
	backends[1].MaxConn = 1
	p := First{}.Build(BuildInfo{Backends: backends})
	var got strings.Builder
	for range 5 {
		b, err := p.Pick(ConnInfo{})
		require.NoError(t, err)
		b.Acquire()
		got.WriteString(b.Name)
	}
	assert.Equal(t, "aabcc", got.String(), "weights are ignored; c has no MaxConn")
	backends[0].Release()
	b, err := p.Pick(ConnInfo{})
	require.NoError(t, err)
	assert.Same(t, backends[0], b, "a freed slot on the first backend is used first")
}

func TestRandomDraws(t *testing.T) {
	const picks = 10_000
	backends := newBackends(1, 1)
	for range 100 {
		backends[0].Acquire()
	}
	count := func(r Random) int {
		p := r.Build(BuildInfo{Backends: backends})
		busy := 0
		for range picks {
			b, err := p.Pick(ConnInfo{})
			require.NoError(t, err)
			if b == backends[0] {
				busy++
			}
		}
		return busy
	}
	assert.InDelta(t, picks/2, count(Random{Seed: 9}), picks/20, "one draw ignores load")
	assert.Zero(t, count(Random{Draws: 2, Seed: 9}), "two distinct draws always see the idle backend")
	assert.Equal(t, count(Random{Draws: 2, Seed: 5}), count(Random{Draws: 2, Seed: 5}), "a seed repeats")
	assert.Zero(t, count(Random{Draws: 1 << 40, Seed: 9}), "draws are capped at the number of backends")
}
