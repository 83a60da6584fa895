// Command haproxy-like is an MQTT load balancer in one program: what
// operators run HAProxy for in front of EMQX, HiveMQ, Mosquitto or VerneMQ
// clusters, built on the mqttlb library.
//
// With no flags it starts an embedded demo that needs nothing installed:
// three in-process brokers joined into one cluster (a message published on
// any node reaches subscribers on every node), and the proxy on
// 127.0.0.1:1883 balancing over them.
//
//	go run ./examples/haproxy-like
//	go run ./examples/haproxy-like -bind :1883 -server node1=10.0.0.1:1883 -server node2=10.0.0.2:1883 -balance leastconn
//	go run ./examples/haproxy-like -f haproxy.cfg     # HAProxy's own configuration; SIGHUP reloads it
//	go run ./examples/haproxy-like -c -f haproxy.cfg  # check the file, exit 0 or 1
//	go run ./examples/haproxy-like -bind-tls :8883 -tls-cert server.pem -tls-ca ca.pem -tls-verify required \
//		-send-proxy-v2 -proxy-v2-options ssl,cert-cn -server emqx1=10.0.0.1:1883
//	go run ./examples/haproxy-like -bind-ws :8083 -bind-wss :8084 -tls-cert server.pem # MQTT over WebSocket
//
// The stats page is on http://127.0.0.1:8404/stats (-stats), with the same
// model as JSON on /stats.json and Prometheus metrics on /metrics. Given
// -admin-user and -admin-pass, /admin takes POSTed runtime changes:
//
//	curl -u ops:secret -d action=state -d pool=brokers -d backend=node1 -d state=drain http://127.0.0.1:8404/admin
//
// SIGINT or SIGTERM closes the live connections spread over ten seconds,
// so that devices reconnect elsewhere in a trickle, not a storm.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/cliflag"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/haproxyrun"
	"github.com/mqttlb/mqttlb/mqttlb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "haproxy-like:", err)
		os.Exit(1)
	}
}

