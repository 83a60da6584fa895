package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/health"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// run serves MQTT clients on ln until ctx ends or a "quit" command comes,
// then closes the live connections over cfg.grace and returns once every
// goroutine it started has ended. It closes ln.
func run(ctx context.Context, cfg config, ln net.Listener, commands <-chan string, out io.Writer, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &demo{out: out}

	var checker health.Checker
	if len(cfg.servers) == 0 {
		c, err := cluster.Start(cluster.Config{Nodes: 3, Logger: logger})
		if err != nil {
			ln.Close()
			return fmt.Errorf("embedded cluster: %w", err)
		}
		defer c.Close()
		d.nodes = c.Nodes()
		checker = nodeReadiness(d.nodes, cfg.checkPath)
		for _, n := range d.nodes {
			d.backends = append(d.backends, &balance.Backend{Name: n.Name(), Addr: n.Addr()})
		}
	} else {
		checker = health.HTTP{Port: cfg.checkPort, Path: cfg.checkPath}
		for _, s := range cfg.servers {
			name, addr, ok := strings.Cut(s, "=")
			if !ok {
				name, addr = "", s
			}
			d.backends = append(d.backends, &balance.Backend{Name: name, Addr: addr})
		}
	}

	d.pool = &mqttlb.Pool{
		Name:                   "mqtt_backend",
		Logger:                 logger,
		ShutdownSessionsOnDown: cfg.shutdownWindow > 0,
		ShutdownWindow:         cfg.shutdownWindow,
	}
	d.pool.SetBackends(d.backends)
	proxy := &mqttlb.Proxy{Default: d.pool, Logger: logger}
	mon := &health.Monitor{
		Checker:  checker,
		Interval: cfg.interval,
		Rise:     cfg.rise,
		Fall:     cfg.fall,
		Logger:   logger,
		OnEvent:  d.healthChanged,
	}

	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ln) }()
	monitored := make(chan error, 1)
	go func() { monitored <- mon.Run(ctx, d.pool.Addrs(), d.pool.SetHealthy) }()
	d.intro(ln.Addr().String(), cfg)

	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-served:
			served <- err
			break loop
		case line, ok := <-commands:
			if !ok {
				commands = nil // no more input; serve until a signal
				continue
			}
			if d.command(line) {
				break loop
			}
		}
	}

	d.printf("shutting down: closing %d connections over %v\n", d.active(), cfg.grace)
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), cfg.grace)
	defer stop()
	shutdownErr := proxy.Shutdown(sctx)
	if serveErr := <-served; !errors.Is(serveErr, mqttlb.ErrProxyClosed) {
		err = serveErr
	}
	<-monitored
	return errors.Join(err, shutdownErr)
}

// nodeReadiness checks each embedded node's readiness endpoint. A HiveMQ
// node serves it on port 8889 of its own host, which health.HTTP{Port:
// 8889} reaches; the embedded nodes share one host, so each has a port of
// its own, looked up here from the node's MQTT address.
func nodeReadiness(nodes []*cluster.Node, path string) health.Checker {
	healthAddr := make(map[string]string, len(nodes))
	for _, n := range nodes {
		healthAddr[n.Addr()] = n.HealthAddr()
	}
	check := health.HTTP{Path: path}
	return health.CheckerFunc(func(ctx context.Context, addr string) error {
		return check.Check(ctx, healthAddr[addr])
	})
}

// lines sends the lines read from r until it ends.
func lines(r io.Reader) <-chan string {
	ch := make(chan string)
	go scanLines(r, ch)
	return ch
}

func scanLines(r io.Reader, ch chan<- string) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		ch <- sc.Text()
	}
}

