package sticky

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRefs(t *testing.T) {
	t.Run("same backend: references add up", func(t *testing.T) {
		var tb Table
		r1, others := tb.Acquire("dup", "node1", persistent311)
		assert.Zero(t, others)
		r2, others := tb.Acquire("dup", "node1", persistent311)
		assert.Equal(t, 1, others, "a second live connection is a duplicate")
		assert.True(t, tb.Release(r1))
		assertLive(t, &tb, "dup", "node1", 1)
		assert.True(t, tb.Release(r2))
		assertLive(t, &tb, "dup", "node1", 0)
	})
	t.Run("re-point: the old connection's release is stale", func(t *testing.T) {
		var tb Table
		old, _ := tb.Acquire("moved", "node1", persistent311)
		repointed, others := tb.Acquire("moved", "node2", persistent311)
		assert.Equal(t, 1, others)
		assertLive(t, &tb, "moved", "node2", 1)
		assert.False(t, tb.Release(old), "must not take the reference of the connection on node2")
		assertLive(t, &tb, "moved", "node2", 1)
		assert.True(t, tb.Release(repointed))
		assertLive(t, &tb, "moved", "node2", 0)
	})
	t.Run("re-point and back: the first reference stays stale", func(t *testing.T) {
		var tb Table
		first, _ := tb.Acquire("flap", "node1", persistent311)
		second, _ := tb.Acquire("flap", "node2", persistent311)
		third, others := tb.Acquire("flap", "node1", persistent311)
		assert.Equal(t, 1, others, "only the connection on node2 counted as live")
		assert.False(t, tb.Release(first))
		assert.False(t, tb.Release(second))
		assertLive(t, &tb, "flap", "node1", 1)
		assert.True(t, tb.Release(third))
	})
	t.Run("delete and re-create: the old reference is stale", func(t *testing.T) {
		var tb Table
		old, _ := tb.Acquire("gone", "node1", persistent311)
		require.True(t, tb.Delete("gone"))
		fresh, others := tb.Acquire("gone", "node1", persistent311)
		assert.Zero(t, others, "the deleted entry's connection is forgotten")
		assert.False(t, tb.Release(old))
		assertLive(t, &tb, "gone", "node1", 1)
		assert.True(t, tb.Release(fresh))
	})
	t.Run("the zero Ref and a second release of the last reference", func(t *testing.T) {
		var tb Table
		assert.False(t, tb.Release(Ref{}))
		ref, _ := tb.Acquire("twice", "node1", persistent311)
		assert.True(t, tb.Release(ref))
		assert.False(t, tb.Release(ref))
		assertLive(t, &tb, "twice", "node1", 0)
	})
	t.Run("the newest CONNECT decides the keep time", func(t *testing.T) {
		var tb Table
		r1, _ := tb.Acquire("takeover", "node1", persistent311)
		r2, _ := tb.Acquire("takeover", "node1", clean311)
		assert.True(t, tb.Release(r2))
		assert.True(t, tb.Release(r1))
		assert.Zero(t, tb.Len(), "the clean session of the newest connection ends with the last connection")
	})
}

func assertLive(t *testing.T, tb *Table, clientID, backend string, live int) {
	t.Helper()
	e, ok := peek(tb, clientID)
	require.True(t, ok, "entry %q", clientID)
	assert.Equal(t, backend, e.Backend)
	assert.Equal(t, live, e.Live)
	assert.Equal(t, live > 0, e.Expires.IsZero(), "an expiry exactly when idle")
}

func TestDelete(t *testing.T) {
	var tb Table
	connectOnce(t, &tb, "a", "node1", persistent311)
	assert.True(t, tb.Delete("a"))
	assert.False(t, tb.Delete("a"))
	assert.False(t, tb.Delete("never-seen"))
	_, ok := tb.Load("a")
	assert.False(t, ok)
	assert.Zero(t, tb.Len())
	checkInvariants(t, &tb)
}

