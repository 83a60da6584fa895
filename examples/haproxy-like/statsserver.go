package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/mqttlb/stats"
)

// statsConfig is what the -stats, -stats-* and -admin-* flags give.
type statsConfig struct {
	addr        string
	refresh     time.Duration
	auth, admin stats.Auth
	hideVersion bool
}

// statsHandler serves the stats page on /stats, the same model as JSON on
// /stats.json, Prometheus metrics on /metrics and, when admin credentials
// are given, the admin API on /admin (POST only).
func statsHandler(proxy *mqttlb.Proxy, cfg statsConfig, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/stats", &stats.Page{Source: proxy, Auth: cfg.auth, Refresh: cfg.refresh,
		HideVersion: cfg.hideVersion, Title: "mqttlb statistics"})
	mux.Handle("/stats.json", &stats.JSON{Source: proxy, Auth: cfg.auth})
	mux.Handle("/metrics", stats.Metrics(proxy))
	if cfg.admin.User != "" {
		mux.Handle("/admin", &stats.Admin{Proxy: proxy, Auth: cfg.admin, Logger: logger})
	}
	mux.Handle("/{$}", http.RedirectHandler("/stats", http.StatusFound))
	return mux
}

// serveStats serves h on ln until ctx ends, then shuts the server down.
func serveStats(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}
