package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"

	pires "github.com/pires/go-proxyproto"

	"github.com/mqttlb/mqttlb/internal/cliflag"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// edgeFlags configure what happens at the edges of the proxy: TLS
// termination on the client side, PROXY headers on both sides.
type edgeFlags struct {
	tlsBinds       cliflag.List
	cert, key, ca  string
	verify         string
	acceptProxy    bool
	sendProxyV2    bool
	proxyV2Options string
	reusePort      bool // SO_REUSEPORT on every listener (tuning.go)
}

// registerEdgeFlags defines the flags on the default flag set.
func registerEdgeFlags() *edgeFlags {
	f := &edgeFlags{}
	flag.Var(&f.tlsBinds, "bind-tls", "`address` to accept MQTT clients over TLS on, repeatable (HAProxy \"bind ADDR ssl crt ...\"); needs -tls-cert")
	flag.StringVar(&f.cert, "tls-cert", "", "PEM `file` with the server certificate chain, and the key unless -tls-key is given; reloaded when it changes")
	flag.StringVar(&f.key, "tls-key", "", "PEM `file` with the server's private key")
	flag.StringVar(&f.ca, "tls-ca", "", "PEM `file` with the CAs that sign client certificates (HAProxy \"ca-file\")")
	flag.StringVar(&f.verify, "tls-verify", "", "client certificates: none, optional or required (default: required with -tls-ca, else none)")
	flag.BoolVar(&f.acceptProxy, "accept-proxy", false, "every client connection opens with a PROXY v1 or v2 header from a load balancer in front (HAProxy \"accept-proxy\", an AWS NLB)")
	flag.BoolVar(&f.sendProxyV2, "send-proxy-v2", false, "send each backend a PROXY v2 header with the client's address (HAProxy \"send-proxy-v2\"); the brokers must expect it, the embedded demo ones do not")
	flag.StringVar(&f.proxyV2Options, "proxy-v2-options", "", "comma-separated TLVs for -send-proxy-v2: ssl, cert-cn, ssl-cipher, authority, crc32c, ... (EMQX reads the CN with ssl,cert-cn)")
	return f
}

// proxyOptions returns the pool's PROXY header options, nil for none.
func (f *edgeFlags) proxyOptions() (*proxyproto.Options, error) {
	if !f.sendProxyV2 {
		if f.proxyV2Options != "" {
			return nil, fmt.Errorf("-proxy-v2-options needs -send-proxy-v2")
		}
		return nil, nil
	}
	opts := &proxyproto.Options{Version: 2}
	if f.proxyV2Options != "" {
		if err := opts.SetV2Options(f.proxyV2Options); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

// tlsConfig builds the TLS configuration of the -bind-tls listeners.
func (f *edgeFlags) tlsConfig(logger *slog.Logger) (*tls.Config, error) {
	if f.cert == "" {
		return nil, fmt.Errorf("-bind-tls needs -tls-cert")
	}
	cfg := mqttlb.TLSConfig{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca,
		NextProtos: []string{"mqtt"}, Logger: logger}
	if f.verify != "" {
		auth, err := mqttlb.ParseClientAuth(f.verify)
		if err != nil {
			return nil, err
		}
		cfg.ClientAuth = auth
	}
	return cfg.ServerConfig()
}

// listenAll opens the plain and the TLS listeners, each wrapped to read
// PROXY headers first when -accept-proxy is set. On error it closes the
// ones already open.
func (f *edgeFlags) listenAll(binds []string, logger *slog.Logger) ([]net.Listener, error) {
	var tlsCfg *tls.Config
	if len(f.tlsBinds) > 0 {
		var err error
		if tlsCfg, err = f.tlsConfig(logger); err != nil {
			return nil, err
		}
	}
	var listeners []net.Listener
	open := func(addr string, cfg *tls.Config) error {
		ln, err := listenConfig(f.reusePort).Listen(context.Background(), "tcp", addr)
		if err != nil {
			return fmt.Errorf("listen: %w (is another broker or proxy on it? choose another with -bind or -bind-tls)", err)
		}
		if f.acceptProxy {
			ln = &pires.Listener{Listener: ln}
		}
		if cfg != nil {
			ln = tls.NewListener(ln, cfg)
		}
		listeners = append(listeners, ln)
		return nil
	}
	for _, addr := range binds {
		if err := open(addr, nil); err != nil {
			closeAll(listeners)
			return nil, err
		}
	}
	for _, addr := range f.tlsBinds {
		if err := open(addr, tlsCfg); err != nil {
			closeAll(listeners)
			return nil, err
		}
	}
	return listeners, nil
}

func closeAll(listeners []net.Listener) {
	for _, ln := range listeners {
		ln.Close()
	}
}
