// Command emqx-sticky runs the EMQX guide "Load Balance EMQX Cluster with
// HAProxy" with mqttlb in HAProxy's place: the guide's haproxy.cfg, as
// written (haproxy.cfg next to this file, addresses on loopback), with
// its stick table on the MQTT client identifier and non-MQTT connections
// rejected.
//
// By default it starts the three EMQX nodes of the file as embedded
// brokers joined into one cluster, on the server addresses of the file
// (127.0.0.1:11883-11885), and the proxy on the file's bind,
// 127.0.0.1:1883. With -f and no -embedded it runs any configuration in
// front of real brokers:
//
//	go run ./examples/emqx-sticky
//	go run ./examples/emqx-sticky -f /etc/haproxy/haproxy.cfg
//
// A client reconnecting with the same client ID lands on the node that
// holds its session. SIGHUP reloads the file, SIGINT or SIGTERM stops.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/internal/haproxyrun"
)

// shippedConfig is haproxy.cfg, the guide's configuration.
//
//go:embed haproxy.cfg
var shippedConfig []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], hup, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "emqx-sticky:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs until ctx ends.
func run(ctx context.Context, args []string, hup <-chan os.Signal, logOut io.Writer) error {
	flags := flag.NewFlagSet("emqx-sticky", flag.ContinueOnError)
	path := flags.String("f", "", "HAProxy configuration `file`; empty runs the shipped haproxy.cfg")
	embedded := flags.Bool("embedded", false, "start embedded brokers on the file's server addresses (always with the shipped file)")
	grace := flags.Duration("grace", 10*time.Second, "on SIGINT/SIGTERM, close live connections spread over this `duration`")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	if *path == "" {
		*embedded = true
		*path = filepath.Join(os.TempDir(), fmt.Sprintf("emqx-sticky-%d.cfg", os.Getpid()))
		if err := os.WriteFile(*path, shippedConfig, 0o600); err != nil {
			return err
		}
		defer os.Remove(*path)
	}
	if *embedded {
		c, err := startBrokers(*path, logger)
		if err != nil {
			return err
		}
		defer c.Close()
	}
	r := haproxyrun.New(*path, logger)
	if err := r.Start(); err != nil {
		return err
	}
	return r.ServeSignals(ctx, hup, *grace)
}

// startBrokers starts one embedded broker on each server address of the
// configuration, joined into one cluster as EMQX nodes are.
func startBrokers(path string, logger *slog.Logger) (*cluster.Cluster, error) {
	cfg, err := haproxycfg.ParseFile(path)
	if err != nil {
		return nil, err
	}
	var addrs, health []string
	for _, be := range cfg.Backends {
		for _, s := range be.Servers {
			addrs = append(addrs, s.Addr)
			health = append(health, cluster.DisabledAddr)
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("the configuration has no server to start a broker on")
	}
	c, err := cluster.Start(cluster.Config{MQTTAddrs: addrs, HealthAddrs: health, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("embedded brokers on the file's server addresses: %w", err)
	}
	for _, n := range c.Nodes() {
		logger.Info("embedded broker", "name", n.Name(), "addr", n.Addr())
	}
	return c, nil
}
