package stats

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqttlb/mqttlb/mqttlb"
)

// Collector is a Prometheus collector that reads its Source at each
// scrape and reports it as mqttlb_* metrics: mqttlb_proxy_* for the
// proxy, mqttlb_route_* with a route label, mqttlb_pool_* with a pool
// label and mqttlb_backend_* with pool and backend labels. Nothing is
// updated on the connection path; the counters live in the proxy.
type Collector struct {
	// Source gives the statistics. Required.
	Source Source
}

// Metrics returns a handler that serves the Source's metrics, alone in a
// registry of their own, in the Prometheus exposition formats. To add
// them to another registry, register a Collector there instead.
func Metrics(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&Collector{Source: src})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// connDescs describe the ConnStats of one level (proxy, route, pool).
type connDescs struct {
	current, max, total, rejects, bytesIn, bytesOut *prometheus.Desc
}

func newConnDescs(level, what string, labels ...string) connDescs {
	name := func(s string) string { return "mqttlb_" + level + "_" + s }
	return connDescs{
		current:  prometheus.NewDesc(name("connections"), "Connections open now through the "+what+".", labels, nil),
		max:      prometheus.NewDesc(name("connections_max"), "Most connections open at once through the "+what+".", labels, nil),
		total:    prometheus.NewDesc(name("connections_total"), "Connections through the "+what+" since it started.", labels, nil),
		rejects:  prometheus.NewDesc(name("rejects_total"), "Connections the "+what+" refused, by reason.", append(labels[:len(labels):len(labels)], "reason"), nil),
		bytesIn:  prometheus.NewDesc(name("bytes_in_total"), "Bytes received from clients through the "+what+", counted when connections end.", labels, nil),
		bytesOut: prometheus.NewDesc(name("bytes_out_total"), "Bytes sent to clients through the "+what+", counted when connections end.", labels, nil),
	}
}

func (d connDescs) describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{d.current, d.max, d.total, d.rejects, d.bytesIn, d.bytesOut} {
		ch <- desc
	}
}

func (d connDescs) collect(ch chan<- prometheus.Metric, s mqttlb.ConnStats, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d.current, prometheus.GaugeValue, float64(s.Current), labels...)
	ch <- prometheus.MustNewConstMetric(d.max, prometheus.GaugeValue, float64(s.Max), labels...)
	ch <- prometheus.MustNewConstMetric(d.total, prometheus.CounterValue, float64(s.Total), labels...)
	for reason, n := range s.Rejects {
		ch <- prometheus.MustNewConstMetric(d.rejects, prometheus.CounterValue, float64(n), append(labels[:len(labels):len(labels)], reason)...)
	}
	ch <- prometheus.MustNewConstMetric(d.bytesIn, prometheus.CounterValue, float64(s.BytesIn), labels...)
	ch <- prometheus.MustNewConstMetric(d.bytesOut, prometheus.CounterValue, float64(s.BytesOut), labels...)
}