func run() error {
	var binds, servers cliflag.List
	flag.Var(&binds, "bind", "`address` to accept MQTT clients on, repeatable (default 127.0.0.1:1883)")
	flag.Var(&servers, "server", "backend `[NAME=]ADDR`, repeatable or comma-separated; replaces the embedded demo brokers")
	balanceName := flag.String("balance", "leastconn", "balancing `algorithm`: roundrobin, static-rr, leastconn, first, source, random, hash")
	grace := flag.Duration("grace", 10*time.Second, "on SIGINT/SIGTERM, close live connections spread over this `duration`")
	verbose := flag.Bool("v", false, "debug logs")
	configFile := flag.String("f", "", "run this HAProxy configuration `file` (see internal/haproxyrun for what maps to what); SIGHUP reloads it")
	checkOnly := flag.Bool("c", false, "with -f: check the configuration, print every problem as file:line: message, exit 0 or 1")
	logFormat := flag.String("log-format", "text", "log `format`: text or json (one line per connection end)")
	var sc statsConfig
	flag.StringVar(&sc.addr, "stats", "127.0.0.1:8404", "`address` of the stats page (/stats, /stats.json, /metrics, /admin); empty for none")
	flag.DurationVar(&sc.refresh, "stats-refresh", 10*time.Second, "stats page refresh `interval`")
	flag.StringVar(&sc.auth.User, "stats-user", "", "basic-auth `user` of the stats page and JSON; empty for none")
	flag.StringVar(&sc.auth.Password, "stats-pass", "", "basic-auth `password` of the stats page and JSON")
	flag.BoolVar(&sc.hideVersion, "stats-hide-version", false, "leave the version off the stats page")
	flag.StringVar(&sc.admin.User, "admin-user", "", "basic-auth `user` of /admin; /admin is off without it")
	flag.StringVar(&sc.admin.Password, "admin-pass", "", "basic-auth `password` of /admin")
	edge := registerEdgeFlags()
	flag.BoolVar(&edge.reusePort, "reuseport", false, "listen with SO_REUSEPORT, so that several processes share the -bind addresses (Linux)")
	logFlush := flag.Duration("log-flush", time.Second, "write buffered log lines at least this often; 0 writes each line at once")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this `address` (e.g. 127.0.0.1:6060); off when empty")
	dontLogNormal := flag.Bool("dontlog-normal", false, "log only connections that were refused, failed, timed out or retried (HAProxy \"option dontlog-normal\")")
	ws := registerWebSocketFlags()
	flag.Parse()
	if *checkOnly {
		if *configFile == "" {
			return errors.New("-c needs -f <file>")
		}
		os.Exit(haproxyrun.Check(*configFile, os.Stdout))
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	var logOut io.Writer = os.Stderr
	if *logFlush > 0 {
		buffered := newLogBuffer(os.Stderr, *logFlush)
		defer buffered.Close()
		logOut = buffered
	}
	var logger *slog.Logger
	switch *logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	case "json":
		logger = slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	default:
		return fmt.Errorf("-log-format %q: want text or json", *logFormat)
	}
	if sc.admin.User != "" && sc.admin.Password == "" {
		return errors.New("-admin-user needs -admin-pass")
	}
	if *configFile != "" {
		return runConfigFile(*configFile, *grace, logger)
	}
	if len(binds) == 0 {
		binds = cliflag.List{"127.0.0.1:1883"}
	}

	bal, err := balance.ByName(*balanceName)
	if err != nil {
		return err
	}

	demo := len(servers) == 0
	var backends []*balance.Backend
	if demo {
		c, err := cluster.Start(cluster.Config{Nodes: 3, Logger: logger})
		if err != nil {
			return fmt.Errorf("embedded demo cluster: %w", err)
		}
		defer c.Close()
		for _, n := range c.Nodes() {
			backends = append(backends, &balance.Backend{Name: n.Name(), Addr: n.Addr()})
		}
	} else {
		for _, s := range servers {
			name, addr, ok := strings.Cut(s, "=")
			if !ok {
				name, addr = "", s
			}
			backends = append(backends, &balance.Backend{Name: name, Addr: addr})
		}
	}

	sendProxy, err := edge.proxyOptions()
	if err != nil {
		return err
	}
	pool := &mqttlb.Pool{Name: "brokers", Balancer: bal, Logger: logger, ProxyProtocol: sendProxy}
	pool.SetBackends(backends)
	proxy := &mqttlb.Proxy{Default: pool, Logger: logger, DontLogNormal: *dontLogNormal}

	listeners, err := edge.listenAll(binds, logger)
	if err != nil {
		return err
	}
	wsListeners, err := ws.listenAll(edge, logger)
	if err != nil {
		closeAll(listeners)
		return err
	}
	var statsLn net.Listener
	if sc.addr != "" {
		if statsLn, err = net.Listen("tcp", sc.addr); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			for _, l := range wsListeners {
				l.Close()
			}
			return fmt.Errorf("stats listen: %w (choose another with -stats, or -stats '' for none)", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	if *pprofAddr != "" {
		g.Go(func() error { return servePprof(gctx, *pprofAddr) })
	}
	for _, ln := range listeners {
		g.Go(func() error {
			if err := proxy.Serve(ln); !errors.Is(err, mqttlb.ErrProxyClosed) {
				return err
			}
			return nil
		})
	}
	if statsLn != nil {
		g.Go(func() error { return serveStats(gctx, statsLn, statsHandler(proxy, sc, logger)) })
		logger.Info("stats page", "url", "http://"+statsLn.Addr().String()+"/stats", "admin", sc.admin.User != "")
	}
	for _, ln := range listeners {
		logger.Info("listening", "addr", ln.Addr().String())
	}
	for _, wl := range wsListeners {
		serveWebSocket(g, proxy, wl, logger)
	}
	for _, b := range backends {
		logger.Info("backend", "name", b.ID(), "addr", b.Addr)
	}
	if demo {
		printDemoHelp(listeners[0].Addr().String(), backends)
		if statsLn != nil {
			fmt.Printf("Statistics: http://%s/stats (JSON /stats.json, Prometheus /metrics)\n\n", statsLn.Addr())
		}
	}

	<-gctx.Done()
	logger.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	// A shutdown that overruns its grace by more than a few seconds is
	// stuck: say where, then leave, as HAProxy's hard-stop-after does.
	hardStop := time.AfterFunc(*grace+3*time.Second, func() {
		logger.Error("shutdown overran its grace; goroutines follow, exiting")
		if b, ok := logOut.(*logBuffer); ok {
			b.flush()
		}
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		os.Exit(2)
	})
	defer hardStop.Stop()
	shutdownErr := proxy.Shutdown(sctx)
	if err := g.Wait(); err != nil {
		return err
	}
	return shutdownErr
}

func printDemoHelp(proxyAddr string, backends []*balance.Backend) {
	host, port, _ := net.SplitHostPort(proxyAddr)
	fmt.Printf(`
mqttlb demo: three embedded MQTT brokers joined into one cluster, behind the proxy on %s.
`, proxyAddr)
	for _, b := range backends {
		fmt.Printf("  %s  %s\n", b.ID(), b.Addr)
	}
	fmt.Printf(`
Try it (each client lands on a node of its own; messages reach every node):
  mosquitto_sub -h %[1]s -p %[2]s -t 'demo/#' -v
  mosquitto_pub -h %[1]s -p %[2]s -t demo/hello -m 'hello through mqttlb'
Every connection's end is logged on stderr. Ctrl-C stops.

`, host, port)
}

// runConfigFile runs the configuration at path until SIGINT or SIGTERM,
// reloading it on SIGHUP.
func runConfigFile(path string, grace time.Duration, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	r := haproxyrun.New(path, logger)
	if err := r.Start(); err != nil {
		return err
	}
	return r.ServeSignals(ctx, hup, grace)
}
