// Package haproxyrun runs an HAProxy configuration file with mqttlb: the
// "-f haproxy.cfg" of examples/haproxy-like and examples/emqx-sticky. It
// turns what package haproxycfg parsed into pools, routes, proxies and
// health monitors, binds the frontends' addresses, and reloads the file
// on demand without dropping live connections.
//
//	r := haproxyrun.New("haproxy.cfg", logger)
//	if err := r.Start(); err != nil {
//		return err // haproxycfg.Errors: one "file:line: message" per problem
//	}
//	hup := make(chan os.Signal, 1)
//	signal.Notify(hup, syscall.SIGHUP)
//	return r.ServeSignals(ctx, hup, 10*time.Second) // until ctx ends
//
// How the configuration maps onto mqttlb:
//
//	frontend, listen            one mqttlb.Proxy per frontend, serving its binds
//	bind ssl crt F [ca-file C] [verify required] [alpn L]
//	                            tls.NewListener with mqttlb.TLSConfig (relative paths from
//	                            the configuration file's directory; one crt per bind line)
//	bind accept-proxy           the listener reads a PROXY v1/v2 header first (go-proxyproto)
//	bind ws                     our extension: MQTT over WebSocket (wss:// with ssl crt), terminated here
//	send-proxy, send-proxy-v2, send-proxy-v2-ssl, send-proxy-v2-ssl-cn, proxy-v2-options
//	                            Pool.ProxyProtocol; the servers of one backend must agree
//	check-send-proxy            health.TCP{ProxyHeader: true}: a LOCAL header on checks
//	stats enable, uri, refresh, auth, realm, hide-version
//	                            the stats.Page of every frontend's proxy at the URI, and
//	                            its JSON at URI;json (also in mode tcp, where HAProxy
//	                            ignores them)
//	backend                     one mqttlb.Pool
//	balance, hash-type          Pool.Balancer from balance.ByName (hashing is always consistent)
//	server weight N             Backend.Weight (weight 0: takes no new connections)
//	server backup, maxconn      Backend.Backup, Backend.MaxConn; option allbackups: Pool.AllBackups
//	server disabled             the backend starts in maintenance
//	on-marked-down shutdown-sessions, on-marked-up shutdown-backup-sessions
//	                            Pool.ShutdownSessionsOnDown, ShutdownBackupSessionsOnUp: set on
//	                            any server, they apply to the whole backend
//	server source A[:P1-P2]     the pool dials that server from A, on a port in the range
//	stick-table + stick on      Pool.Sticky (whole client IDs: len is not applied; size, expire)
//	timeout connect             Pool.DialTimeout
//	retries                     Pool.Retries (a failed dial always moves to another server,
//	                            as with option redispatch)
//	tcp-request inspect-delay   Proxy.ConnectTimeout: the wait for the whole CONNECT
//	tcp-request content         rules evaluated on the CONNECT; mqtt_is_valid always holds, as
//	                            the proxy refuses anything that is not a valid CONNECT
//	use_backend, default_backend  mqttlb.Route per rule, Proxy default pool
//	timeout tunnel, client      Proxy.IdleTimeout, for clients with keep-alive 0 only: a client
//	                            with a keep-alive is cut after 1.5 x keep-alive of silence
//	option dontlog-normal       Proxy.DontLogNormal (frontend or defaults)
//	check, port, inter, ...     health.Monitor per backend and check settings: health.TCP, or
//	                            health.HTTP with option httpchk / http-check send / expect
//	timeout check               Monitor.Timeout
//	spread-checks               Monitor.Jitter
//
// "timeout server" and "timeout queue" have no counterpart: the relay ends
// idle connections on the client's side only, and there is no queue (a
// backend at its maxconn is skipped, not waited for).
package haproxyrun
