package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// MaxBodySize is how much of a response body [HTTP] reads: enough for any
// readiness document, small enough that a broken endpoint streaming
// without end costs nothing.
const MaxBodySize = 64 << 10

// Errors of the [HTTP] checker.
var (
	// ErrStatus is returned for a response status that is not expected;
	// the status follows.
	ErrStatus = errors.New("health: unexpected HTTP status")
	// ErrBody is returned when HTTP.ExpectBody is not in the body.
	ErrBody = errors.New("health: expected string not in HTTP response body")
)

// HTTP is a [Checker] that sends one HTTP/1.1 request to the backend and
// judges the response, like HAProxy's "option httpchk" with "http-check
// expect". The zero value sends GET / to the backend's port and accepts any
// 2xx or 3xx status. For HiveMQ:
//
//	health.HTTP{Port: 8889, Path: "/api/v1/health/readiness"}
//
// answers healthy while the node reports UP or DEGRADED (status 200) and
// unhealthy when it reports DOWN (status 503) or does not answer.
//
// Redirects are not followed: a 3xx is judged by its status like any other
// response. The body is read up to [MaxBodySize] bytes, and must end (or
// reach that size) within the timeout, so an endpoint that stalls halfway
// through its answer is unhealthy. Each check uses a new connection and
// closes it ("Connection: close"). HTTP is safe for concurrent use.
type HTTP struct {
	// Port is the port of the HTTP endpoint; 0 means the backend's port.
	Port int
	// Method is the request method; empty means GET.
	Method string
	// Path is the request target, with an optional query; empty means "/".
	Path string
	// Host is the Host header (and, with TLS, the default server name);
	// empty means the address dialed, host:port.
	Host string
	// ExpectStatus lists the statuses that count as healthy (HAProxy
	// "http-check expect status"); empty means any status from 200 to 399.
	ExpectStatus []int
	// ExpectBody, when not empty, must occur in the first MaxBodySize
	// bytes of the body (HAProxy "http-check expect string").
	ExpectBody string
	// TLS, when not nil, makes the check use HTTPS with this
	// configuration; an empty ServerName is taken from Host or the address.
	TLS *tls.Config
	// Timeout bounds the whole check, from dial to the end of the body, in
	// addition to the context's deadline; 0 means the context's deadline
	// alone (or DefaultTimeout when it has none).
	Timeout time.Duration
	// Dialer opens the connection; nil means a zero net.Dialer.
	Dialer Dialer
}

// Check sends the request to addr (with Port, when set) and reads the
// response.
func (h HTTP) Check(ctx context.Context, addr string) error {
	target, err := withPort(addr, h.Port)
	if err != nil {
		return err
	}
	req, err := h.request(target)
	if err != nil {
		return err
	}
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	conn, release, err := dialProbe(ctx, h.Dialer, target)
	if err != nil {
		return fmt.Errorf("health: http check: %w", ioError(ctx, err))
	}
	defer release()
	if h.TLS != nil {
		tlsConn := tls.Client(conn, h.tlsConfig(req.Host))
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("health: http check %s: TLS handshake: %w", target, err)
		}
		conn = tlsConn
	}
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("health: http check %s: send request: %w", target, ioError(ctx, err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("health: http check %s: read response: %w", target, ioError(ctx, err))
	}
	// The body is not closed: its Close would read it to the end, however
	// long; closing the connection (release) is what ends the exchange.
	if !h.statusExpected(resp.StatusCode) {
		return fmt.Errorf("%w %s from %s %s", ErrStatus, resp.Status, target, req.URL.RequestURI())
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
	if err != nil {
		return fmt.Errorf("health: http check %s: read body: %w", target, ioError(ctx, err))
	}
	if h.ExpectBody != "" && !bytes.Contains(body, []byte(h.ExpectBody)) {
		return fmt.Errorf("%w: %q from %s %s", ErrBody, h.ExpectBody, target, req.URL.RequestURI())
	}
	return nil
}

// request builds the request sent to target.
func (h HTTP) request(target string) (*http.Request, error) {
	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	path := h.Path
	if path == "" {
		path = "/"
	}
	uri, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("health: http check path %q: %w", path, err)
	}
	req, err := http.NewRequest(method, "/", nil)
	if err != nil {
		return nil, fmt.Errorf("health: http check: %w", err)
	}
	req.URL = uri
	req.Host = h.Host
	if req.Host == "" {
		req.Host = target
	}
	// One request per connection: the server closes it after answering
	// and no idle connection is left behind.
	req.Close = true
	req.Header.Set("User-Agent", "mqttlb-health")
	return req, nil
}

// tlsConfig returns the TLS configuration for a request to host.
func (h HTTP) tlsConfig(host string) *tls.Config {
	cfg := h.TLS.Clone()
	if cfg.ServerName == "" {
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		cfg.ServerName = host
	}
	return cfg
}

// statusExpected reports whether code counts as healthy.
func (h HTTP) statusExpected(code int) bool {
	if len(h.ExpectStatus) == 0 {
		return code >= 200 && code < 400
	}
	return slices.Contains(h.ExpectStatus, code)
}
