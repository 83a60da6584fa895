package mqttlb

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/sticky"
)

func TestWebSocketPubSubV5(t *testing.T) {
	cert := newTestCert(t)
	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
		scheme string
	}{
		{"ws", nil, nil, "ws"},
		{"wss", cert.server, cert.client, "wss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 3)
			pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
			pool.SetBackends(backendsFor(c.Addrs()...))
			events := newEventLog()
			p := &Proxy{Default: pool, OnConn: events.add}
			if tc.server != nil {
				p.Routes = []Route{{Name: "by-sni", Match: ServerName("localhost"), Pool: pool}}
			}
			addr := startWSProxy(t, p, &WebSocketListener{}, tc.server)
			t.Cleanup(func() {
				// Registered first, so it runs last: after the clients
				// have disconnected.
				testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) >= 2 }, "both connections to end")
				for _, ev := range events.all() {
					assert.True(t, ev.Remote.Addr().IsLoopback(), "real client address, not a placeholder: %v", ev.Remote)
					assert.NotZero(t, ev.Remote.Port())
					if tc.server != nil {
						assert.Equal(t, "by-sni", ev.Route, "the TLS server name of a wss client routes")
					}
				}
			})
			testPubSubV5Over(t, wsDialer(tc.scheme+"://"+addr+"/mqtt", tc.client), events)
		})
	}
}

