package mqttlb

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocket defaults.
const (
	// DefaultWebSocketPath is where MQTT clients upgrade; MQTT.js, Paho
	// JavaScript, EMQX, HiveMQ and Mosquitto all default to it.
	DefaultWebSocketPath = "/mqtt"
	// DefaultMaxMessageSize is the largest WebSocket message accepted:
	// the largest MQTT packet (a Remaining Length of 268,435,455 and a
	// 5-byte fixed header, MQTT 5.0 §2.1.4). Messages are streamed, never
	// buffered whole, so a large limit costs no memory.
	DefaultMaxMessageSize = 268_435_455 + 5
	// DefaultHandshakeTimeout bounds the HTTP upgrade request.
	DefaultHandshakeTimeout = 10 * time.Second
)

// MQTT's WebSocket subprotocols: "mqtt" [MQTT-6.0.0-3] and, for MQTT 3.1
// clients, "mqttv3.1" (MQTT 3.1.1 §6.0 notes both).
var mqttSubprotocols = []string{"mqtt", "mqttv3.1"}

// ErrWebSocketClosed is returned by Accept and Serve once the listener is
// closed.
var ErrWebSocketClosed = fmt.Errorf("mqttlb: websocket listener closed: %w", net.ErrClosed)

// WebSocketListener terminates MQTT over WebSocket (ws://, and wss:// when
// Serve is given a TLS listener) and hands each client over as a net.Conn
// carrying the MQTT byte stream, so that a [Proxy] reads its CONNECT,
// routes, sticks and relays it like any TCP client:
//
//	ln, _ := net.Listen("tcp", ":8083") // or tls.Listen for wss on :8084
//	wsl := &mqttlb.WebSocketListener{}
//	go wsl.Serve(ln)
//	go proxy.Serve(wsl) // proxy.Shutdown closes wsl, and wsl closes ln
//
// For wss, the TLS configuration must let clients negotiate HTTP/1.1:
// leave NextProtos empty or include "http/1.1" (browsers offer it by
// ALPN, and a server that lists only "mqtt" fails their handshake).
//
// The HTTP side follows MQTT 5.0 §6 and MQTT 3.1.1 §6: the client must
// offer the "mqtt" subprotocol ("mqttv3.1" is accepted for MQTT 3.1
// clients); one that offers neither gets HTTP 400 and no upgrade. Frames
// must be binary: a text frame closes the connection with 1003
// (unsupported data). A client refused by the proxy gets a close code
// that says why (see the Proxy's refusals: 1002 for bytes that are not
// MQTT, 1009 for a CONNECT over MaxConnectSize, 1008 for no CONNECT in
// time, 1013 after a "server unavailable" CONNACK). Compression is not
// negotiated: MQTT payloads are often compressed already, and
// per-message deflate costs memory on every connection.
//
// Each client's address is the TCP peer's: X-Forwarded-For is not
// trusted, since any client can send it. Behind another proxy, have it
// send a PROXY header and wrap the listener given to Serve with
// github.com/pires/go-proxyproto, or, for an HTTP load balancer that
// cannot, list it in TrustedProxies.
//
// Closing an accepted connection returns at once; its close handshake
// ends within a second on a goroutine of the connection, so a proxy that
// closes thousands of clients one after the other does not wait a round
// trip for each.
//
// Set the fields before Serve. Accept, Close and Addr are safe for
// concurrent use.
type WebSocketListener struct {
	// Path is the URL path clients upgrade on; other paths get 404. ""
	// means DefaultWebSocketPath.
	Path string
	// AllowedOrigins lists the browser origins allowed to connect, as
	// host patterns matched with path.Match ("example.com",
	// "*.example.com") or with a scheme ("https://app.example.com").
	// Empty means the secure default: a request without an Origin header
	// (devices, mobile SDKs, server-side clients) is accepted, and a
	// browser only from a page on the host it connects to; others get
	// HTTP 403. Origins do not protect against non-browser clients: they
	// stop other sites' pages from using a visitor's browser (and its
	// network position) to reach the brokers. "*" allows every origin.
	AllowedOrigins []string
	// MaxMessageSize is the largest WebSocket message accepted, in bytes;
	// a larger one closes the connection with 1009. 0 means
	// DefaultMaxMessageSize, negative means no limit.
	MaxMessageSize int64
	// PingInterval, if positive, sends a WebSocket ping this often and
	// closes a connection whose pong does not come back within the next
	// interval. 0 or negative sends none: MQTT's own PINGREQ keeps the
	// connection alive, and the proxy's idle timeout follows the
	// client's keep-alive. Pings help where an intermediary cuts
	// connections that are silent for less than the keep-alive.
	PingInterval time.Duration
	// HandshakeTimeout bounds the HTTP upgrade request, TLS handshake
	// included; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// TrustedProxies lists the HTTP load balancers in front of the
	// listener whose X-Forwarded-For header is believed: when the TCP
	// peer is in one of these prefixes, the client's address is the
	// rightmost X-Forwarded-For address not itself in them, with port 0
	// (the header carries none). Empty means the header is never read.
	TrustedProxies []netip.Prefix
	// Logger receives refused upgrades at debug level; nil means
	// slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	ln        net.Listener
	srv       *http.Server
	closed    bool
	done      chan struct{} // closed by Close or when Serve fails
	err       error         // why done was closed
	conns     chan net.Conn
	upgrades  sync.WaitGroup
	goingAway atomic.Bool
}

