package stats

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/packet"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/sticky"
)

// fixture is a proxy on loopback over three embedded brokers, with a pool
// "brokers" (round robin, sticky table) as its default and a route "lost"
// (client IDs "lost-...") to a pool "empty" that has no backend.
type fixture struct {
	cluster *cluster.Cluster
	pool    *mqttlb.Pool
	proxy   *mqttlb.Proxy
	addr    string

	mu     sync.Mutex
	events []mqttlb.ConnEvent
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := cluster.Start(cluster.Config{Nodes: 3, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	f := &fixture{cluster: c}
	f.pool = &mqttlb.Pool{Name: "brokers", Balancer: balance.RoundRobin{}, Sticky: &sticky.Table{},
		FailWindow: -1, Logger: quiet}
	var backends []*balance.Backend
	for _, n := range c.Nodes() {
		backends = append(backends, &balance.Backend{Name: n.Name(), Addr: n.Addr()})
	}
	f.pool.SetBackends(backends)
	f.proxy = &mqttlb.Proxy{
		Routes:  []mqttlb.Route{{Name: "lost", Match: mqttlb.ClientIDPrefix("lost-"), Pool: &mqttlb.Pool{Name: "empty"}}},
		Default: f.pool,
		Logger:  quiet,
		OnConn: func(ev mqttlb.ConnEvent) {
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- f.proxy.Serve(ln) }()
	t.Cleanup(func() {
		f.proxy.Close()
		require.ErrorIs(t, <-served, mqttlb.ErrProxyClosed)
	})
	return f
}

// ended returns the number of connections that have ended or been refused.
func (f *fixture) ended() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

// connect opens an MQTT 3.1.1 connection through the proxy and returns it
// after an accepting CONNACK. persistent asks the broker to keep the
// session (Clean Session 0).
func (f *fixture) connect(t *testing.T, clientID string, persistent bool) net.Conn {
	t.Helper()
	return f.connectAnswered(t, clientID, persistent, 0)
}

// connectAnswered is connect expecting the CONNACK return code code.
func (f *fixture) connectAnswered(t *testing.T, clientID string, persistent bool, code byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", f.addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write(packet.AppendConnect(nil, &packet.ConnectSpec{ClientID: clientID, CleanStart: !persistent, KeepAlive: 60}))
	require.NoError(t, err)
	ack := make([]byte, 4)
	_, err = io.ReadFull(conn, ack)
	require.NoError(t, err)
	require.Equal(t, byte(0x20), ack[0], "CONNACK")
	require.Equal(t, code, ack[3], "CONNACK return code")
	return conn
}

// ping checks that conn is still relayed: PINGREQ gets a PINGRESP.
func ping(t *testing.T, conn net.Conn) {
	t.Helper()
	_, err := conn.Write(packet.AppendPingreq(nil))
	require.NoError(t, err)
	resp := make([]byte, 2)
	_, err = io.ReadFull(conn, resp)
	require.NoError(t, err)
	require.Equal(t, packet.AppendPingresp(nil), resp)
}

// disconnect ends conn cleanly and waits for the proxy to close it.
func disconnect(t *testing.T, conn net.Conn) {
	t.Helper()
	_, err := conn.Write([]byte{0xE0, 0x00})
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, conn)
	require.NoError(t, err)
}

// holder returns the name of the node the client ID is connected to,
// waiting up to five seconds for the broker to register it.
func (f *fixture) holder(t *testing.T, clientID string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, n := range f.cluster.Nodes() {
			if n.HasClient(clientID) {
				return n.Name()
			}
		}
		require.True(t, time.Now().Before(deadline), "%s on no node", clientID)
		time.Sleep(5 * time.Millisecond)
	}
}

// serve serves h on a loopback test server for the test.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// get fetches url with optional basic credentials and returns the
// response and its body.
func get(t *testing.T, url, user, pass string) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodGet, url, nil, user, pass)
}

// post sends form to url with basic credentials.
func post(t *testing.T, url string, form url.Values, user, pass string) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodPost, url, form, user, pass)
}

// noKeepAlive leaves no idle connection behind for the leak check.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func do(t *testing.T, method, target string, form url.Values, user, pass string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := noKeepAlive.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}