func TestWebSocketFraming(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startWSProxy(t, &Proxy{Default: pool}, &WebSocketListener{}, nil)

	// SUBSCRIBE (id 1) to "f" at QoS 0, PUBLISH "f" "hello" at QoS 0,
	// PINGREQ: the broker answers SUBACK, the PUBLISH and PINGRESP.
	subscribe := []byte{0x82, 6, 0, 1, 0, 1, 'f', 0}
	publish := []byte{0x30, 8, 0, 1, 'f', 'h', 'e', 'l', 'l', 'o'}
	pingreq := []byte{0xC0, 0}
	// The broker sends CONNACK and SUBACK in order; the PUBLISH it
	// delivers and the PINGRESP may come in either order.
	want := [][]byte{connackOK311, {0x90, 3, 0, 1, 0}, publish, {0xD0, 0}}

	var connect []byte
	for i, tc := range []struct {
		name string
		send func(t *testing.T, w *rawWS)
	}{
		{"all packets in one frame", func(t *testing.T, w *rawWS) {
			w.writeFrame(t, true, opBinary, bytes.Join([][]byte{connect, subscribe, publish, pingreq}, nil))
		}},
		{"CONNECT cut into continuation frames of one message", func(t *testing.T, w *rawWS) {
			w.writeFrame(t, false, opBinary, connect[:1])
			w.writeFrame(t, false, opContinuation, connect[1:3])
			w.writeFrame(t, true, opContinuation, connect[3:])
			w.writeFrame(t, true, opBinary, bytes.Join([][]byte{subscribe, publish, pingreq}, nil))
		}},
		{"every byte its own message", func(t *testing.T, w *rawWS) {
			for _, b := range bytes.Join([][]byte{connect, subscribe, publish, pingreq}, nil) {
				w.writeFrame(t, true, opBinary, []byte{b})
			}
		}},
		{"packets straddling messages", func(t *testing.T, w *rawWS) {
			stream := bytes.Join([][]byte{connect, subscribe, publish, pingreq}, nil)
			for len(stream) > 0 {
				n := min(len(stream), 7)
				w.writeFrame(t, true, opBinary, stream[:n])
				stream = stream[n:]
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connect = connectWire(4, fmt.Sprintf("framing-%d", i), 30)
			w, status := dialRawWS(t, addr, "/mqtt", "mqtt", "")
			require.Equal(t, http.StatusSwitchingProtocols, status)
			tc.send(t, w)
			var got [][]byte
			for range want {
				got = append(got, w.readPacket(t))
			}
			assert.Equal(t, want[:2], got[:2])
			assert.ElementsMatch(t, want[2:], got[2:])
		})
	}
}

func TestWebSocketRefusals(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	proxy := &Proxy{
		Default:        pool,
		Routes:         []Route{{Name: "nowhere", Match: ClientIDPrefix("nowhere-"), Pool: &Pool{Name: "empty"}}},
		ConnectTimeout: 300 * time.Millisecond,
		MaxConnectSize: 100,
		OnConn:         events.add,
	}
	addr := startWSProxy(t, proxy, &WebSocketListener{AllowedOrigins: []string{"app.example.com"}}, nil)

	t.Run("upgrade", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, protocols, origin string
			status                        int
		}{
			{"mqtt", "/mqtt", "mqtt", "", http.StatusSwitchingProtocols},
			{"MQTT 3.1 subprotocol", "/mqtt", "mqttv3.1", "", http.StatusSwitchingProtocols},
			{"mqtt among others", "/mqtt", "chat, mqtt", "", http.StatusSwitchingProtocols},
			{"allowed origin", "/mqtt", "mqtt", "https://app.example.com", http.StatusSwitchingProtocols},
			{"same-host origin", "/mqtt", "mqtt", "http://" + addr, http.StatusSwitchingProtocols},
			{"wrong subprotocol", "/mqtt", "chat", "", http.StatusBadRequest},
			{"no subprotocol", "/mqtt", "", "", http.StatusBadRequest},
			{"wrong path", "/ws", "mqtt", "", http.StatusNotFound},
			{"foreign origin", "/mqtt", "mqtt", "https://evil.example.net", http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, status := dialRawWS(t, addr, tc.path, tc.protocols, tc.origin)
				assert.Equal(t, tc.status, status)
			})
		}
	})

	t.Run("stream", func(t *testing.T) {
		oversized := bigConnect311(1000) // more than the first read of 512 bytes
		for _, tc := range []struct {
			name    string
			send    func(t *testing.T, w *rawWS)
			connack []byte
			code    websocket.StatusCode
			reason  string
		}{
			{"text frame", func(t *testing.T, w *rawWS) {
				w.writeFrame(t, true, opText, connectWire(4, "texter", 30))
			}, nil, websocket.StatusUnsupportedData, "client_closed"},
			{"garbage", func(t *testing.T, w *rawWS) {
				w.writeFrame(t, true, opBinary, []byte("GET / HTTP/1.1\r\n\r\n"))
			}, nil, websocket.StatusProtocolError, "not_mqtt"},
			{"malformed CONNECT", func(t *testing.T, w *rawWS) {
				bad := connectWire(4, "bad", 30)
				bad[9] |= 0x01 // reserved flag [MQTT-3.1.2-3]
				w.writeFrame(t, true, opBinary, bad)
			}, nil, websocket.StatusProtocolError, "malformed"},
			{"CONNECT too large", func(t *testing.T, w *rawWS) {
				w.writeFrame(t, true, opBinary, oversized)
			}, nil, websocket.StatusMessageTooBig, "too_large"},
			{"no CONNECT in time", func(t *testing.T, w *rawWS) {}, nil, websocket.StatusPolicyViolation, "connect_timeout"},
			{"no backend", func(t *testing.T, w *rawWS) {
				w.writeFrame(t, true, opBinary, connectWire(4, "nowhere-1", 30))
			}, []byte{0x20, 2, 0, 0x03}, websocket.StatusTryAgainLater, "no_backend"},
			{"no backend, MQTT 5", func(t *testing.T, w *rawWS) {
				w.writeFrame(t, true, opBinary, connectWire(5, "nowhere-5", 30))
			}, []byte{0x20, 3, 0, 0x88, 0}, websocket.StatusTryAgainLater, "no_backend"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w, status := dialRawWS(t, addr, "/mqtt", "mqtt", "")
				require.Equal(t, http.StatusSwitchingProtocols, status)
				tc.send(t, w)
				if tc.connack != nil {
					assert.Equal(t, tc.connack, w.readStream(t, len(tc.connack)))
				}
				assert.Equal(t, int(tc.code), w.closeCode())
				var ev ConnEvent
				testnet.WaitFor(t, 5*time.Second, func() bool {
					for _, e := range events.all() {
						if e.Remote.String() == w.conn.LocalAddr().String() {
							ev = e
							return true
						}
					}
					return false
				}, "the refusal event")
				assert.Equal(t, "refused", ev.End)
				assert.Equal(t, tc.reason, RefusalReason(ev.Err), "%v", ev.Err)
			})
		}
	})
}