func TestDeleteBackend(t *testing.T) {
	var tb Table
	connectOnce(t, &tb, "idle-1", "node1", persistent311)
	connectOnce(t, &tb, "idle-2", "node1", v5(ExpiryNever))
	connectOnce(t, &tb, "other", "node2", persistent311)
	live, _ := tb.Acquire("live", "node1", persistent311)

	assert.Equal(t, 2, tb.DeleteBackend("node1"))
	assert.ElementsMatch(t, []string{"other", "live"}, clientIDs(&tb))
	backend, ok := tb.Load("live")
	assert.True(t, ok, "a live entry stays so that duplicates are still seen")
	assert.Equal(t, "node1", backend)

	require.True(t, tb.Release(live))
	assert.Equal(t, []string{"other"}, clientIDs(&tb), "removed with its last connection despite a persistent session")
	assert.Zero(t, tb.DeleteBackend("node3"))
	checkInvariants(t, &tb)
}

func TestAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{TTL: time.Hour}
		start := time.Now()
		live, _ := tb.Acquire("live", "node1", persistent311)
		time.Sleep(time.Second)
		connectOnce(t, tb, "idle", "node2", v5(60))

		got := map[string]Entry{}
		for id, e := range tb.All() {
			got[id] = e
		}
		assert.Equal(t, map[string]Entry{
			"live": {Backend: "node1", Live: 1, LastUse: start},
			"idle": {Backend: "node2", LastUse: start.Add(time.Second), Expires: start.Add(61 * time.Second)},
		}, got)

		n := 0
		for range tb.All() {
			n++
			break
		}
		assert.Equal(t, 1, n, "the iteration stops when the loop breaks")
		tb.Release(live)
	})
}

// TestKeys shows that the whole client ID is the key: HAProxy's `stick-table
// type string len 32` cuts keys at 32 bytes, so IDs that share a 32-byte
// prefix collide there.
func TestKeys(t *testing.T) {
	prefix := strings.Repeat("p", 32)
	longest := strings.Repeat("k", 65535) // the largest MQTT UTF-8 string
	keys := []struct{ name, clientID string }{
		{"1 byte", "a"},
		{"32 bytes", prefix},
		{"33 bytes sharing the 32-byte prefix", prefix + "x"},
		{"another 33 bytes sharing the prefix", prefix + "y"},
		{"65,535 bytes", longest},
		{"65,535 bytes differing in the last byte", longest[:65534] + "j"},
	}
	var tb Table
	for i, k := range keys {
		connectOnce(t, &tb, k.clientID, "node"+string(rune('0'+i)), persistent311)
	}
	require.Equal(t, len(keys), tb.Len(), "every key is distinct")
	for i, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			backend, ok := tb.Load(k.clientID)
			assert.True(t, ok)
			assert.Equal(t, "node"+string(rune('0'+i)), backend)
		})
	}
	_, ok := tb.Load(prefix[:31])
	assert.False(t, ok, "a prefix of a key is not the key")
	require.True(t, tb.Delete(prefix+"x"))
	_, ok = tb.Load(prefix + "y")
	assert.True(t, ok, "deleting one key leaves its prefix-sharing neighbours")
	checkInvariants(t, &tb)
}

// TestKeyIsCopied shows that the table keeps its own copy of the client ID,
// so a caller may hand it a view into a packet buffer it then reuses.
func TestKeyIsCopied(t *testing.T) {
	var tb Table
	buf := []byte("sensor-42")
	view := unsafe.String(&buf[0], len(buf))
	ref, _ := tb.Acquire(view, "node1", persistent311)
	copy(buf, "XXXXXXXXX")
	_, ok := tb.Load("sensor-42")
	assert.True(t, ok)
	assert.True(t, tb.Release(ref))
	assert.Equal(t, []string{"sensor-42"}, clientIDs(&tb))
}

func TestZeroAllocs(t *testing.T) {
	var tb Table
	connectOnce(t, &tb, "sensor-0000000000000042", "node1", persistent311)
	t.Run("Load hit", func(t *testing.T) {
		allocs := testing.AllocsPerRun(1000, func() {
			if _, ok := tb.Load("sensor-0000000000000042"); !ok {
				panic("miss")
			}
		})
		assert.Zero(t, allocs)
	})
	t.Run("Load miss", func(t *testing.T) {
		assert.Zero(t, testing.AllocsPerRun(1000, func() { tb.Load("unknown") }))
	})
	t.Run("Acquire and Release of a known client", func(t *testing.T) {
		allocs := testing.AllocsPerRun(1000, func() {
			ref, _ := tb.Acquire("sensor-0000000000000042", "node1", persistent311)
			tb.Release(ref)
		})
		assert.Zero(t, allocs)
	})
}
