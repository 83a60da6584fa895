package stats

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsPassLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  Source
	}{
		{"four states", fourStates()},
		{"after traffic", func() Source {
			f := newFixture(t)
			traffic(t, f, 2, 1)
			return f.proxy
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := testutil.CollectAndLint(&Collector{Source: tc.src})
			require.NoError(t, err)
			assert.Empty(t, problems)
			assert.Positive(t, testutil.CollectAndCount(&Collector{Source: tc.src}))
		})
	}
}

func TestMetricsAddUpAfterAScriptedRun(t *testing.T) {
	f := newFixture(t)
	const sessions, rejects = 9, 4
	sent, received := traffic(t, f, sessions, rejects)
	require.Equal(t, 9*26, sent)

	perBackend := func(name string, v int) string {
		var b strings.Builder
		for _, n := range []string{"node1", "node2", "node3"} {
			fmt.Fprintf(&b, "%s{backend=%q,pool=\"brokers\"} %d\n", name, n, v)
		}
		return b.String()
	}
	expected := fmt.Sprintf(`
# HELP mqttlb_proxy_connections_total Connections through the proxy since it started.
# TYPE mqttlb_proxy_connections_total counter
mqttlb_proxy_connections_total %d
# HELP mqttlb_proxy_rejects_total Connections the proxy refused, by reason.
# TYPE mqttlb_proxy_rejects_total counter
mqttlb_proxy_rejects_total{reason="no_backend"} %d
# HELP mqttlb_proxy_bytes_in_total Bytes received from clients through the proxy, counted when connections end.
# TYPE mqttlb_proxy_bytes_in_total counter
mqttlb_proxy_bytes_in_total %d
# HELP mqttlb_proxy_bytes_out_total Bytes sent to clients through the proxy, counted when connections end.
# TYPE mqttlb_proxy_bytes_out_total counter
mqttlb_proxy_bytes_out_total %d
# HELP mqttlb_pool_connections_total Connections through the pool since it started.
# TYPE mqttlb_pool_connections_total counter
mqttlb_pool_connections_total{pool="brokers"} %d
mqttlb_pool_connections_total{pool="empty"} 0
# HELP mqttlb_route_rejects_total Connections the route refused, by reason.
# TYPE mqttlb_route_rejects_total counter
mqttlb_route_rejects_total{reason="no_backend",route="lost"} %d
# HELP mqttlb_backend_connections_total Connections assigned to the backend, failed dials included.
# TYPE mqttlb_backend_connections_total counter
%s# HELP mqttlb_backend_bytes_in_total Bytes received from the backend's clients, counted when connections end.
# TYPE mqttlb_backend_bytes_in_total counter
%s# HELP mqttlb_backend_connections Connections assigned to the backend now.
# TYPE mqttlb_backend_connections gauge
%s`, sessions+rejects, rejects, sent, received, sessions, rejects,
		perBackend("mqttlb_backend_connections_total", sessions/3),
		perBackend("mqttlb_backend_bytes_in_total", sent/3),
		perBackend("mqttlb_backend_connections", 0))
	assert.NoError(t, testutil.CollectAndCompare(&Collector{Source: f.proxy}, strings.NewReader(expected),
		"mqttlb_proxy_connections_total", "mqttlb_proxy_rejects_total", "mqttlb_proxy_bytes_in_total",
		"mqttlb_proxy_bytes_out_total", "mqttlb_pool_connections_total", "mqttlb_route_rejects_total",
		"mqttlb_backend_connections_total", "mqttlb_backend_bytes_in_total", "mqttlb_backend_connections"))

	resp, body := get(t, serve(t, Metrics(f.proxy)), "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, fmt.Sprintf("mqttlb_proxy_bytes_in_total %d\n", sent))
	assert.Contains(t, body, `mqttlb_backend_status{backend="node1",pool="brokers",status="UP"} 1`)
	assert.Contains(t, body, `mqttlb_backend_status{backend="node1",pool="brokers",status="DOWN"} 0`)
}