func TestWebSocketShutdownSaysGoingAway(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	proxy := &Proxy{Default: pool}
	addr := startWSProxy(t, proxy, &WebSocketListener{}, nil)

	w, status := dialRawWS(t, addr, "/mqtt", "mqtt", "")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	w.writeFrame(t, true, opBinary, connectWire(4, "leaving", 30))
	require.Equal(t, connackOK311, w.readStream(t, len(connackOK311)))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- proxy.Shutdown(ctx) }()
	assert.Equal(t, int(websocket.StatusGoingAway), w.closeCode())
	require.NoError(t, <-done)
}

// TestWebSocketStickinessAcrossTransports reconnects each client ID
// alternately over TCP and over WebSocket: it must reach the broker that
// holds its session every time, as TCP clients do.
func TestWebSocketStickinessAcrossTransports(t *testing.T) {
	c := startCluster(t, 3)
	pool := &Pool{Balancer: balance.LeastConn{}, Sticky: &sticky.Table{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	proxy := &Proxy{Default: pool, OnConn: events.add}
	tcpAddr := startProxy(t, proxy)
	wsAddr := startWSProxy(t, proxy, &WebSocketListener{}, nil)

	// session connects id once with Clean Session 0 and reports whether
	// the broker resumed a session.
	session := func(t *testing.T, conn net.Conn, id string) bool {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write(persistentConnect311(id))
		require.NoError(t, err)
		ack := make([]byte, 4)
		_, err = io.ReadFull(conn, ack)
		require.NoError(t, err, id)
		require.Equal(t, []byte{0x20, 2, 0x00}, []byte{ack[0], ack[1], ack[3]}, id)
		conn.Write([]byte{0xE0, 0x00}) // DISCONNECT
		io.Copy(io.Discard, conn)
		return ack[2] == 1
	}
	transports := []struct {
		name string
		dial func(testing.TB) net.Conn
	}{
		{"tcp", tcpDialer(tcpAddr)},
		{"ws", wsDialer("ws://"+wsAddr+"/mqtt", nil)},
	}
	ids := clientIDs(30)
	backendOf := func(id string) string {
		for _, ev := range events.all() {
			if ev.ClientID == id {
				return ev.Backend
			}
		}
		return ""
	}
	for round := range 4 {
		tr := transports[round%2]
		before := len(events.all())
		for i, id := range ids {
			if round == 0 && i%2 == 1 {
				// The first connections come over both transports too.
				tr = transports[1]
			} else if round == 0 {
				tr = transports[0]
			}
			resumed := session(t, tr.dial(t), id)
			assert.Equal(t, round > 0, resumed, "round %d over %s: %s", round, tr.name, id)
		}
		testnet.WaitFor(t, 10*time.Second, func() bool { return len(events.all()) >= before+len(ids) }, "connection events")
	}
	perID := map[string]map[string]bool{}
	for _, ev := range events.all() {
		if perID[ev.ClientID] == nil {
			perID[ev.ClientID] = map[string]bool{}
		}
		perID[ev.ClientID][ev.Backend] = true
	}
	nodes := map[string]bool{}
	for _, id := range ids {
		assert.Len(t, perID[id], 1, "%s stayed on one backend over TCP and WebSocket: %v", id, perID[id])
		nodes[backendOf(id)] = true
	}
	assert.Len(t, nodes, 3, "the clients spread over every node")
	assert.Equal(t, uint64(len(ids)*3), pool.Counters().StickyHits)
}

// TestWebSocketBackends sends clients to a broker's own WebSocket
// endpoint: the proxy dials it as a WebSocket client and frames the
// stream anew, for TCP and WebSocket clients alike.
func TestWebSocketBackends(t *testing.T) {
	broker := startMochiWS(t)
	pool := &Pool{Name: "ws-brokers", DialContext: (&WebSocketDialer{}).DialContext}
	pool.SetBackends(backendsFor(broker))
	events := newEventLog()
	proxy := &Proxy{Default: pool, OnConn: events.add}
	tcpAddr := startProxy(t, proxy)
	wsAddr := startWSProxy(t, proxy, &WebSocketListener{}, nil)

	received := make(chan *paho.Publish, 4)
	sub := v5ClientOver(t, wsDialer("ws://"+wsAddr+"/mqtt", nil), "ws-sub", received)
	pub := v5ClientOver(t, tcpDialer(tcpAddr), "tcp-pub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "wsb/#", QoS: 2}}})
	require.NoError(t, err)
	for qos := range byte(3) {
		payload := randomPayload(100<<10, uint64(qos))
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "wsb/q", QoS: qos, Payload: payload})
		require.NoError(t, err)
		select {
		case m := <-received:
			assert.True(t, bytes.Equal(payload, m.Payload), "QoS %d payload", qos)
		case <-ctx.Done():
			t.Fatalf("QoS %d message not delivered", qos)
		}
	}

	t.Run("not a WebSocket endpoint", func(t *testing.T) {
		c := startCluster(t, 1) // plain TCP brokers
		bad := &Pool{Name: "bad", DialContext: (&WebSocketDialer{}).DialContext, Retries: -1}
		bad.SetBackends(backendsFor(c.Addrs()...))
		_, err := bad.Dial(context.Background(), balance.ConnInfo{ClientID: "x"})
		assert.ErrorIs(t, err, ErrNoBackend)
	})
}

// TestOpaqueWebSocketPassthrough forwards WebSocket bytes unread, as
// HAProxy's "mode tcp" on port 8083 does: the broker terminates the
// WebSocket.
func TestOpaqueWebSocketPassthrough(t *testing.T) {
	broker := startMochiWS(t)
	pool := &Pool{Name: "ws-brokers"}
	pool.SetBackends(backendsFor(broker))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, Opaque: true, OnConn: events.add})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	assert.Equal(t, "mqtt", ws.Subprotocol(), "the broker's handshake, relayed")
	// CONNECT, SUBSCRIBE to "o", PUBLISH "o" "through": the broker
	// answers CONNACK, SUBACK, and the message.
	publish := []byte{0x30, 10, 0, 1, 'o', 't', 'h', 'r', 'o', 'u', 'g', 'h'}
	for _, m := range [][]byte{connectWire(4, "opaque", 30), {0x82, 6, 0, 1, 0, 1, 'o', 0}, publish} {
		require.NoError(t, ws.Write(ctx, websocket.MessageBinary, m))
	}
	for _, want := range [][]byte{connackOK311, {0x90, 3, 0, 1, 0}, publish} {
		_, got, err := ws.Read(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 1 }, "the connection event")
	ev := events.all()[0]
	assert.Empty(t, ev.ClientID, "opaque: the CONNECT is not read")
	assert.Equal(t, "node1", ev.Backend)
	assert.Positive(t, ev.Up)
	assert.Positive(t, ev.Down)
}