// demo is the state the commands and health events work on.
type demo struct {
	mu  sync.Mutex // serializes output
	out io.Writer

	nodes    []*cluster.Node // nil with -server
	backends []*balance.Backend
	pool     *mqttlb.Pool
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

func (d *demo) active() int64 {
	var n int64
	for _, b := range d.backends {
		n += b.Active()
	}
	return n
}

// healthChanged is the monitor's OnEvent: it marks the backend in the
// pool, keeping the probe's error for "status", and prints the change.
func (d *demo) healthChanged(ev health.Event) {
	name := ev.Addr
	for _, b := range d.backends {
		if b.Addr == ev.Addr {
			name = b.ID()
		}
	}
	stamp := time.Now().Format("15:04:05.000")
	if ev.New == health.Up {
		d.pool.MarkUp(ev.Addr)
		d.printf("%s %s %s %v -> %v after %d good checks\n", stamp, name, ev.Addr, ev.Old, ev.New, ev.Successes)
		return
	}
	d.pool.MarkDown(ev.Addr, ev.Err)
	closing := ""
	if d.pool.ShutdownSessionsOnDown {
		for _, st := range d.pool.BackendStatuses() {
			if st.Backend.Addr == ev.Addr && st.Sessions > 0 {
				closing = fmt.Sprintf(" (closing its %d sessions over %v)", st.Sessions, d.pool.ShutdownWindow)
			}
		}
	}
	d.printf("%s %s %s %v -> %v after %d failed checks: %v%s\n", stamp, name, ev.Addr, ev.Old, ev.New, ev.Failures, ev.Err, closing)
}

const commandHelp = `commands:
  kill N      crash node N (as if its process crashed)
  start N     start node N again (on the same address)
  unready N   node N runs on, its readiness answers 503
  ready N     its readiness answers 200 again
  status      each backend's state
  quit        shut down
`

// command runs one line of input and reports whether it was "quit".
func (d *demo) command(line string) (quit bool) {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch verb {
	case "":
	case "quit", "exit":
		return true
	case "help":
		d.printf("%s", commandHelp)
	case "status":
		d.status()
	case "kill", "start", "unready", "ready":
		node, err := d.node(strings.TrimSpace(arg))
		if err != nil {
			d.printf("%s: %v\n", verb, err)
			return false
		}
		switch verb {
		case "kill":
			err = node.Stop()
		case "start":
			err = node.Start()
		case "unready":
			node.SetReady(false)
		case "ready":
			node.SetReady(true)
		}
		if err != nil {
			d.printf("%s %s: %v\n", verb, node.Name(), err)
			return false
		}
		d.printf("%s %s: done; the health checks will notice\n", verb, node.Name())
	default:
		d.printf("unknown command %q\n%s", verb, commandHelp)
	}
	return false
}

// node returns the embedded node numbered arg, from 1.
func (d *demo) node(arg string) (*cluster.Node, error) {
	if d.nodes == nil {
		return nil, errors.New("only the embedded cluster's nodes can be controlled here")
	}
	i, err := strconv.Atoi(arg)
	if err != nil || i < 1 || i > len(d.nodes) {
		return nil, fmt.Errorf("give a node number from 1 to %d", len(d.nodes))
	}
	return d.nodes[i-1], nil
}

func (d *demo) status() {
	var sb strings.Builder
	for _, st := range d.pool.BackendStatuses() {
		health := "UP"
		if st.Down {
			health = "DOWN"
		}
		fmt.Fprintf(&sb, "  %-8s %-21s %-6s %-5s %4d clients", st.Backend.ID(), st.Backend.Addr, st.State, health, st.Backend.Active())
		if !st.Since.IsZero() {
			fmt.Fprintf(&sb, "  since %s", st.Since.Format("15:04:05"))
		}
		if st.Err != nil {
			fmt.Fprintf(&sb, "  %v", st.Err)
		}
		sb.WriteByte('\n')
	}
	d.printf("%s", sb.String())
}

func (d *demo) intro(listen string, cfg config) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "mqttlb in front of %d nodes, MQTT on %s, readiness checked every %v (rise %d, fall %d)\n",
		len(d.backends), listen, cfg.interval, cfg.rise, cfg.fall)
	for i, b := range d.backends {
		check := fmt.Sprintf("port %d", cfg.checkPort)
		if d.nodes != nil {
			check = d.nodes[i].HealthAddr()
		}
		fmt.Fprintf(&sb, "  %-8s %-21s readiness http://%s%s\n", b.ID(), b.Addr, hostOf(b.Addr, check), cfg.checkPath)
	}
	if d.nodes != nil {
		host, port, _ := net.SplitHostPort(listen)
		fmt.Fprintf(&sb, "try: mosquitto_sub -h %s -p %s -t 'demo/#' -v\n%s", host, port, commandHelp)
	}
	d.printf("%s", sb.String())
}

// hostOf returns the readiness endpoint's host:port for display.
func hostOf(addr, check string) string {
	if p, ok := strings.CutPrefix(check, "port "); ok {
		host, _, _ := net.SplitHostPort(addr)
		return net.JoinHostPort(host, p)
	}
	return check
}
