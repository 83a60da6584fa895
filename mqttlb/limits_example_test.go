package mqttlb_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mqttlb/mqttlb/mqttlb"
)

func ExampleConnLimiter() {
	// At most 2 new connections at once per source address, refilled at
	// one per second; 1,000 per second from everyone together.
	lim := &mqttlb.ConnLimiter{PerSource: 1, PerSourceBurst: 2, Total: 1000}
	proxy := &mqttlb.Proxy{Limiter: lim, MaxConn: 100_000}
	_ = proxy // serve as usual: refused MQTT 5 clients get CONNACK 0x97

	src := netip.MustParseAddr("192.0.2.10")
	for range 3 {
		err := lim.Allow(src)
		fmt.Println(err == nil, errors.Is(err, mqttlb.ErrQuotaExceeded))
	}
	fmt.Println(lim.Allow(netip.MustParseAddr("192.0.2.11")) == nil)
	// Output:
	// true false
	// true false
	// false true
	// true
}