// TestWebSocketConnIsAByteStream checks the accepted conn as the relay
// uses it: the client's TCP address; a read deadline that passes leaves
// the connection usable (the relay arms its idle deadline early and
// re-arms it when it passes, so websocket.NetConn's fatal deadlines would
// cut clients that are not idle); messages of any size make one stream
// whatever the read sizes; a normal close is io.EOF.
func TestWebSocketConnIsAByteStream(t *testing.T) {
	wsl, addr := serveWebSocketListener(t)
	client := wsDialer("ws://"+addr+"/mqtt", nil)(t)
	defer client.Close()
	server, err := wsl.Accept()
	require.NoError(t, err)
	defer server.Close()
	remote, ok := server.RemoteAddr().(*net.TCPAddr)
	require.True(t, ok, "the client's TCP address, not a placeholder: %v", server.RemoteAddr())
	assert.True(t, remote.IP.IsLoopback())

	buf := make([]byte, 16)
	for range 3 {
		require.NoError(t, server.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err := server.Read(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	require.NoError(t, server.SetReadDeadline(time.Time{}))
	_, err = client.Write([]byte("still here"))
	require.NoError(t, err)
	n, err := server.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "still here", string(buf[:n]))

	// Messages of any size, empty ones included, read with buffers of
	// any size, make the same byte stream.
	rnd := rand.New(rand.NewPCG(1, 2))
	var sent []byte
	var messages [][]byte
	for i := range 200 {
		m := randomPayload(rnd.IntN(40<<10)*(i%2)+rnd.IntN(64), uint64(i))
		messages = append(messages, m)
		sent = append(sent, m...)
	}
	go func() {
		for _, m := range messages {
			if _, err := client.Write(m); err != nil {
				return
			}
		}
	}()
	got := make([]byte, 0, len(sent))
	for len(got) < len(sent) {
		n, err := server.Read(buf[:0:0])
		require.NoError(t, err)
		require.Zero(t, n)
		chunk := make([]byte, 1+rnd.IntN(20<<10))
		n, err = server.Read(chunk)
		require.NoError(t, err)
		got = append(got, chunk[:n]...)
	}
	assert.Equal(t, sent, got)

	// A normal close is the end of the stream.
	client.Close()
	_, err = server.Read(buf)
	assert.ErrorIs(t, err, io.EOF)
}

// TestWebSocketPubSubMosquitto: paho.golang over WebSocket through the
// proxy to three bridged Mosquitto processes' TCP listeners.
func TestWebSocketPubSubMosquitto(t *testing.T) {
	addrs := bridgedMosquittos(t)
	pool := &Pool{Name: "mosquittos", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(addrs...))
	events := newEventLog()
	addr := startWSProxy(t, &Proxy{Default: pool, OnConn: events.add}, &WebSocketListener{}, nil)
	testPubSubV5Over(t, wsDialer("ws://"+addr+"/mqtt", nil), events)
}

func TestWebSocketPings(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	addr := startWSProxy(t, &Proxy{Default: pool, OnConn: events.add}, &WebSocketListener{PingInterval: 200 * time.Millisecond}, nil)

	t.Run("a client that answers stays", func(t *testing.T) {
		conn := wsDialer("ws://"+addr+"/mqtt", nil)(t)
		defer conn.Close()
		_, err := conn.Write(connectWire(4, "ponger", 0))
		require.NoError(t, err)
		ack := make([]byte, 4)
		_, err = io.ReadFull(conn, ack)
		require.NoError(t, err)
		// The library answers pings while a Read is waiting.
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, 2)
			io.ReadFull(conn, b)
			got <- b
		}()
		time.Sleep(time.Second)              // five ping intervals
		_, err = conn.Write([]byte{0xC0, 0}) // PINGREQ
		require.NoError(t, err)
		assert.Equal(t, []byte{0xD0, 0}, <-got, "PINGRESP: still connected")
	})

	t.Run("a client that does not answer is cut", func(t *testing.T) {
		w, status := dialRawWS(t, addr, "/mqtt", "mqtt", "")
		require.Equal(t, http.StatusSwitchingProtocols, status)
		w.writeFrame(t, true, opBinary, connectWire(4, "deaf", 0))
		pings := 0
		for {
			op, _, err := w.readFrame()
			if err != nil {
				break // the proxy closed the connection
			}
			if op == 0x9 {
				pings++
			}
		}
		assert.Positive(t, pings)
		testnet.WaitFor(t, 5*time.Second, func() bool {
			for _, ev := range events.all() {
				if ev.ClientID == "deaf" {
					return true
				}
			}
			return false
		}, "the deaf client's end")
	})
}

