package stats

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// utc strips the monotonic clock and the zone, as a JSON round trip does.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

func TestJSONMatchesTheModel(t *testing.T) {
	f := newFixture(t)
	traffic(t, f, 3, 2)
	disconnect(t, f.connect(t, "keeper", true)) // a session the sticky table keeps
	testnet.WaitFor(t, 5*time.Second, func() bool { return f.ended() == 6 }, "the keeper's end")
	f.pool.SetState("node2", mqttlb.StateDrain)
	f.pool.RecordCheck(f.cluster.Nodes()[2].Addr(), errConnRefused, 3*time.Millisecond)

	model := f.proxy.Stats()
	url := serve(t, &JSON{Source: SourceFunc(func() mqttlb.Stats { return model })})
	resp, body := get(t, url, "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	var doc mqttlb.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	model.Time = utc(model.Time)
	for i := range model.Pools {
		for j := range model.Pools[i].Backends {
			b := &model.Pools[i].Backends[j]
			b.LastChange, b.LastCheck = utc(b.LastChange), utc(b.LastCheck)
		}
	}
	assert.Equal(t, model, doc)

	// The names a consumer reads, and the values of the run.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	proxy := raw["proxy"].(map[string]any)
	assert.Equal(t, 6.0, proxy["total"])
	assert.Equal(t, map[string]any{"no_backend": 2.0}, proxy["rejects"])
	pool := raw["pools"].([]any)[1].(map[string]any) // routes first, the default last
	assert.Equal(t, "brokers", pool["name"])
	assert.Equal(t, 0.0, pool["redispatches"])
	assert.Equal(t, 1.0, pool["sticky_entries"], "the keeper's session")
	backends := pool["backends"].([]any)
	assert.Equal(t, "DRAIN", backends[1].(map[string]any)["status"])
	assert.Equal(t, "connection refused", backends[2].(map[string]any)["last_check_error"])
	assert.Equal(t, 3e6, backends[2].(map[string]any)["last_check_latency_ns"])
}

// traffic runs n MQTT sessions (CONNECT, PINGREQ, DISCONNECT) through the
// fixture and rejects clients routed to the empty pool, and waits
// until every connection is counted. It returns the bytes sent and
// received by the sessions.
func traffic(t *testing.T, f *fixture, sessions, rejects int) (sent, received int) {
	t.Helper()
	before := f.ended()
	for i := range sessions {
		conn := f.connect(t, "client-"+string(rune('a'+i)), false)
		ping(t, conn)
		disconnect(t, conn)
		// CONNECT of 3.1.1 with a 8-byte client ID: 2 + 10 + 2 + 8;
		// PINGREQ 2 and DISCONNECT 2. CONNACK 4 and PINGRESP 2.
		sent += 22 + 2 + 2
		received += 4 + 2
	}
	for i := range rejects {
		f.connectAnswered(t, "lost-"+string(rune('a'+i)), false, 3).Close() // server unavailable
	}
	testnet.WaitFor(t, 5*time.Second, func() bool { return f.ended() == before+sessions+rejects }, "every connection counted")
	return sent, received
}
