package sticky_test

import (
	"fmt"

	"github.com/mqttlb/mqttlb/sticky"
)

func Example() {
	var table sticky.Table // 30 minute TTL, 100,000 entries

	// A device connects for the first time: no entry, so the balancer
	// picks node2; once the backend connection is up, the table records it.
	_, ok := table.Load("sensor-42")
	fmt.Println("known:", ok)
	persistent := sticky.Session{Version: 5, Expiry: 3600, HasExpiry: true}
	ref, others := table.Acquire("sensor-42", "node2", persistent)
	fmt.Println("other connections:", others)

	// The connection ends; the broker keeps the session for an hour, and
	// so does the table.
	table.Release(ref)

	// The device reconnects and goes back to the node with its session.
	backend, ok := table.Load("sensor-42")
	fmt.Println("back to:", backend, ok)

	// A client whose session ends with its connection leaves nothing.
	ref, _ = table.Acquire("probe-7", "node1", sticky.Session{Version: 4, CleanStart: true})
	table.Release(ref)
	_, ok = table.Load("probe-7")
	fmt.Println("probe-7 known:", ok, "entries:", table.Len())
	// Output:
	// known: false
	// other connections: 0
	// back to: node2 true
	// probe-7 known: false entries: 1
}

func ExampleSession_Keep() {
	ttl := sticky.DefaultTTL
	fmt.Println(sticky.Session{Version: 4, CleanStart: true}.Keep(ttl))
	fmt.Println(sticky.Session{Version: 4}.Keep(ttl))
	fmt.Println(sticky.Session{Version: 5, Expiry: 90, HasExpiry: true}.Keep(ttl))
	fmt.Println(sticky.Session{Version: 5, Expiry: sticky.ExpiryNever, HasExpiry: true}.Keep(ttl))
	// Output:
	// 0s
	// 30m0s
	// 1m30s
	// 30m0s
}