func TestWebSocketClientAddr(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 40000}
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		xff     []string
		peer    *net.TCPAddr
		want    string
	}{
		{"not trusted by default", nil, []string{"203.0.113.7"}, peer, "10.0.0.5:40000"},
		{"trusted balancer", lb, []string{"203.0.113.7"}, peer, "203.0.113.7:0"},
		{"rightmost untrusted hop", lb, []string{"198.51.100.1, 203.0.113.7", "10.0.0.9"}, peer, "203.0.113.7:0"},
		{"peer not a trusted balancer", lb, []string{"203.0.113.7"}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5}, "192.0.2.1:5"},
		{"garbage hop", lb, []string{"203.0.113.7, not-an-ip"}, peer, "10.0.0.5:40000"},
		{"no header", lb, nil, peer, "10.0.0.5:40000"},
		{"only trusted hops", lb, []string{"10.0.0.8"}, peer, "10.0.0.5:40000"},
		{"IPv6 client", lb, []string{"2001:db8::1"}, peer, "[2001:db8::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/mqtt", nil)
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			l := &WebSocketListener{TrustedProxies: tc.trusted}
			assert.Equal(t, tc.want, l.clientAddr(r, tc.peer).String())
		})
	}
}

// TestWebSocketCloseDoesNotWaitForThePeer: callers close connections one
// after the other (Proxy.Shutdown, a pool's session shutdown), so Close
// must not wait for a peer that never answers the close handshake.
func TestWebSocketCloseDoesNotWaitForThePeer(t *testing.T) {
	wsl, addr := serveWebSocketListener(t)

	const n = 20
	clients := make([]*rawWS, n)
	conns := make([]net.Conn, n)
	for i := range n {
		var status int
		clients[i], status = dialRawWS(t, addr, "/mqtt", "mqtt", "")
		require.Equal(t, http.StatusSwitchingProtocols, status)
		var err error
		conns[i], err = wsl.Accept()
		require.NoError(t, err)
	}
	start := time.Now()
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	// Waiting out the handshake timeout for each would take n seconds.
	assert.Less(t, time.Since(start), n*closeHandshakeTimeout/2)
	for _, w := range clients {
		op, p, err := w.readFrame()
		require.NoError(t, err)
		assert.Equal(t, byte(opClose), op)
		assert.Equal(t, []byte{0x03, 0xE8}, p, "1000 normal closure")
	}
}

