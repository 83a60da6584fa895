// Package mqttlb is an MQTT-aware proxy and load balancer to embed in Go
// programs: edge gateways, broker test harnesses, or a stand-alone
// replacement for HAProxy in front of EMQX, HiveMQ, Mosquitto or VerneMQ
// clusters.
//
// For each client the [Proxy] reads the whole CONNECT (MQTT 3.1, 3.1.1 or
// 5.0) before it dials, validates it, picks a [Route] and a backend from
// the route's [Pool], forwards the CONNECT bytes unchanged and relays both
// directions until either side ends. A client that cannot be served gets
// an MQTT answer (CONNACK "server unavailable", "packet too large", ...)
// instead of a reset, so devices back off instead of hammering.
//
//	pool := &mqttlb.Pool{Name: "brokers", Balancer: balance.LeastConn{}}
//	pool.SetBackends([]*balance.Backend{
//		{Name: "node1", Addr: "10.0.0.1:1883"},
//		{Name: "node2", Addr: "10.0.0.2:1883"},
//	})
//	proxy := &mqttlb.Proxy{Default: pool}
//	go proxy.ListenAndServe(":1883")
//	defer proxy.Shutdown(ctx) // closes clients paced over ctx's deadline
//
// The steps are exported for applications that wire their own accept
// loop: [ReadConnect] reads and validates the first packet, [Reject]
// answers a refusal in the client's protocol version, [Pool.Dial] picks
// and dials with redispatch. Health checking lives in package health and
// drives a pool through [Pool.SetHealthy]:
//
//	go mon.Run(ctx, pool.Addrs(), pool.SetHealthy)
//
// A pool closes the live connections of a backend marked down when
// [Pool.ShutdownSessionsOnDown] is set, spread over a window, and those
// of its backups when a regular backend comes back with
// [Pool.ShutdownBackupSessionsOnUp]; [Pool.CloseSessions] does the same
// on demand and [Pool.BackendStatuses] reports each backend's state.
//
// # TLS and the PROXY protocol
//
// [TLSConfig] terminates TLS with certificates reloaded from their files
// and optional client verification; the SNI and the client certificate's
// CN and SANs reach routing ([ServerName], [ClientCertCN],
// [ClientCertSAN]). [Pool.ProxyProtocol] sends the backend a PROXY header
// with the client's address and TLS identity (the CN nested in the SSL
// TLV, where EMQX reads it). Behind another load balancer that sends a
// PROXY header, wrap the listener with github.com/pires/go-proxyproto; the
// address it reads is the client's everywhere:
//
//	cfg, err := mqttlb.TLSConfig{CertFile: "server.pem", KeyFile: "server.key",
//		ClientCAFile: "ca.pem", ClientAuth: mqttlb.ClientAuthRequired}.ServerConfig()
//	pool.ProxyProtocol = &proxyproto.EMQX
//	ln, err := net.Listen("tcp", ":8883")
//	go proxy.Serve(tls.NewListener(&pires.Listener{Listener: ln}, cfg))
//
// # Floods and faults
//
// [Proxy.Limiter] ([ConnLimiter]) limits the rate
// of new connections per source address and in total; [Proxy.MaxConn],
// [Proxy.ServeMaxConn] and [balance.Backend.MaxConn] cap open
// connections per proxy, listener and backend, the last with a bounded
// queue ([Pool.QueueTimeout], [Pool.MaxQueue]); [Pool.ConnackTimeout]
// redispatches a client whose backend accepted the connection but never
// answered its CONNECT.
//
// # MQTT over WebSocket
//
// MQTT over WebSocket is a listener like any other: a
// [WebSocketListener] terminates the WebSocket and hands the proxy the
// MQTT byte stream inside, so routes, stickiness and refusals apply to
// browsers and mobile SDKs as to TCP clients. [WebSocketDialer] reaches
// brokers through their own WebSocket port, and [Proxy.Opaque] passes
// connections through unread.
//
//	wsl := &mqttlb.WebSocketListener{} // ws://host:8083/mqtt
//	go wsl.Serve(ln)
//	go proxy.Serve(wsl) // for wss, give Serve a tls.NewListener
package mqttlb
