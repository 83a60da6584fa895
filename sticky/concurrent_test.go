package sticky

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// checkInvariants verifies the table's internal structure: every shard's
// idle list holds exactly its idle entries, newest first, each shard's
// published oldest entry matches its list, every key lives in its own
// shard, and Len counts every entry.
func checkInvariants(t *testing.T, tb *Table) {
	t.Helper()
	total := 0
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		idleInList := 0
		var newer *entry
		for e := s.newest; e != nil && idleInList <= len(s.entries); e = e.older {
			assert.Same(t, newer, e.newer, "list links")
			assert.Zero(t, e.live, "only idle entries are in the list")
			assert.Same(t, e, s.entries[e.clientID], "listed entries are in the map")
			if newer != nil {
				assert.LessOrEqual(t, e.lastUse, newer.lastUse, "newest first")
			}
			newer = e
			idleInList++
		}
		assert.Same(t, newer, s.oldest, "tail")
		idleInMap := 0
		for id, e := range s.entries {
			assert.Equal(t, id, e.clientID)
			assert.Same(t, s, tb.shard(id), "key in its shard")
			assert.GreaterOrEqual(t, e.live, int32(0))
			if e.live == 0 {
				idleInMap++
			}
		}
		assert.Equal(t, idleInMap, idleInList, "every idle entry is listed")
		var oldest int64
		if s.oldest != nil {
			oldest = s.oldest.lastUse + 1
		}
		assert.Equal(t, oldest, s.oldestIdle.Load(), "published oldest entry")
		total += len(s.entries)
		s.mu.Unlock()
	}
	assert.Equal(t, total, tb.Len())
}

// TestConcurrentUse runs many goroutines over a few shared client IDs, so
// that acquires re-point entries under other connections, releases go stale,
// deletes and evictions race with both, and checks that the table ends
// consistent with no live reference left. Run it with -race.
func TestConcurrentUse(t *testing.T) {
	const (
		workers = 16
		ops     = 2000
		keys    = 24
	)
	tables := []struct {
		name  string
		table *Table
	}{
		{"defaults", &Table{}},
		{"eviction", &Table{MaxEntries: 8}},
		{"expiry", &Table{TTL: 50 * time.Microsecond}},
	}
	sessions := []Session{v5(0), v5(1), v5(ExpiryNever), clean311, persistent311}
	clientIDs := make([]string, keys)
	for i := range clientIDs {
		clientIDs[i] = "client-" + strconv.Itoa(i)
	}
	backends := []string{"node1", "node2", "node3"}

	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) {
			tb := tt.table
			held := make([][]Ref, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for range ops {
						id := clientIDs[rng.IntN(keys)]
						switch op := rng.IntN(100); {
						case op < 35:
							ref, others := tb.Acquire(id, backends[rng.IntN(len(backends))], sessions[rng.IntN(len(sessions))])
							if others < 0 {
								t.Errorf("Acquire(%q) reported %d other connections", id, others)
							}
							held[w] = append(held[w], ref)
						case op < 70 && len(held[w]) > 0:
							i := rng.IntN(len(held[w]))
							tb.Release(held[w][i])
							held[w] = slices.Delete(held[w], i, i+1)
						case op < 97:
							tb.Load(id)
						case op < 99:
							tb.Delete(id)
						default:
							tb.DeleteBackend(backends[rng.IntN(len(backends))])
						}
					}
				})
			}
			wg.Wait()

			checkInvariants(t, tb)
			assertLiveMatchesRefs(t, tb, slices.Concat(held...))
			for w := range workers {
				wg.Go(func() {
					for _, ref := range held[w] {
						tb.Release(ref)
					}
				})
			}
			wg.Wait()

			checkInvariants(t, tb)
			n := 0
			for id, e := range tb.All() {
				n++
				assert.Zero(t, e.Live, "%s: every connection has ended", id)
			}
			assert.Equal(t, n, tb.Len(), "All removed the expired entries, so it sees every entry Len counts")
			assert.LessOrEqual(t, n, keys)
			if limit := tb.MaxEntries; limit > 0 {
				assert.LessOrEqual(t, n, limit, "idle entries are evicted down to MaxEntries")
			}
			checkInvariants(t, tb)
		})
	}
}

// assertLiveMatchesRefs checks that each entry's live count is exactly the
// number of unreleased references of its current pointing: no stale release
// took a reference, and no current one was lost.
func assertLiveMatchesRefs(t *testing.T, tb *Table, refs []Ref) {
	t.Helper()
	current := map[Ref]int32{}
	for _, ref := range refs {
		current[ref]++
	}
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		for id, e := range s.entries {
			assert.Equal(t, current[Ref{clientID: id, gen: e.gen}], e.live, "live references of %s", id)
		}
		s.mu.Unlock()
	}
}
