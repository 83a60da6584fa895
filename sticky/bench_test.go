package sticky

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// clientIDs23 returns n distinct 23-byte client IDs, the longest a MQTT
// 3.1.1 server must accept [MQTT-3.1.3-5] and a common length in practice.
func clientIDs23(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sensor-%016d", i)
	}
	return ids
}

// filledTable returns a table holding ids as idle entries.
func filledTable(tb testing.TB, ids []string) *Table {
	table := &Table{MaxEntries: len(ids)}
	for i, id := range ids {
		ref, _ := table.Acquire(id, backendNames[i%len(backendNames)], persistent311)
		table.Release(ref)
	}
	if table.Len() != len(ids) {
		tb.Fatalf("table holds %d entries, want %d", table.Len(), len(ids))
	}
	return table
}

var backendNames = []string{"node1", "node2", "node3"}

// TestMemoryPerEntry measures the heap a full default-size table takes per
// entry of a 23-byte client ID: the map slot, the entry and the copy of the
// key. The bound catches a layout regression, not noise: the measure is a
// difference of live heaps after a GC.
func TestMemoryPerEntry(t *testing.T) {
	const n = DefaultMaxEntries
	ids := clientIDs23(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	table := filledTable(t, ids)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d entries of 23-byte client IDs: %.1f heap bytes per entry", n, perEntry)
	if perEntry > 200 {
		t.Errorf("%.1f heap bytes per entry, want at most 200", perEntry)
	}
	runtime.KeepAlive(table)
	runtime.KeepAlive(ids)
}

// BenchmarkLoad is the lookup of every reconnecting client: a hit in a
// table of 100,000 entries.
func BenchmarkLoad(b *testing.B) {
	ids := clientIDs23(DefaultMaxEntries)
	table := filledTable(b, ids)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ids))
		for pb.Next() {
			if _, ok := table.Load(ids[i]); !ok {
				b.Error("miss")
				return
			}
			i = (i + 1) % len(ids)
		}
	})
}

// BenchmarkAcquireRelease is one connection of a known client: its
// reference taken and given back.
func BenchmarkAcquireRelease(b *testing.B) {
	ids := clientIDs23(DefaultMaxEntries)
	benchConnections(b, filledTable(b, ids), ids)
}

// BenchmarkAcquireReleaseEvict is one connection of a client the full
// table has not seen: an insert that evicts the least recently used entry.
// The table is filled with other IDs, and the connecting IDs cycle through
// twice the table's size, so each is long evicted when it comes back.
func BenchmarkAcquireReleaseEvict(b *testing.B) {
	ids := clientIDs23(3 * DefaultMaxEntries)
	benchConnections(b, filledTable(b, ids[2*DefaultMaxEntries:]), ids[:2*DefaultMaxEntries])
}

// benchConnections runs connections of the clients ids, each goroutine
// from its own starting point.
func benchConnections(b *testing.B, table *Table, ids []string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ids))
		for pb.Next() {
			ref, _ := table.Acquire(ids[i], backendNames[i%len(backendNames)], persistent311)
			table.Release(ref)
			i = (i + 1) % len(ids)
		}
	})
}
