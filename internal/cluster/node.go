package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
)

// Node is one broker of a [Cluster]. Its methods are safe for concurrent use.
type Node struct {
	name    string
	cluster *Cluster
	log     *slog.Logger
	ready   atomic.Bool

	// running is the live broker, nil while the node is stopped. Peers read
	// it without locking to forward messages.
	running atomic.Pointer[instance]

	mu         sync.Mutex // serialises Start, Stop and close; guards the fields below
	addr       string     // resolved at the first start, then reused
	healthAddr string     // "" when the endpoint is disabled
	closed     bool
}

// instance is one life of a node, from Start to Stop. mochi-mqtt servers
// cannot be served again once closed, so every Start builds a new one.
type instance struct {
	server   *mqtt.Server
	inline   *mqtt.Client // injects messages forwarded by peers
	listener *crashListener
	health   *http.Server
	healthWG sync.WaitGroup
}

func newNode(c *Cluster, name, addr, healthAddr string, logger *slog.Logger) *Node {
	if healthAddr == DisabledAddr {
		healthAddr = ""
	}
	return &Node{name: name, cluster: c, log: logger, addr: addr, healthAddr: healthAddr}
}

// Name returns the node's name: "node1", "node2", ...
func (n *Node) Name() string { return n.name }

// Addr returns the node's MQTT address, host:port. It does not change across
// Stop and Start.
func (n *Node) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// HealthAddr returns the address of the node's readiness endpoint, host:port,
// or "" when it is disabled.
func (n *Node) HealthAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.healthAddr
}

// SetReady sets what the readiness endpoint answers while the broker keeps
// running: 200 when ready, 503 when not (HiveMQ-style maintenance). Start
// makes a node ready again.
func (n *Node) SetReady(ready bool) { n.ready.Store(ready) }

// Clients returns the number of clients connected to the node now.
func (n *Node) Clients() int {
	inst := n.running.Load()
	if inst == nil {
		return 0
	}
	count := 0
	for _, cl := range inst.server.Clients.GetAll() {
		if isConnected(cl) {
			count++
		}
	}
	return count
}

// HasClient reports whether a client with this ID is connected to the node
// now (a session kept for a disconnected client does not count).
func (n *Node) HasClient(id string) bool {
	inst := n.running.Load()
	if inst == nil {
		return false
	}
	cl, ok := inst.server.Clients.Get(id)
	return ok && isConnected(cl)
}

// runningPeers yields every other node of the cluster that is running, with
// its live broker.
func (n *Node) runningPeers(yield func(*Node, *instance) bool) {
	for _, peer := range n.cluster.nodes {
		if peer == n {
			continue
		}
		if inst := peer.running.Load(); inst != nil && !yield(peer, inst) {
			return
		}
	}
}

func isConnected(cl *mqtt.Client) bool {
	return !cl.Net.Inline && !cl.Closed()
}

// Start starts a stopped node on its address, with an empty broker that takes
// the cluster's retained messages from a running peer. Starting a running
// node does nothing.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.running.Load() != nil {
		return nil
	}

	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", n.name, err)
	}
	var healthLn net.Listener
	if n.healthAddr != "" {
		if healthLn, err = net.Listen("tcp", n.healthAddr); err != nil {
			ln.Close()
			return fmt.Errorf("cluster: %s health: %w", n.name, err)
		}
		n.healthAddr = healthLn.Addr().String()
	}
	n.addr = ln.Addr().String()

	inst, err := n.newInstance(ln)
	if err != nil {
		ln.Close()
		if healthLn != nil {
			healthLn.Close()
		}
		return err
	}
	// From here on peers forward into the new broker, so nothing published
	// while the retained messages are copied is missed.
	n.running.Store(inst)
	n.copyRetained(inst.server)
	if err := inst.server.Serve(); err != nil {
		n.running.Store(nil)
		inst.server.Close()
		if healthLn != nil {
			healthLn.Close()
		}
		return fmt.Errorf("cluster: %s: %w", n.name, err)
	}
	n.ready.Store(true)
	if healthLn != nil {
		inst.serveHealth(healthLn, n)
	}
	n.log.Info("cluster node started", "mqtt", n.addr, "health", n.healthAddr)
	return nil
}

func (n *Node) newInstance(ln net.Listener) (*instance, error) {
	server := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(demoteHandler{n.log.Handler()}),
	})
	err := errors.Join(
		server.AddHook(new(auth.AllowHook), nil),
		server.AddHook(&bridge{node: n}, nil),
	)
	listener := newCrashListener(n.name, ln)
	if err == nil {
		err = server.AddListener(listener)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", n.name, err)
	}
	inline, _ := server.Clients.Get(mqtt.InlineClientId)
	return &instance{server: server, inline: inline, listener: listener}, nil
}

// Stop kills the node as a crash would: the MQTT listener and every client
// connection close at once, without DISCONNECT packets, and the readiness
// endpoint stops answering. The clients' wills are published. Stopping a
// stopped node does nothing.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked()
}

func (n *Node) stopLocked() error {
	inst := n.running.Swap(nil)
	if inst == nil {
		return nil
	}
	var err error
	if inst.health != nil {
		err = inst.health.Close()
		inst.healthWG.Wait()
	}
	// Close ends in crashListener.Close, which cuts the connections, and
	// then waits for mochi's client goroutines.
	err = errors.Join(err, inst.server.Close())
	inst.listener.wait()
	n.log.Info("cluster node stopped")
	return err
}

func (n *Node) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	return n.stopLocked()
}
