// Command hivemq-health reproduces HiveMQ's blog post "Using HAProxy to
// Load Balance HiveMQ with the New Health API" with mqttlb in HAProxy's
// place: MQTT clients connect to the proxy on port 1883, which spreads them
// over three broker nodes and asks each node's readiness endpoint,
// GET /api/v1/health/readiness, whether it may send clients there. A node
// whose endpoint stops answering 2xx or 3xx leaves the rotation after
// -fall failed checks, and comes back after -rise good ones.
//
// With no -server flags it runs the demo on its own: three embedded brokers
// joined into one cluster, each with a HiveMQ-style readiness endpoint on a
// port of its own. Commands on standard input play the blog's
// "docker container kill" and "docker container start":
//
//	kill N      crash node N: its clients are cut, its endpoint stops answering
//	start N     start node N again on the same ports
//	unready N   node N keeps running, its readiness answers 503 (maintenance)
//	ready N     its readiness answers 200 again
//	status      print each backend's state
//	help        print the commands
//	quit        shut down (so does Ctrl-C)
//
// Each health change is printed as it happens. With -server flags it runs
// in front of real HiveMQ nodes, checking the Health API on -check-port:
//
//	go run ./examples/hivemq-health
//	go run ./examples/hivemq-health -server 172.18.0.2:1883 -server 172.18.0.3:1883 -server 172.18.0.4:1883 -check-port 8889
//
// The blog's haproxy.cfg maps onto the flags as follows:
//
//	bind *:1883                                        -listen
//	server hivemq1 172.18.0.2:1883 check port 8889     -server hivemq1=172.18.0.2:1883 -check-port 8889
//	option httpchk                                     (always)
//	http-check send meth GET uri /api/v1/health/readiness  -check-path
//	inter, rise, fall                                  -inter, -rise, -fall
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
	"syscall"
	"time"

	"github.com/mqttlb/mqttlb/internal/cliflag"
	"github.com/mqttlb/mqttlb/internal/cluster"
)

// hivemqHealthPort is where HiveMQ serves its Health API.
const hivemqHealthPort = 8889

// config is the command line.
type config struct {
	listen    string
	servers   []string // [NAME=]ADDR; empty runs the embedded cluster
	checkPort int
	checkPath string
	interval  time.Duration
	rise      int
	fall      int
	// shutdownWindow spreads the closes of a down node's sessions; 0
	// leaves them open.
	shutdownWindow time.Duration
	grace          time.Duration
	logLevel       slog.Level
}

func parseFlags(args []string, errOut io.Writer) (config, error) {
	var cfg config
	var servers cliflag.List
	fs := flag.NewFlagSet("hivemq-health", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:1883", "`address` to accept MQTT clients on")
	fs.Var(&servers, "server", "HiveMQ node `[NAME=]ADDR` (MQTT port), repeatable; none runs three embedded brokers")
	fs.IntVar(&cfg.checkPort, "check-port", hivemqHealthPort, "`port` of the nodes' Health API, with -server")
	fs.StringVar(&cfg.checkPath, "check-path", cluster.ReadinessPath, "readiness `path` to GET")
	fs.DurationVar(&cfg.interval, "inter", time.Second, "`interval` between checks (HAProxy inter)")
	fs.IntVar(&cfg.rise, "rise", 2, "successful checks that bring a node back `n`")
	fs.IntVar(&cfg.fall, "fall", 3, "failed checks that take a node out `n`")
	fs.DurationVar(&cfg.shutdownWindow, "shutdown-sessions", 5*time.Second,
		"close a down node's sessions spread over this `window` (HAProxy on-marked-down shutdown-sessions); 0 keeps them")
	fs.DurationVar(&cfg.grace, "grace", 5*time.Second, "on quit, close live connections spread over this `duration`")
	verbose := fs.Bool("v", false, "log every connection on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.servers = servers
	cfg.logLevel = slog.LevelWarn
	if *verbose {
		cfg.logLevel = slog.LevelInfo
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hivemq-health:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hivemq-health: %v (is a broker on it? choose another with -listen)\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	// Reading standard input cannot be interrupted: its goroutine is left
	// behind when run returns, and the process exits.
	if err := run(ctx, cfg, ln, lines(os.Stdin), os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "hivemq-health:", err)
		os.Exit(1)
	}
}
