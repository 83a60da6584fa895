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
// How the configuration maps onto mqttlb (not yet: ssl binds, accept-proxy
// and send-proxy*, which are reported as errors, and the stats page, which
// is skipped with a warning):
//
//	frontend, listen            one mqttlb.Proxy per frontend, serving its binds
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
//	check, port, inter, ...     health.Monitor per backend and check settings: health.TCP, or
//	                            health.HTTP with option httpchk / http-check send / expect
//	timeout check               Monitor.Timeout
//	spread-checks               Monitor.Jitter
//
// "timeout server" and "timeout queue" have no counterpart: the relay ends
// idle connections on the client's side only, and there is no queue (a
// backend at its maxconn is skipped, not waited for).
package haproxyrun
