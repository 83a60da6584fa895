package cluster

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Paths of the health endpoints, as served by HiveMQ's Health API (port 8889
// on a HiveMQ node).
const (
	ReadinessPath = "/api/v1/health/readiness"
	LivenessPath  = "/api/v1/health/liveness"
)

const (
	statusUp   = `{"status":"UP"}` + "\n"
	statusDown = `{"status":"DOWN"}` + "\n"
)

// serveHealth serves the node's health endpoints on ln until the instance
// stops. Readiness follows SetReady; liveness is UP whenever the endpoint
// answers at all.
func (inst *instance) serveHealth(ln net.Listener, n *Node) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ReadinessPath, func(w http.ResponseWriter, _ *http.Request) {
		if n.ready.Load() {
			writeStatus(w, http.StatusOK, statusUp)
		} else {
			writeStatus(w, http.StatusServiceUnavailable, statusDown)
		}
	})
	mux.HandleFunc("GET "+LivenessPath, func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, statusUp)
	})
	inst.health = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	inst.healthWG.Add(1)
	go inst.runHealth(ln, n.log)
}

func (inst *instance) runHealth(ln net.Listener, log *slog.Logger) {
	defer inst.healthWG.Done()
	if err := inst.health.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error("cluster health endpoint failed", "error", err)
	}
}

func writeStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
