package sticky

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func v5(expiry uint32) Session { return Session{Version: 5, Expiry: expiry, HasExpiry: true} }

var (
	persistent311 = Session{Version: 4}
	clean311      = Session{Version: 4, CleanStart: true}
)

// peek returns the entry as All reports it. Unlike Load it is not a use, so
// it does not restart the entry's expiry.
func peek(tb *Table, clientID string) (Entry, bool) {
	for id, e := range tb.All() {
		if id == clientID {
			return e, true
		}
	}
	return Entry{}, false
}

// connectOnce stores clientID -> backend as one connection that came and
// went.
func connectOnce(t *testing.T, tb *Table, clientID, backend string, sess Session) {
	t.Helper()
	ref, _ := tb.Acquire(clientID, backend, sess)
	require.True(t, tb.Release(ref))
}

func TestExpiryFollowsSession(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		sess Session
		keep time.Duration // after the last release; 0 = removed at once
	}{
		{"5 expiry 0", 0, v5(0), 0},
		{"5 expiry absent", 0, Session{Version: 5}, 0},
		{"5 expiry 90 s", 0, v5(90), 90 * time.Second},
		{"5 expiry 2 h is capped by the TTL", 0, v5(7200), DefaultTTL},
		{"5 expiry never is kept for the TTL", 0, v5(ExpiryNever), DefaultTTL},
		{"5 expiry never with a 5 m TTL", 5 * time.Minute, v5(ExpiryNever), 5 * time.Minute},
		{"3.1.1 clean session", 0, clean311, 0},
		{"3.1.1 persistent session", 0, persistent311, DefaultTTL},
		{"3.1 persistent session", 0, Session{Version: 3}, DefaultTTL},
		{"zero Session", 0, Session{}, DefaultTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tb := &Table{TTL: tt.ttl}
				ref, _ := tb.Acquire("client", "node1", tt.sess)
				// The keep time starts at the release, however long the
				// connection lived.
				time.Sleep(3 * time.Hour)
				require.True(t, tb.Release(ref))

				if tt.keep == 0 {
					assert.Zero(t, tb.Len(), "removed when the last connection closes")
					_, ok := tb.Load("client")
					assert.False(t, ok)
					return
				}
				e, ok := peek(tb, "client")
				require.True(t, ok)
				assert.Equal(t, time.Now().Add(tt.keep), e.Expires)

				time.Sleep(tt.keep - time.Nanosecond)
				_, ok = peek(tb, "client")
				assert.True(t, ok, "kept until its keep time")
				time.Sleep(time.Nanosecond)
				_, ok = tb.Load("client")
				assert.False(t, ok, "gone at its keep time")
				assert.Zero(t, tb.Len())
			})
		})
	}
}

func TestNegativeTTLKeepsForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{TTL: -1}
		connectOnce(t, tb, "forever", "node1", v5(ExpiryNever))
		connectOnce(t, tb, "hour", "node1", v5(3600))
		e, ok := peek(tb, "forever")
		require.True(t, ok)
		assert.True(t, e.Expires.IsZero(), "no expiry to report")

		time.Sleep(10 * 365 * 24 * time.Hour)
		backend, ok := tb.Load("forever")
		assert.True(t, ok)
		assert.Equal(t, "node1", backend)
		_, ok = tb.Load("hour")
		assert.False(t, ok, "a finite session expiry still applies")
	})
}

func TestExpiryRestartsOnUse(t *testing.T) {
	uses := []struct {
		name string
		use  func(t *testing.T, tb *Table, sess Session)
	}{
		{"Load", func(t *testing.T, tb *Table, _ Session) {
			_, ok := tb.Load("client")
			require.True(t, ok)
		}},
		{"Acquire and Release", func(t *testing.T, tb *Table, sess Session) {
			connectOnce(t, tb, "client", "node1", sess)
		}},
	}
	sessions := []struct {
		name string
		sess Session
		keep time.Duration
	}{
		{"3.1.1 persistent", persistent311, DefaultTTL},
		{"5 expiry 90 s", v5(90), 90 * time.Second},
	}
	for _, u := range uses {
		for _, s := range sessions {
			t.Run(u.name+"/"+s.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					tb := &Table{}
					connectOnce(t, tb, "client", "node1", s.sess)
					time.Sleep(s.keep * 2 / 3)
					u.use(t, tb, s.sess)
					time.Sleep(s.keep * 2 / 3)
					_, ok := peek(tb, "client")
					assert.True(t, ok, "the use restarted the keep time")
					time.Sleep(s.keep/3 - time.Nanosecond)
					_, ok = peek(tb, "client")
					assert.True(t, ok, "kept until a full keep time after the use")
					time.Sleep(time.Nanosecond)
					_, ok = tb.Load("client")
					assert.False(t, ok, "gone a full keep time after the use")
				})
			})
		}
	}
}

func TestLiveEntryNeverExpiresNorIsEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{TTL: time.Minute, MaxEntries: 2}
		ref, others := tb.Acquire("live", "node1", clean311)
		assert.Zero(t, others)
		time.Sleep(time.Hour)
		for _, id := range []string{"a", "b", "c"} {
			connectOnce(t, tb, id, "node2", persistent311)
			time.Sleep(time.Second)
		}
		assert.Equal(t, 2, tb.Len())
		backend, ok := tb.Load("live")
		assert.True(t, ok, "60 TTLs later, still there while live")
		assert.Equal(t, "node1", backend)
		_, ok = peek(tb, "c")
		assert.True(t, ok, "the newest idle entry stays")

		require.True(t, tb.Release(ref))
		assert.Equal(t, []string{"c"}, clientIDs(tb), "a clean session goes with its last connection")
	})
}

func TestLRUEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{MaxEntries: 3}
		for _, id := range []string{"a", "b", "c"} {
			connectOnce(t, tb, id, "node1", persistent311)
			time.Sleep(time.Second)
		}
		_, ok := tb.Load("a")
		require.True(t, ok)
		time.Sleep(time.Second)

		connectOnce(t, tb, "d", "node1", persistent311)
		assert.ElementsMatch(t, []string{"a", "c", "d"}, clientIDs(tb), "b was the least recently used")
		time.Sleep(time.Second)

		connectOnce(t, tb, "c", "node1", persistent311)
		time.Sleep(time.Second)
		connectOnce(t, tb, "e", "node1", persistent311)
		assert.ElementsMatch(t, []string{"c", "d", "e"}, clientIDs(tb), "a was the least recently used")

		checkInvariants(t, tb)
	})
}

// TestNegativeMaxEntriesDoesNotEvict guards the "no bound" meaning of a
// negative MaxEntries: taken as a limit, it would evict every idle entry.
func TestNegativeMaxEntriesDoesNotEvict(t *testing.T) {
	tb := &Table{MaxEntries: -1}
	for i := range 10 {
		connectOnce(t, tb, "client-"+strconv.Itoa(i), "node1", persistent311)
	}
	assert.Equal(t, 10, tb.Len())
}

func TestOverflowWhileAllLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{MaxEntries: 2}
		refs := make([]Ref, 3)
		for i, id := range []string{"a", "b", "c"} {
			refs[i], _ = tb.Acquire(id, "node1", persistent311)
			time.Sleep(time.Second)
		}
		assert.Equal(t, 3, tb.Len(), "live entries are never evicted, even over MaxEntries")

		require.True(t, tb.Release(refs[1]))
		assert.ElementsMatch(t, []string{"a", "c"}, clientIDs(tb), "the first idle entry goes to get back under MaxEntries")
		require.True(t, tb.Release(refs[0]))
		require.True(t, tb.Release(refs[2]))
		assert.Equal(t, 2, tb.Len())
		checkInvariants(t, tb)
	})
}

func TestSweepOnWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &Table{}
		ids := sameShardIDs(tb, 12)
		connectOnce(t, tb, ids[0], "node1", persistent311) // the tail: kept for the TTL
		time.Sleep(time.Second)
		for _, id := range ids[1:6] {
			connectOnce(t, tb, id, "node1", v5(60))
		}
		time.Sleep(time.Second)
		for _, id := range ids[6:11] {
			connectOnce(t, tb, id, "node1", v5(600))
		}
		time.Sleep(2 * time.Minute)
		require.Equal(t, 11, tb.Len(), "nothing removed without writes")

		// Short-lived entries behind the tail are found by the random
		// part of the sweep; bounded, as that part is random.
		for i := 0; i < 100 && tb.Len() > 6; i++ {
			connectOnce(t, tb, ids[11], "node1", clean311)
		}
		assert.Equal(t, 6, tb.Len(), "the five 60 s entries are swept by writes to their shard")

		time.Sleep(DefaultTTL)
		connectOnce(t, tb, ids[11], "node1", clean311)
		connectOnce(t, tb, ids[11], "node1", clean311)
		assert.Zero(t, tb.Len(), "expired entries at the tail go in order, two per write")
		checkInvariants(t, tb)
	})
}

// sameShardIDs returns n client IDs that fall into the same shard of tb.
func sameShardIDs(tb *Table, n int) []string {
	var ids []string
	want := tb.shard("id-0")
	for i := 0; len(ids) < n; i++ {
		id := "id-" + strconv.Itoa(i)
		if tb.shard(id) == want {
			ids = append(ids, id)
		}
	}
	return ids
}

func clientIDs(tb *Table) []string {
	var ids []string
	for id := range tb.All() {
		ids = append(ids, id)
	}
	return ids
}
