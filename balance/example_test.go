package balance_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mqttlb/mqttlb/balance"
)

func ExampleRoundRobin() {
	backends := []*balance.Backend{
		{Addr: "10.0.0.1:1883", Name: "a", Weight: 5},
		{Addr: "10.0.0.2:1883", Name: "b"},
		{Addr: "10.0.0.3:1883", Name: "c"},
	}
	picker := balance.RoundRobin{}.Build(balance.BuildInfo{Backends: backends})
	var turns []string
	for range 7 {
		b, err := picker.Pick(balance.ConnInfo{})
		if err != nil {
			fmt.Println(err)
			return
		}
		turns = append(turns, b.ID())
	}
	fmt.Println(strings.Join(turns, " "))
	// Output: a a b a c a a
}

func ExampleClientIDHash() {
	backends := []*balance.Backend{
		{Addr: "10.0.0.1:1883", Name: "node1"},
		{Addr: "10.0.0.2:1883", Name: "node2"},
		{Addr: "10.0.0.3:1883", Name: "node3"},
	}
	clients := []string{"sensor-1", "sensor-2", "sensor-3", "sensor-4", "sensor-5", "sensor-6"}
	show := func(backends []*balance.Backend) {
		picker := balance.ClientIDHash{}.Build(balance.BuildInfo{Backends: backends})
		var placements []string
		for _, id := range clients {
			b, err := picker.Pick(balance.ConnInfo{ClientID: id})
			if err != nil {
				fmt.Println(err)
				return
			}
			placements = append(placements, id+"→"+b.ID())
		}
		fmt.Println(strings.Join(placements, " "))
	}
	show(backends)
	// Without node2, only the client it held (sensor-3) moves.
	show(slices.Delete(backends, 1, 2))
	// Output:
	// sensor-1→node3 sensor-2→node1 sensor-3→node2 sensor-4→node3 sensor-5→node1 sensor-6→node3
	// sensor-1→node3 sensor-2→node1 sensor-3→node3 sensor-4→node3 sensor-5→node1 sensor-6→node3
}

func ExampleEligible() {
	all := []*balance.Backend{
		{Addr: "10.0.0.1:1883", Name: "main", Weight: -1}, // drained: weight 0
		{Addr: "10.0.0.8:1883", Name: "spare1", Backup: true},
		{Addr: "10.0.0.9:1883", Name: "spare2", Backup: true},
	}
	fmt.Println(balance.Eligible(all, false))
	fmt.Println(balance.Eligible(all, true))
	// Output:
	// [spare1]
	// [spare1 spare2]
}

func ExampleByName() {
	for _, name := range []string{"leastconn", "random(3)", "uri"} {
		b, err := balance.ByName(name)
		fmt.Printf("%#v %v\n", b, err)
	}
	// Output:
	// balance.LeastConn{} <nil>
	// balance.Random{Draws:3, Seed:0x0} <nil>
	// <nil> balance: unknown algorithm "uri": it balances on HTTP data, which MQTT connections do not carry
}
