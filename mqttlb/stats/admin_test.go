package stats

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/mqttlb"
)

const adminUser, adminPass = "ops", "op-secret"

// adminDo posts an admin action and decodes the JSON answer.
func adminDo(t *testing.T, target string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, body := post(t, target, form, adminUser, adminPass)
	var answer map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &answer), body)
	return resp.StatusCode, answer
}

func TestDrainThroughTheAdminAPI(t *testing.T) {
	f := newFixture(t)
	admin := serve(t, &Admin{Proxy: f.proxy, Auth: Auth{User: adminUser, Password: adminPass}, Logger: f.proxy.Logger})

	// Live connections, one per node, and persistent sessions that stick.
	live := map[string]string{} // client ID → node
	for i := range 3 {
		id := fmt.Sprintf("live-%d", i)
		conn := f.connect(t, id, false)
		live[id] = f.holder(t, id)
		t.Cleanup(func() { conn.Close() })
		defer ping(t, conn) // after the drain: still relayed
	}
	stuck := map[string]string{}
	for i := range 9 {
		id := fmt.Sprintf("sticky-%d", i)
		conn := f.connect(t, id, true)
		stuck[id] = f.holder(t, id)
		disconnect(t, conn)
	}
	require.Contains(t, stuck, "sticky-0")
	drained := stuck["sticky-0"]

	status, answer := adminDo(t, admin, url.Values{"action": {"state"}, "pool": {"brokers"}, "backend": {drained}, "state": {"drain"}})
	require.Equal(t, http.StatusOK, status, answer)
	assert.Equal(t, map[string]any{"ok": true, "action": "state", "pool": "brokers", "backend": drained, "state": "drain"}, answer)
	s, down, ok := f.pool.BackendState(drained)
	require.True(t, ok)
	assert.Equal(t, mqttlb.StateDrain, s)
	assert.False(t, down)

	for i := range 12 {
		id := fmt.Sprintf("new-%d", i)
		conn := f.connect(t, id, false)
		assert.NotEqual(t, drained, f.holder(t, id), "new client %s avoids the drained backend", id)
		disconnect(t, conn)
	}
	for id, node := range stuck {
		conn := f.connect(t, id, true)
		assert.Equal(t, node, f.holder(t, id), "sticky client %s keeps its backend", id)
		disconnect(t, conn)
	}
	for id, node := range live {
		assert.Equal(t, node, f.holder(t, id), "live connection %s stays", id)
	}
	_, page := get(t, serve(t, &Page{Source: f.proxy}), "", "")
	assert.Equal(t, "DRAIN", pageRows(t, page)["brokers"][drained])

	status, answer = adminDo(t, admin, url.Values{"action": {"sticky"}, "pool": {"brokers"}, "client_id": {"sticky-0"}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, drained, answer["backend"])
	status, answer = adminDo(t, admin, url.Values{"action": {"unstick"}, "pool": {"brokers"}, "client_id": {"sticky-0"}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, answer["cleared"])
	conn := f.connect(t, "sticky-0", true)
	assert.NotEqual(t, drained, f.holder(t, "sticky-0"), "unstuck, the client is placed anew")
	disconnect(t, conn)
}

func TestAdminActions(t *testing.T) {
	f := newFixture(t)
	admin := serve(t, &Admin{Proxy: f.proxy, Auth: Auth{User: adminUser, Password: adminPass}, Logger: f.proxy.Logger})
	conn := f.connect(t, "victim", false)
	node := f.holder(t, "victim")

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		check  func(t *testing.T, answer map[string]any)
	}{
		{"weight", url.Values{"action": {"weight"}, "pool": {"brokers"}, "backend": {"node1"}, "weight": {"7"}}, http.StatusOK,
			func(t *testing.T, _ map[string]any) { assert.Equal(t, 7, f.pool.Stats().Backends[0].Weight) }},
		{"weight out of range", url.Values{"action": {"weight"}, "pool": {"brokers"}, "backend": {"node1"}, "weight": {"257"}}, http.StatusBadRequest, nil},
		{"maint", url.Values{"action": {"state"}, "pool": {"brokers"}, "backend": {"node3"}, "state": {"maint"}}, http.StatusOK,
			func(t *testing.T, _ map[string]any) {
				assert.Equal(t, mqttlb.StatusMaint, f.pool.Stats().Backends[2].Status)
			}},
		{"bad state", url.Values{"action": {"state"}, "pool": {"brokers"}, "backend": {"node3"}, "state": {"off"}}, http.StatusBadRequest, nil},
		{"add", url.Values{"action": {"add"}, "pool": {"brokers"}, "backend": {"node4"}, "addr": {"127.0.0.1:1"}, "weight": {"3"}, "maxconn": {"10"}}, http.StatusOK,
			func(t *testing.T, _ map[string]any) {
				b := f.pool.Stats().Backends[3]
				assert.Equal(t, []any{"node4", "127.0.0.1:1", 3, 10}, []any{b.Name, b.Addr, b.Weight, b.MaxConn})
			}},
		{"add twice", url.Values{"action": {"add"}, "pool": {"brokers"}, "backend": {"node4"}, "addr": {"127.0.0.1:1"}}, http.StatusConflict, nil},
		{"add without addr", url.Values{"action": {"add"}, "pool": {"brokers"}, "backend": {"node5"}}, http.StatusBadRequest, nil},
		{"remove", url.Values{"action": {"remove"}, "pool": {"brokers"}, "backend": {"node4"}}, http.StatusOK,
			func(t *testing.T, _ map[string]any) { assert.Len(t, f.pool.Backends(), 3) }},
		{"remove unknown", url.Values{"action": {"remove"}, "pool": {"brokers"}, "backend": {"node4"}}, http.StatusNotFound, nil},
		{"close", url.Values{"action": {"close"}, "pool": {"brokers"}, "backend": {node}, "window": {"0s"}}, http.StatusOK,
			func(t *testing.T, answer map[string]any) {
				assert.Equal(t, 1.0, answer["closing"])
				testnet.WaitFor(t, 5*time.Second, func() bool { return f.ended() == 1 }, "the victim's end")
			}},
		{"close bad window", url.Values{"action": {"close"}, "pool": {"brokers"}, "backend": {node}, "window": {"soon"}}, http.StatusBadRequest, nil},
		{"sticky without client ID", url.Values{"action": {"sticky"}, "pool": {"brokers"}}, http.StatusBadRequest, nil},
		{"unknown pool", url.Values{"action": {"state"}, "pool": {"nope"}}, http.StatusNotFound, nil},
		{"unknown action", url.Values{"action": {"reboot"}, "pool": {"brokers"}}, http.StatusBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := adminDo(t, admin, tc.form)
			assert.Equal(t, tc.status, status, answer)
			assert.Equal(t, tc.status == http.StatusOK, answer["ok"], answer)
			if tc.check != nil {
				tc.check(t, answer)
			}
		})
	}
	conn.Close()
}

func TestAdminIsOffAndPostOnly(t *testing.T) {
	p := fourStates()
	form := url.Values{"action": {"state"}, "pool": {"brokers"}, "backend": {"node1"}, "state": {"maint"}}
	resp, _ := post(t, serve(t, &Admin{Proxy: p}), form, "", "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no credentials, no control")

	admin := serve(t, &Admin{Proxy: p, Auth: Auth{User: adminUser, Password: adminPass}})
	resp, _ = get(t, admin+"?"+form.Encode(), adminUser, adminPass)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))
	resp, _ = post(t, admin, form, adminUser, "wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, mqttlb.StatusUp, p.Pool("brokers").Stats().Backends[0].Status, "nothing changed")
}
