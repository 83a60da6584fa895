package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"

	pires "github.com/pires/go-proxyproto"
	"golang.org/x/sync/errgroup"

	"github.com/mqttlb/mqttlb/internal/cliflag"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// webSocketFlags configure the MQTT over WebSocket listeners: in the
// configuration file, "bind :8083 ws" and "bind :8084 ssl crt FILE ws",
// our extension to HAProxy's syntax.
type webSocketFlags struct {
	binds, tlsBinds cliflag.List
}

// registerWebSocketFlags defines the flags on the default flag set.
func registerWebSocketFlags() *webSocketFlags {
	f := &webSocketFlags{}
	flag.Var(&f.binds, "bind-ws", "`address` to accept MQTT over WebSocket on (ws://ADDR/mqtt), repeatable")
	flag.Var(&f.tlsBinds, "bind-wss", "`address` to accept MQTT over secure WebSocket on (wss://ADDR/mqtt), repeatable; needs -tls-cert")
	return f
}

// wsListener is a TCP or TLS listener to serve WebSocket upgrades on.
type wsListener struct {
	net.Listener
	scheme string
}

// listenAll opens the ws and wss listeners with the TLS and PROXY
// settings of edge. On error it closes the ones already open.
func (f *webSocketFlags) listenAll(edge *edgeFlags, logger *slog.Logger) ([]wsListener, error) {
	var tlsCfg *tls.Config
	if len(f.tlsBinds) > 0 {
		cfg, err := edge.tlsConfig(logger)
		if err != nil {
			return nil, fmt.Errorf("-bind-wss: %w", err)
		}
		// Browsers negotiate HTTP/1.1 by ALPN; the WebSocket upgrade
		// needs it, not "mqtt".
		tlsCfg = cfg.Clone()
		tlsCfg.NextProtos = []string{"http/1.1"}
	}
	var out []wsListener
	closeOpened := func() {
		for _, l := range out {
			l.Close()
		}
	}
	for i, addr := range append(append([]string(nil), f.binds...), f.tlsBinds...) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeOpened()
			return nil, fmt.Errorf("listen: %w (choose another with -bind-ws or -bind-wss)", err)
		}
		if edge.acceptProxy {
			ln = &pires.Listener{Listener: ln}
		}
		l := wsListener{ln, "ws"}
		if i >= len(f.binds) {
			l = wsListener{tls.NewListener(ln, tlsCfg), "wss"}
		}
		out = append(out, l)
	}
	return out, nil
}

// serveWebSocket terminates MQTT over WebSocket on ln (path /mqtt, the
// "mqtt" subprotocol, same-host origins only) and hands the clients to
// the proxy, which treats them like TCP clients. proxy.Shutdown closes
// the WebSocket listener, which closes ln.
func serveWebSocket(g *errgroup.Group, proxy *mqttlb.Proxy, ln wsListener, logger *slog.Logger) {
	wsl := &mqttlb.WebSocketListener{Logger: logger}
	g.Go(func() error {
		if err := wsl.Serve(ln); !errors.Is(err, mqttlb.ErrWebSocketClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		if err := proxy.Serve(wsl); !errors.Is(err, mqttlb.ErrProxyClosed) {
			return err
		}
		return nil
	})
	logger.Info("listening", "addr", ln.scheme+"://"+ln.Addr().String()+mqttlb.DefaultWebSocketPath)
}
