// Package stats serves a proxy's statistics over HTTP and lets operators
// change its backends at run time, like HAProxy's stats page and runtime
// API.
//
//   - [Page]: an HTML page with a table per pool and a row per backend,
//     coloured by status, refreshed by the browser every few seconds.
//   - [JSON]: the same model ([mqttlb.Stats]) as a JSON document.
//   - [Collector] and [Metrics]: Prometheus metrics named mqttlb_*, read
//     from the model at scrape time, so the connection path only ever
//     updates atomic counters.
//   - [Admin]: POST-only runtime control (backend state, weight, add,
//     remove, close sessions, sticky entries), behind its own credentials.
//
// Usage:
//
//	mux := http.NewServeMux()
//	auth := stats.Auth{User: "admin", Password: "secret"}
//	mux.Handle("/stats", &stats.Page{Source: proxy, Auth: auth, Refresh: 10 * time.Second})
//	mux.Handle("/stats.json", &stats.JSON{Source: proxy, Auth: auth})
//	mux.Handle("/metrics", stats.Metrics(proxy))
//	mux.Handle("/admin", &stats.Admin{Proxy: proxy, Auth: stats.Auth{User: "ops", Password: "other"}})
//	go http.Serve(ln, mux)
//
// Every handler is safe for concurrent use; set its fields before serving.
package stats

import "github.com/mqttlb/mqttlb/mqttlb"

// Source gives the statistics to show. *mqttlb.Proxy implements it.
type Source interface {
	Stats() mqttlb.Stats
}

// SourceFunc adapts a function to a Source.
type SourceFunc func() mqttlb.Stats

// Stats calls f.
func (f SourceFunc) Stats() mqttlb.Stats { return f() }
