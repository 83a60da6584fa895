package haproxycfg_test

import (
	"fmt"
	"strings"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
)

func Example() {
	cfg, err := haproxycfg.Parse("haproxy.cfg", strings.NewReader(`
defaults
  mode tcp
  timeout connect 10000
backend mqtt_backend
  stick-table type string len 32 size 100k expire 30m
  stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)
  server emqx1 10.0.0.1:1883 check weight 5
frontend mqtt_servers
  bind *:1883
  tcp-request content reject unless { req.payload(0,0),mqtt_is_valid }
  default_backend mqtt_backend
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fe, be := cfg.Frontends[0], cfg.Backend("mqtt_backend")
	fmt.Println(fe.Binds[0].Addr, "->", fe.DefaultBackend)
	fmt.Println(be.Balance, be.ConnectTimeout, be.StickTable.Size, be.StickTable.Expire)
	fmt.Println(be.Servers[0].Name, be.Servers[0].Addr, be.Servers[0].Weight, be.Servers[0].Check)
	for _, w := range cfg.Warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// :1883 -> mqtt_backend
	// roundrobin 10s 102400 30m0s
	// emqx1 10.0.0.1:1883 5 true
	// warning: haproxy.cfg:6: stick-table len 32: mqttlb keeps whole client IDs; HAProxy would cut them to 32 bytes, so IDs sharing their first 32 bytes stick together there but not here
}

func ExampleErrors() {
	_, err := haproxycfg.Parse("haproxy.cfg", strings.NewReader(`
backend b
  balance leastconn
  server s1 10.0.0.1 check
  server s2 10.0.0.2:1883 weight 1000
`))
	fmt.Println(err)
	// Output:
	// haproxy.cfg:4: server s1: address "10.0.0.1" must be host:port (address 10.0.0.1: missing port in address)
	// haproxy.cfg:5: server s2: weight: 1000 is out of range (0 to 256)
}
