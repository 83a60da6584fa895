package stats_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/mqttlb/stats"
)

// A proxy's statistics as Prometheus metrics, and a backend drained
// through the admin handler.
func Example() {
	pool := &mqttlb.Pool{Name: "brokers"}
	pool.SetBackends([]*balance.Backend{
		{Name: "node1", Addr: "10.0.0.1:1883"},
		{Name: "node2", Addr: "10.0.0.2:1883"},
	})
	proxy := &mqttlb.Proxy{Default: pool}
	mux := http.NewServeMux()
	mux.Handle("/metrics", stats.Metrics(proxy))
	mux.Handle("/admin", &stats.Admin{Proxy: proxy, Auth: stats.Auth{User: "ops", Password: "secret"}})

	drain := httptest.NewRequest(http.MethodPost, "/admin?action=state&pool=brokers&backend=node2&state=drain", nil)
	drain.SetBasicAuth("ops", "secret")
	answer := httptest.NewRecorder()
	mux.ServeHTTP(answer, drain)
	fmt.Print(answer.Body.String())

	metrics := httptest.NewRecorder()
	mux.ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	lines := bufio.NewScanner(metrics.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "mqttlb_backend_status{") && strings.HasSuffix(lines.Text(), " 1") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// {"action":"state","backend":"node2","ok":true,"pool":"brokers","state":"drain"}
	// mqttlb_backend_status{backend="node1",pool="brokers",status="UP"} 1
	// mqttlb_backend_status{backend="node2",pool="brokers",status="DRAIN"} 1
}