var (
	proxyDescs = newConnDescs("proxy", "proxy")
	routeDescs = newConnDescs("route", "route", "route")
	poolDescs  = newConnDescs("pool", "pool", "pool")

	poolLabels    = []string{"pool"}
	backendLabels = []string{"pool", "backend"}

	descRedispatches = prometheus.NewDesc("mqttlb_pool_redispatches_total",
		"Connections that reached a backend after another failed to answer.", poolLabels, nil)
	descPoolDialFailures = prometheus.NewDesc("mqttlb_pool_dial_failures_total",
		"Failed dials to the pool's backends.", poolLabels, nil)
	descDuplicates = prometheus.NewDesc("mqttlb_pool_duplicate_client_ids_total",
		"Connections made while another with the same client ID was live.", poolLabels, nil)
	descStickyHits = prometheus.NewDesc("mqttlb_pool_sticky_hits_total",
		"Connections placed by the sticky table.", poolLabels, nil)
	descStickyEntries = prometheus.NewDesc("mqttlb_pool_sticky_entries",
		"Client IDs in the pool's sticky table.", poolLabels, nil)

	descStatus = prometheus.NewDesc("mqttlb_backend_status",
		"1 for the backend's status (UP, DOWN, DRAIN, MAINT), 0 for the others.", append(backendLabels, "status"), nil)
	descLastChange = prometheus.NewDesc("mqttlb_backend_last_change_timestamp_seconds",
		"When the backend's state last changed, in seconds since the Unix epoch.", backendLabels, nil)
	descWeight = prometheus.NewDesc("mqttlb_backend_weight",
		"The backend's weight in the balancer.", backendLabels, nil)
	descCurrent = prometheus.NewDesc("mqttlb_backend_connections",
		"Connections assigned to the backend now.", backendLabels, nil)
	descMax = prometheus.NewDesc("mqttlb_backend_connections_max",
		"Most connections assigned to the backend at once.", backendLabels, nil)
	descLimit = prometheus.NewDesc("mqttlb_backend_connections_limit",
		"The backend's connection limit (MaxConn), 0 for none.", backendLabels, nil)
	descTotal = prometheus.NewDesc("mqttlb_backend_connections_total",
		"Connections assigned to the backend, failed dials included.", backendLabels, nil)
	descBytesIn = prometheus.NewDesc("mqttlb_backend_bytes_in_total",
		"Bytes received from the backend's clients, counted when connections end.", backendLabels, nil)
	descBytesOut = prometheus.NewDesc("mqttlb_backend_bytes_out_total",
		"Bytes sent to the backend's clients, counted when connections end.", backendLabels, nil)
	descDialFailures = prometheus.NewDesc("mqttlb_backend_dial_failures_total",
		"Failed dials to the backend.", backendLabels, nil)
	descChecks = prometheus.NewDesc("mqttlb_backend_checks_total",
		"Health checks of the backend.", backendLabels, nil)
	descCheckFailures = prometheus.NewDesc("mqttlb_backend_check_failures_total",
		"Failed health checks of the backend.", backendLabels, nil)
	descCheckDuration = prometheus.NewDesc("mqttlb_backend_last_check_duration_seconds",
		"How long the backend's last health check took.", backendLabels, nil)

	backendDescs = []*prometheus.Desc{
		descStatus, descLastChange, descWeight, descCurrent, descMax, descLimit, descTotal,
		descBytesIn, descBytesOut, descDialFailures, descChecks, descCheckFailures, descCheckDuration,
	}
	statuses = []string{mqttlb.StatusUp, mqttlb.StatusDown, mqttlb.StatusDrain, mqttlb.StatusMaint}
)

// Describe sends the descriptors of every metric Collect may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	proxyDescs.describe(ch)
	routeDescs.describe(ch)
	poolDescs.describe(ch)
	for _, d := range []*prometheus.Desc{descRedispatches, descPoolDialFailures, descDuplicates, descStickyHits, descStickyEntries} {
		ch <- d
	}
	for _, d := range backendDescs {
		ch <- d
	}
}

// Collect reads the Source once and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.Source.Stats()
	proxyDescs.collect(ch, s.Proxy)
	for _, r := range s.Routes {
		routeDescs.collect(ch, r.ConnStats, r.Name)
	}
	for _, p := range s.Pools {
		poolDescs.collect(ch, p.ConnStats, p.Name)
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), p.Name)
		}
		counter(descRedispatches, p.Redispatches)
		counter(descPoolDialFailures, p.DialFailures)
		counter(descDuplicates, p.DuplicateClientIDs)
		counter(descStickyHits, p.StickyHits)
		ch <- prometheus.MustNewConstMetric(descStickyEntries, prometheus.GaugeValue, float64(p.StickyEntries), p.Name)
		for _, b := range p.Backends {
			collectBackend(ch, p.Name, b)
		}
	}
}

func collectBackend(ch chan<- prometheus.Metric, pool string, b mqttlb.BackendStats) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, pool, b.Name)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), pool, b.Name)
	}
	for _, st := range statuses {
		v := 0.0
		if st == b.Status {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, v, pool, b.Name, st)
	}
	gauge(descLastChange, float64(b.LastChange.UnixNano())/1e9)
	gauge(descWeight, float64(b.Weight))
	gauge(descCurrent, float64(b.Current))
	gauge(descMax, float64(b.Max))
	gauge(descLimit, float64(b.MaxConn))
	counter(descTotal, b.Total)
	counter(descBytesIn, b.BytesIn)
	counter(descBytesOut, b.BytesOut)
	counter(descDialFailures, b.DialFailures)
	counter(descChecks, b.Checks)
	counter(descCheckFailures, b.CheckFailures)
	gauge(descCheckDuration, b.LastCheckLatency.Seconds())
}
