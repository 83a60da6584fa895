package mqttlb

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// WebSocketDialer connects to brokers' own WebSocket endpoints, for a pool
// whose backends speak MQTT over WebSocket only. The proxy then frames the
// client's byte stream anew, whatever the client spoke (TCP or
// WebSocket):
//
//	ws := &mqttlb.WebSocketDialer{Path: "/mqtt"}
//	pool := &mqttlb.Pool{Name: "brokers", DialContext: ws.DialContext}
//	pool.SetBackends([]*balance.Backend{{Addr: "10.0.0.1:8083"}})
//
// Without it, a pool dials the brokers' plain TCP port: the proxy bridges
// WebSocket clients to TCP, the cheaper path (no framing, and the kernel
// relay on the backend side).
//
// Set the fields before the first dial. DialContext is safe for
// concurrent use.
type WebSocketDialer struct {
	// Path is the URL path of the brokers' endpoint; "" means
	// DefaultWebSocketPath.
	Path string
	// TLSConfig, if set, dials wss:// with it; nil dials ws://. A config
	// without ServerName verifies the backend's host.
	TLSConfig *tls.Config
	// Subprotocol is offered in the upgrade; "" means "mqtt". MQTT 3.1
	// brokers may want "mqttv3.1".
	Subprotocol string
	// Header is added to every upgrade request (an Authorization header,
	// a Host the brokers expect).
	Header http.Header
	// Dialer opens the TCP connections; nil means a zero net.Dialer. Set
	// it to dial from a chosen source address.
	Dialer *net.Dialer

	once   sync.Once
	client *http.Client
}

// rawConnKey carries, through the HTTP transport's dial, the place where
// the dialed TCP connection is kept for the WebSocket conn.
type rawConnKey struct{}

// DialContext connects to addr ("host:port") and upgrades to WebSocket.
// It fits Pool.DialContext; network must be a TCP network.
func (d *WebSocketDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.once.Do(d.init)
	scheme := "ws"
	if d.TLSConfig != nil {
		scheme = "wss"
	}
	path := d.Path
	if path == "" {
		path = DefaultWebSocketPath
	}
	sub := d.Subprotocol
	if sub == "" {
		sub = mqttSubprotocols[0]
	}
	var raw net.Conn
	ctx = context.WithValue(ctx, rawConnKey{}, &raw)
	ws, resp, err := websocket.Dial(ctx, scheme+"://"+addr+path, &websocket.DialOptions{
		HTTPClient:   d.client,
		HTTPHeader:   d.Header,
		Subprotocols: []string{sub},
	})
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("mqttlb: websocket dial %s: %w", addr, err)
	}
	if ws.Subprotocol() != sub {
		// MQTT 5.0 §6: the server must select "mqtt"
		// [MQTT-6.0.0-4]; anything else is not an MQTT endpoint.
		ws.CloseNow()
		return nil, fmt.Errorf("mqttlb: websocket dial %s: %w: subprotocol %q not selected", addr, ErrNotMQTT, sub)
	}
	ws.SetReadLimit(-1)
	return newWSConn(ws, raw, raw.LocalAddr(), raw.RemoteAddr()), nil
}

func (d *WebSocketDialer) init() {
	dialer := d.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	d.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				if p, ok := ctx.Value(rawConnKey{}).(*net.Conn); ok {
					*p = c
				}
			}
			return c, err
		},
		TLSClientConfig:   d.TLSConfig,
		ForceAttemptHTTP2: false,
		// Each dial is one upgrade that the WebSocket then owns: no
		// idle HTTP connections to keep.
		DisableKeepAlives: true,
	}}
}
