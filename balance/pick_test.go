package balance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPickDistribution(t *testing.T) {
	const picks = 100_000
	infos := connInfos(picks)
	for _, algo := range algorithms {
		if algo.ignoresWeights {
			continue // First is checked by TestFirstFillsInOrder
		}
		t.Run(algo.name, func(t *testing.T) {
			backends := newBackends(5, 3, 2)
			counts := pickN(t, algo.balancer.Build(BuildInfo{Backends: backends}), infos, picks, algo.holdsConnections)
			assertShares(t, backends, counts)
		})
	}
}

func TestPickSkipsFullAndWeightZero(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.name, func(t *testing.T) {
			backends := newBackends(3, -1, 1, 2)
			backends[0].MaxConn = 1
			backends[0].Acquire()
			defer backends[0].Release()
			p := algo.balancer.Build(BuildInfo{Backends: backends})
			for _, info := range connInfos(1000) {
				b, err := p.Pick(info)
				require.NoError(t, err)
				assert.NotSame(t, backends[0], b, "full backend picked")
				assert.NotSame(t, backends[1], b, "weight-zero backend picked")
			}
		})
	}
}

func TestPickNoBackend(t *testing.T) {
	full := newBackends(1, 2)
	for _, b := range full {
		b.MaxConn = 2
		b.Acquire()
		b.Acquire()
	}
	defer func() {
		for _, b := range full {
			b.Release()
			b.Release()
		}
	}()
	cases := []struct {
		name     string
		backends []*Backend
	}{
		{"none", nil},
		{"all weight zero", newBackends(-1, -5)},
		{"all full", full},
	}
	for _, algo := range algorithms {
		for _, tc := range cases {
			t.Run(algo.name+"/"+tc.name, func(t *testing.T) {
				p := algo.balancer.Build(BuildInfo{Backends: tc.backends})
				for _, info := range connInfos(10) {
					b, err := p.Pick(info)
					assert.ErrorIs(t, err, ErrNoBackend)
					assert.Nil(t, b)
				}
			})
		}
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	infos := connInfos(64)
	for _, algo := range algorithms {
		t.Run(algo.name, func(t *testing.T) {
			backends := newBackends(5, 3, 2, 1, 1)
			backends[0].MaxConn = 1
			backends[0].Acquire() // exercise the fallback for a full backend too
			defer backends[0].Release()
			p := algo.balancer.Build(BuildInfo{Backends: backends})
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				_, err := p.Pick(infos[i%len(infos)])
				i++
				if err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

// TestPickConcurrent runs picks from many goroutines at once, for the race
// detector, and checks that no pick is lost.
func TestPickConcurrent(t *testing.T) {
	const goroutines, picks = 8, 2000
	infos := connInfos(picks)
	for _, algo := range algorithms {
		t.Run(algo.name, func(t *testing.T) {
			backends := newBackends(2, 1, 1)
			p := algo.balancer.Build(BuildInfo{Backends: backends})
			done := make(chan error, goroutines)
			for range goroutines {
				go func() {
					for _, info := range infos {
						b, err := p.Pick(info)
						if err != nil {
							done <- err
							return
						}
						b.Acquire()
						b.Release()
					}
					done <- nil
				}()
			}
			for range goroutines {
				require.NoError(t, <-done)
			}
			total := uint64(0)
			for _, b := range backends {
				total += b.Total()
				assert.Zero(t, b.Active())
			}
			assert.Equal(t, uint64(goroutines*picks), total)
		})
	}
}

func BenchmarkPick(b *testing.B) {
	infos := connInfos(1024)
	for _, algo := range algorithms {
		b.Run(algo.name, func(b *testing.B) {
			p := algo.balancer.Build(BuildInfo{Backends: newBackends(5, 3, 2, 1, 1)})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := p.Pick(infos[i&1023]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

func TestRoundRobinSmoothCycle(t *testing.T) {
	cases := []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa"}, // nginx's documented example
		{[]int{1, 1, 1}, "abc"},
		{[]int{2, 2, 2}, "abc"},   // reduced by the common divisor
		{[]int{3, 0, 1}, "abaca"}, // 0 is the default weight 1
		{[]int{2, -1, 1}, "aca"},  // negative weight takes nothing
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			p := RoundRobin{}.Build(BuildInfo{Backends: newBackends(tc.weights...)})
			var got strings.Builder
			for range 3 * len(tc.want) {
				b, err := p.Pick(ConnInfo{})
				require.NoError(t, err)
				got.WriteString(b.Name)
			}
			assert.Equal(t, strings.Repeat(tc.want, 3), got.String())
		})
	}
}

func TestLeastConnPrefersLeastLoadedPerWeight(t *testing.T) {
	backends := newBackends(2, 1, 1)
	for range 3 {
		backends[0].Acquire() // 3 of weight 2: 2 per unit after one more
	}
	backends[1].Acquire() // 1 of weight 1: 2 per unit after one more
	backends[1].Acquire() // now 3 per unit after one more
	p := LeastConn{}.Build(BuildInfo{Backends: backends})
	b, err := p.Pick(ConnInfo{})
	require.NoError(t, err)
	assert.Same(t, backends[2], b, "the idle backend goes first")
	backends[2].Acquire()
	backends[2].Acquire()
	// Loads per weight after one more: a (3+1)/2 = 2, b 3, c 3.
	b, err = p.Pick(ConnInfo{})
	require.NoError(t, err)
	assert.Same(t, backends[0], b)
}

func TestLeastConnTiesTakeTurns(t *testing.T) {
	p := LeastConn{}.Build(BuildInfo{Backends: newBackends(1, 1, 1)})
	seen := make(map[string]int)
	for range 30 {
		b, err := p.Pick(ConnInfo{})
		require.NoError(t, err)
		seen[b.Name]++
	}
	assert.Equal(t, map[string]int{"a": 10, "b": 10, "c": 10}, seen)
}

func TestEligible(t *testing.T) {
	mk := func(spec string) []*Backend {
		// spec: one letter per backend; upper case is a backup, '0' a
		// weight-zero primary, '_' a weight-zero backup.
		var bs []*Backend
		for _, r := range spec {
			b := &Backend{Name: string(r)}
			switch {
			case r == '0':
				b.Weight = -1
			case r == '_':
				b.Weight, b.Backup = -1, true
			case r >= 'A' && r <= 'Z':
				b.Backup = true
			}
			bs = append(bs, b)
		}
		return bs
	}
	names := func(bs []*Backend) string {
		var s strings.Builder
		for _, b := range bs {
			s.WriteString(b.Name)
		}
		return s.String()
	}
	cases := []struct {
		all        string
		allBackups bool
		want       string
	}{
		{"abXY", false, "ab"},
		{"aX0", true, "a"},
		{"0XY", false, "X"},
		{"0XY", true, "XY"},
		{"0_Y", false, "Y"},
		{"00", false, ""},
		{"", true, ""},
		{"_X", false, "X"},
	}
	for _, tc := range cases {
		t.Run(tc.all, func(t *testing.T) {
			assert.Equal(t, tc.want, names(Eligible(mk(tc.all), tc.allBackups)))
		})
	}
}
