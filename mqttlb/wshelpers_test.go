package mqttlb

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// startWSProxy serves p's WebSocket side on a loopback listener (wss when
// tlsConfig is set) until the test ends, and returns the host:port.
func startWSProxy(t testing.TB, p *Proxy, wsl *WebSocketListener, tlsConfig *tls.Config) string {
	t.Helper()
	if p.Logger == nil {
		p.Logger = quietLogger()
	}
	if wsl.Logger == nil {
		wsl.Logger = quietLogger()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	wsServed := make(chan error, 1)
	proxyServed := make(chan error, 1)
	go func() { wsServed <- wsl.Serve(ln) }()
	go func() { proxyServed <- p.Serve(wsl) }()
	t.Cleanup(func() {
		p.Close()
		require.ErrorIs(t, <-proxyServed, ErrProxyClosed)
		require.ErrorIs(t, <-wsServed, ErrWebSocketClosed)
	})
	return addr
}

// wsDialer opens paho-ready connections to url: a WebSocket offering the
// "mqtt" subprotocol, seen as a byte stream of binary messages.
func wsDialer(url string, tlsConfig *tls.Config) func(testing.TB) net.Conn {
	return func(t testing.TB) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
		if tlsConfig != nil {
			opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
		}
		ws, _, err := websocket.Dial(ctx, url, opts)
		require.NoError(t, err)
		require.Equal(t, "mqtt", ws.Subprotocol())
		return websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	}
}

// testCert is a server certificate for 127.0.0.1 and localhost from a
// test CA.
type testCert struct {
	server  *tls.Config // for the proxy
	client  *tls.Config // trusts the CA
	pemPath string      // the CA certificate, PEM, for NODE_EXTRA_CA_CERTS
	pki     *testnet.PKI
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	return testCert{
		server:  &tls.Config{Certificates: []tls.Certificate{srv.Cert}},
		client:  &tls.Config{RootCAs: pki.Pool, ServerName: "localhost"},
		pemPath: pki.CAFile,
		pki:     pki,
	}
}

// serveWebSocketListener serves a WebSocketListener on loopback until the
// test ends, without a proxy: the test accepts its conns.
func serveWebSocketListener(t testing.TB) (*WebSocketListener, string) {
	t.Helper()
	wsl := &WebSocketListener{Logger: quietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- wsl.Serve(ln) }()
	t.Cleanup(func() {
		wsl.Close()
		assert.ErrorIs(t, <-served, ErrWebSocketClosed)
	})
	return wsl, ln.Addr().String()
}

// rawWS is a WebSocket client that writes frames byte by byte as the test
// crafts them (RFC 6455 §5.2), to send what libraries never do: a CONNECT
// cut at any byte, continuation frames, packets glued in one frame.
type rawWS struct {
	conn   net.Conn
	br     *bufio.Reader
	stream []byte // read and not yet returned by readPacket
}

// dialRawWS upgrades a TCP connection to addr offering subprotocols and
// origin (either may be empty); it returns the client and the HTTP
// status of the answer, 101 when upgraded.
func dialRawWS(t testing.TB, addr, path, subprotocols, origin string) (*rawWS, int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if subprotocols != "" {
		req += "Sec-WebSocket-Protocol: " + subprotocols + "\r\n"
	}
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	_, err = io.WriteString(conn, req+"\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
	}
	return &rawWS{conn: conn, br: br}, resp.StatusCode
}

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

// writeFrame writes one masked frame, as a client must (RFC 6455 §5.3).
func (w *rawWS) writeFrame(t testing.TB, fin bool, opcode byte, payload []byte) {
	t.Helper()
	_, err := w.conn.Write(clientFrame(fin, opcode, payload))
	require.NoError(t, err)
}

// clientFrame encodes one masked frame.
func clientFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	frame := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xFFFF:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	frame = append(frame, mask[:]...)
	for i, c := range payload {
		frame = append(frame, c^mask[i%4])
	}
	return frame
}

// readFrame reads one unmasked server frame.
func (w *rawWS) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(w.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(w.br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(w.br, payload)
	return h[0] & 0x0F, payload, err
}

// readStream reads binary frames until it has n bytes of the stream.
func (w *rawWS) readStream(t testing.TB, n int) []byte {
	t.Helper()
	var out []byte
	for len(out) < n {
		op, p, err := w.readFrame()
		require.NoError(t, err, "after %d bytes of the stream", len(out))
		require.Contains(t, []byte{opBinary, opContinuation}, op, "frame %x", p)
		out = append(out, p...)
	}
	return out
}

// readPacket reads the next MQTT packet of the stream (one whose
// remaining length fits in one byte, as the tests' packets do).
func (w *rawWS) readPacket(t testing.TB) []byte {
	t.Helper()
	for len(w.stream) < 2 || len(w.stream) < 2+int(w.stream[1]) {
		w.stream = append(w.stream, w.readStream(t, 1)...)
	}
	require.Less(t, w.stream[1], byte(0x80), "short packets only")
	n := 2 + int(w.stream[1])
	p := w.stream[:n:n]
	w.stream = w.stream[n:]
	return p
}

// closeCode reads frames until the server's close frame, answers it as
// a client does (RFC 6455 §5.5.1) and returns its status code; -1 if the
// connection ended without one.
func (w *rawWS) closeCode() int {
	for {
		op, p, err := w.readFrame()
		if err != nil {
			return -1
		}
		if op == opClose {
			w.conn.Write(clientFrame(true, opClose, p)) // the server may be gone already
			if len(p) < 2 {
				return int(websocket.StatusNoStatusRcvd)
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

// startMochiWS starts a mochi-mqtt broker that speaks MQTT over WebSocket
// only, and returns its host:port.
func startMochiWS(t testing.TB) string {
	t.Helper()
	addr := closedAddr(t)
	srv := mqtt.New(&mqtt.Options{Logger: quietLogger(), InlineClient: false})
	require.NoError(t, srv.AddHook(new(auth.AllowHook), nil))
	require.NoError(t, srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { srv.Close() })
	// Serve starts the listener in the background: wait until it answers.
	testnet.WaitFor(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the WebSocket broker to listen")
	return addr
}
