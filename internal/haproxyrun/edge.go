package haproxyrun

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"

	pires "github.com/pires/go-proxyproto"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// bindPlan is one address a frontend listens on, with what wraps its
// listener.
type bindPlan struct {
	addr string
	// tls terminates TLS ("ssl crt ..."), nil for plain TCP.
	tls *tls.Config
	// acceptProxy reads a PROXY header before anything else.
	acceptProxy bool
	// webSocket terminates WebSocket ("ws") inside TLS, if any.
	webSocket bool
	// key says what the listener is: a reload reopens an address whose
	// options changed.
	key string
}

// wrap puts the bind's layers around a plain listener: the PROXY header
// comes first on the wire, then TLS.
func (b bindPlan) wrap(ln net.Listener) net.Listener {
	if b.acceptProxy {
		ln = &pires.Listener{Listener: ln}
	}
	if b.tls != nil {
		ln = tls.NewListener(ln, b.tls)
	}
	return ln
}

// bindPlan builds the listener settings of one bind line. Certificate
// files are loaded now, so that -c and a reload catch a missing or broken
// one; relative paths are taken from the configuration file's directory.
func (b *planBuilder) bindPlan(fe *haproxycfg.Frontend, bind haproxycfg.Bind) (bindPlan, error) {
	bp := bindPlan{addr: bind.Addr, acceptProxy: bind.AcceptProxy, webSocket: bind.WebSocket,
		key: fmt.Sprintf("ssl=%v crt=%v ca=%s verify=%s alpn=%v accept-proxy=%v ws=%v", bind.SSL, bind.Certs, bind.CAFile, bind.Verify, bind.ALPN, bind.AcceptProxy, bind.WebSocket)}
	if !bind.SSL {
		return bp, nil
	}
	if len(bind.Certs) > 1 {
		return bp, fmt.Errorf("bind %s: one crt per bind line is supported here, not %d", bind.Addr, len(bind.Certs))
	}
	dir := filepath.Dir(fe.File)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg := mqttlb.TLSConfig{CertFile: abs(bind.Certs[0]), ClientCAFile: abs(bind.CAFile), NextProtos: bind.ALPN, Logger: b.logger}
	if bind.WebSocket && len(cfg.NextProtos) == 0 {
		// Browsers offer only HTTP protocols in ALPN: a wss listener
		// that offers "mqtt" alone fails their handshakes.
		cfg.NextProtos = []string{"http/1.1"}
	}
	if bind.Verify != "" {
		auth, err := mqttlb.ParseClientAuth(bind.Verify)
		if err != nil {
			return bp, fmt.Errorf("bind %s: %w", bind.Addr, err)
		}
		cfg.ClientAuth = auth
	}
	tc, err := cfg.ServerConfig()
	if err != nil {
		return bp, fmt.Errorf("bind %s: %w", bind.Addr, err)
	}
	bp.tls = tc
	return bp, nil
}

// proxyHeader returns the PROXY header options of a backend's servers
// (send-proxy, send-proxy-v2, send-proxy-v2-ssl, send-proxy-v2-ssl-cn,
// proxy-v2-options), nil for none. A pool sends one kind of header to
// every server, so the servers of a backend must agree; the error names
// the first server that does not.
func proxyHeader(be *haproxycfg.Backend) (*proxyproto.Options, *haproxycfg.Server, error) {
	describe := func(s *haproxycfg.Server) string {
		return fmt.Sprintf("%s ssl=%v cn=%v options=%s", s.SendProxy, s.SendProxySSL, s.SendProxySSLCN, s.ProxyV2Options)
	}
	if len(be.Servers) == 0 {
		return nil, nil, nil
	}
	first := be.Servers[0]
	for _, s := range be.Servers[1:] {
		if describe(s) != describe(first) {
			return nil, s, fmt.Errorf("server %s: its PROXY header settings differ from server %s's; mqttlb sends one kind of header to every server of a backend", s.Name, first.Name)
		}
	}
	switch first.SendProxy {
	case "":
		if first.ProxyV2Options != "" {
			return nil, first, fmt.Errorf("server %s: proxy-v2-options needs send-proxy-v2", first.Name)
		}
		return nil, nil, nil
	case "v1":
		if first.ProxyV2Options != "" {
			return nil, first, fmt.Errorf("server %s: proxy-v2-options needs send-proxy-v2, not send-proxy", first.Name)
		}
		return &proxyproto.Options{Version: 1}, nil, nil
	}
	opts := &proxyproto.Options{Version: 2}
	var list []string
	if first.SendProxySSL {
		list = append(list, "ssl")
	}
	if first.SendProxySSLCN {
		list = append(list, "cert-cn")
	}
	if first.ProxyV2Options != "" {
		list = append(list, strings.Split(first.ProxyV2Options, ",")...)
	}
	if len(list) > 0 {
		if err := opts.SetV2Options(strings.Join(slices.Compact(list), ",")); err != nil {
			return nil, first, fmt.Errorf("server %s: %w", first.Name, err)
		}
	}
	return opts, nil, nil
}
