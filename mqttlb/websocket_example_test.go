package mqttlb_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/coder/websocket"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/mqttlb"
)

func ExampleWebSocketListener() {
	brokers, _ := cluster.Start(cluster.Config{Nodes: 1})
	defer brokers.Close()
	pool := &mqttlb.Pool{Name: "brokers"}
	pool.SetBackends([]*balance.Backend{{Name: "node1", Addr: brokers.Addrs()[0]}})

	// Browsers and mobile SDKs connect to ws://host:8083/mqtt (wss://
	// on 8084 with tls.Listen); the brokers see a plain TCP client.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	wsl := &mqttlb.WebSocketListener{}
	go wsl.Serve(ln)
	proxy := &mqttlb.Proxy{Default: pool}
	go proxy.Serve(wsl)
	defer proxy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/mqtt",
		&websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageBinary, []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'x'})
	_, connack, _ := ws.Read(ctx)
	fmt.Printf("subprotocol %s, CONNACK % x\n", ws.Subprotocol(), connack)
	// Output: subprotocol mqtt, CONNACK 20 02 00 00
}

func ExampleWebSocketDialer() {
	// A pool of brokers reachable only through their WebSocket port:
	// the proxy dials ws://ADDR/mqtt and frames the stream anew.
	ws := &mqttlb.WebSocketDialer{Path: "/mqtt"}
	pool := &mqttlb.Pool{Name: "ws-brokers", DialContext: ws.DialContext}
	pool.SetBackends([]*balance.Backend{{Name: "emqx1", Addr: "10.0.0.1:8083"}})
	fmt.Println(pool.Addrs())
	// Output: [10.0.0.1:8083]
}
