package mqttlb_test

import (
	"fmt"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// A pool's backends as the statistics show them, after an operator's
// changes.
func ExamplePool_Stats() {
	pool := &mqttlb.Pool{Name: "brokers"}
	pool.SetBackends([]*balance.Backend{
		{Name: "node1", Addr: "10.0.0.1:1883"},
		{Name: "node2", Addr: "10.0.0.2:1883"},
		{Name: "node3", Addr: "10.0.0.3:1883"},
	})
	pool.SetState("node2", mqttlb.StateDrain)
	pool.SetWeight("node3", 5)
	pool.SetHealthy([]string{"10.0.0.2:1883", "10.0.0.3:1883"})
	for _, b := range pool.Stats().Backends {
		fmt.Println(b.Name, b.Status, b.Weight)
	}
	// Output:
	// node1 DOWN 1
	// node2 DRAIN 1
	// node3 UP 5
}
