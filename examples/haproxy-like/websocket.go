package main

import (
	"errors"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/mqttlb/mqttlb/mqttlb"
)

// serveWebSocket terminates MQTT over WebSocket on ln (path /mqtt, the
// "mqtt" subprotocol, same-host origins only) and hands the clients to
// the proxy, which treats them like TCP clients. proxy.Shutdown closes
// the WebSocket listener, which closes ln.
func serveWebSocket(g *errgroup.Group, proxy *mqttlb.Proxy, ln net.Listener, logger *slog.Logger) {
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
	logger.Info("listening", "addr", "ws://"+ln.Addr().String()+mqttlb.DefaultWebSocketPath)
}