// TestWebSocketClientCertificateRoutes: a wss client's verified
// certificate reaches routing as a TLS client's does.
func TestWebSocketClientCertificateRoutes(t *testing.T) {
	c := startCluster(t, 2)
	devices := &Pool{Name: "devices"}
	devices.SetBackends(backendsFor(c.Addrs()[0]))
	others := &Pool{Name: "others"}
	others.SetBackends(backendsFor(c.Addrs()[1]))
	events := newEventLog()
	cert := newTestCert(t)
	server := cert.server.Clone()
	server.ClientAuth = tls.VerifyClientCertIfGiven
	server.ClientCAs = cert.pki.Pool
	addr := startWSProxy(t, &Proxy{
		Routes:  []Route{{Name: "fleet", Match: ClientCertCN("device-7"), Pool: devices}},
		Default: others,
		OnConn:  events.add,
	}, &WebSocketListener{}, server)

	for _, tc := range []struct {
		id, route string
		certs     []tls.Certificate
	}{
		{"with-cert", "fleet", []tls.Certificate{cert.pki.Client(t, "device-7").Cert}},
		{"without-cert", "default", nil},
	} {
		client := cert.client.Clone()
		client.Certificates = tc.certs
		conn := wsDialer("wss://"+addr+"/mqtt", client)(t)
		conn.Write(connectWire(4, tc.id, 30))
		ack := make([]byte, 4)
		_, err := io.ReadFull(conn, ack)
		require.NoError(t, err)
		conn.Close()
		var ev ConnEvent
		testnet.WaitFor(t, 5*time.Second, func() bool {
			for _, e := range events.all() {
				if e.ClientID == tc.id {
					ev = e
					return true
				}
			}
			return false
		}, tc.id+"'s event")
		assert.Equal(t, tc.route, ev.Route, tc.id)
	}
}

// TestProxyCloseWaitsForWebSocketCloseHandshakes: a WebSocket's close
// handshake runs in the background (see wsConn.Close), and Proxy.Close
// returns only once it is over, so no goroutine of a connection outlives
// it. The client here never answers the close frame: the handshake lasts
// its whole timeout, and the connection is closed when Close returns.
func TestProxyCloseWaitsForWebSocketCloseHandshakes(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	proxy := &Proxy{Default: pool, Logger: quietLogger()}
	addr := startWSProxy(t, proxy, &WebSocketListener{}, nil)

	w, status := dialRawWS(t, addr, "/mqtt", "mqtt", "")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	w.writeFrame(t, true, opBinary, connectWire(4, "silent-closer", 30))
	require.Equal(t, connackOK311, w.readPacket(t))

	start := time.Now()
	require.NoError(t, proxy.Close())
	closed := time.Since(start)
	// Everything the proxy had to say is in the socket now: the close
	// frame, then the end of the connection.
	w.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := io.Copy(io.Discard, w.br)
	assert.NoError(t, err, "the connection was still open after Proxy.Close returned")
	assert.GreaterOrEqual(t, closed, closeHandshakeTimeout/2, "Close waited for the close handshake")
}
