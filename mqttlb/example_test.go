package mqttlb_test

import (
	"fmt"
	"net"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/mqttlb"
)

func Example() {
	// Two brokers: embedded ones here, your cluster's nodes in production.
	brokers, _ := cluster.Start(cluster.Config{Nodes: 2})
	defer brokers.Close()

	pool := &mqttlb.Pool{Name: "brokers", Balancer: balance.LeastConn{}}
	pool.SetBackends([]*balance.Backend{
		{Name: "node1", Addr: brokers.Addrs()[0]},
		{Name: "node2", Addr: brokers.Addrs()[1]},
	})
	proxy := &mqttlb.Proxy{Default: pool}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go proxy.Serve(ln)
	defer proxy.Close()

	// An MQTT 3.1.1 client connects through the proxy.
	conn, _ := net.Dial("tcp", ln.Addr().String())
	defer conn.Close()
	conn.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'x'})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	connack := make([]byte, 4)
	n, _ := conn.Read(connack)
	fmt.Printf("CONNACK % x\n", connack[:n])
	// Output: CONNACK 20 02 00 00
}

func ExampleClientCertCN() {
	fleet := &mqttlb.Pool{Name: "fleet"}
	ops := &mqttlb.Pool{Name: "ops"}
	proxy := &mqttlb.Proxy{
		Routes: []mqttlb.Route{
			{Name: "operators", Match: mqttlb.ClientCertCN("ops-console"), Pool: ops},
			{Name: "devices", Match: mqttlb.ClientCertSAN("devices.example.com"), Pool: fleet},
		},
	}
	for _, ci := range []balance.ConnInfo{
		{ClientID: "console", ClientCertCN: "ops-console"},
		{ClientID: "sensor-1", ClientCertCN: "sensor-1", ClientCertSANs: []string{"devices.example.com"}},
		{ClientID: "anonymous"},
	} {
		for _, r := range proxy.Routes {
			if r.Match.Match(ci) {
				fmt.Println(ci.ClientID, "->", r.Pool.Name)
			}
		}
	}
	// Output:
	// console -> ops
	// sensor-1 -> fleet
}