// init prepares the channels on first use; l.mu held.
func (l *WebSocketListener) initLocked() {
	if l.done == nil {
		l.done = make(chan struct{})
		l.conns = make(chan net.Conn)
	}
}

// Serve answers WebSocket upgrades on ln until Close, and returns
// ErrWebSocketClosed then, or the error that ended ln. Serve closes ln
// when it returns. Give it a TLS listener for wss://.
func (l *WebSocketListener) Serve(ln net.Listener) error {
	l.mu.Lock()
	l.initLocked()
	if l.closed || l.srv != nil {
		l.mu.Unlock()
		ln.Close()
		if l.srv != nil {
			return errors.New("mqttlb: websocket listener already serving")
		}
		return ErrWebSocketClosed
	}
	timeout := l.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	l.ln = ln
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		// WebSocket runs over HTTP/1.1: never negotiate h2 by ALPN.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	srv := l.srv
	l.mu.Unlock()

	err := srv.Serve(ln)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrWebSocketClosed
	}
	l.err = err
	close(l.done)
	l.closed = true
	return err
}

// Accept returns the next client whose upgrade succeeded. The conn's
// RemoteAddr and LocalAddr are those of the TCP connection; for wss it
// also has a ConnectionState method, like *tls.Conn.
func (l *WebSocketListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.initLocked()
	done, conns := l.done, l.conns
	l.mu.Unlock()
	select {
	case c := <-conns:
		return c, nil
	case <-done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, ErrWebSocketClosed
	}
}

// Close stops accepting: it closes the listener given to Serve, ends
// upgrades in progress and closes (with 1001, going away) upgraded
// clients not yet accepted; from then on the clients accepted earlier
// close with 1001 too. It returns when every upgrade has ended. Accepted
// clients stay open: their owner closes them.
func (l *WebSocketListener) Close() error {
	l.mu.Lock()
	l.initLocked()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.goingAway.Store(true)
	close(l.done)
	srv := l.srv
	l.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	l.upgrades.Wait()
	return err
}

// Addr returns the address of the listener given to Serve, or nil before
// Serve.
func (l *WebSocketListener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// ServeHTTP upgrades one request and hands the connection to Accept. It
// is exported for http.Handler: WebSocketListener can also be mounted on
// an application's own HTTP server (then Serve is not called, and Close
// still ends Accept).
func (l *WebSocketListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.initLocked()
	if l.closed {
		l.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	l.upgrades.Add(1)
	done, conns := l.done, l.conns
	l.mu.Unlock()
	defer l.upgrades.Done()

	path := l.Path
	if path == "" {
		path = DefaultWebSocketPath
	}
	if r.URL.Path != path {
		http.NotFound(w, r)
		return
	}
	if !offersMQTT(r) {
		l.logger().Debug("websocket upgrade refused: no MQTT subprotocol",
			"remote", r.RemoteAddr, "offered", r.Header.Values("Sec-WebSocket-Protocol"))
		http.Error(w, `mqttlb: the client must offer the "mqtt" WebSocket subprotocol (MQTT 5.0 §6)`, http.StatusBadRequest)
		return
	}
	opts := &websocket.AcceptOptions{Subprotocols: mqttSubprotocols}
	if slices.Contains(l.AllowedOrigins, "*") {
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = l.AllowedOrigins
	}
	hw := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, opts)
	if err != nil {
		l.logger().Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The HTTP server set deadlines for the handshake; the relay sets its
	// own from now on.
	hw.raw.SetDeadline(time.Time{})
	limit := l.MaxMessageSize
	if limit == 0 {
		limit = DefaultMaxMessageSize
	}
	ws.SetReadLimit(limit)
	c := newWSConn(ws, hw.raw, hw.raw.LocalAddr(), l.clientAddr(r, hw.raw.RemoteAddr()))
	c.goingAway = &l.goingAway
	if l.PingInterval > 0 {
		c.startPings(l.PingInterval)
	}
	select {
	case conns <- c:
	case <-done:
		c.Close()
	}
}

// clientAddr is the client's address: the TCP peer's, or the one a
// trusted load balancer gives in X-Forwarded-For.
func (l *WebSocketListener) clientAddr(r *http.Request, peer net.Addr) net.Addr {
	trusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(l.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
	if len(l.TrustedProxies) == 0 || !trusted(addrPort(peer).Addr()) {
		return peer
	}
	// Each proxy appends the address it received from, so the rightmost
	// entry not added by a trusted proxy is the client as far as the
	// trusted chain can vouch.
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if !trusted(a) {
			return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.Unmap(), 0))
		}
	}
	return peer
}

// offersMQTT reports whether the upgrade request offers an MQTT
// subprotocol [MQTT-6.0.0-3].
func offersMQTT(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if slices.Contains(mqttSubprotocols, strings.TrimSpace(p)) {
				return true
			}
		}
	}
	return false
}

// hijackRecorder keeps the connection websocket.Accept hijacks: its
// addresses are the client's, and closing it ends a close handshake that
// the peer does not answer.
type hijackRecorder struct {
	http.ResponseWriter
	raw net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("mqttlb: http.ResponseWriter cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	h.raw = c
	return c, brw, err
}

func (l *WebSocketListener) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}
