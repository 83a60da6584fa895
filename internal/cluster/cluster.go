// Package cluster runs a small cluster of in-process MQTT brokers for demos
// and end-to-end tests.
//
// Each node is a mochi-mqtt broker (github.com/mochi-mqtt/server/v2) that
// accepts every client and every topic. The nodes are joined the way a HiveMQ
// or EMQX cluster is: a message published on any node reaches the subscribers
// on every node, exactly once, and retained messages are visible on every
// node. Each node also serves a HiveMQ-style readiness endpoint, and can be
// killed, restarted on the same address, or put into maintenance.
//
//	c, err := cluster.Start(cluster.Config{}) // three nodes on free loopback ports
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	addrs := c.Addrs()             // MQTT host:port of each node
//	node := c.Nodes()[1]
//	node.SetReady(false)           // GET /api/v1/health/readiness answers 503
//	node.Stop()                    // crash: every client of node2 is cut at once
//	node.Start()                   // back on the same port
//
// State is in memory only. Retained messages are copied from a running peer
// when a node starts, as a joining cluster member would; sessions live on the
// node a client last connected to and are lost when that node stops. Shared
// subscriptions are shared per node, not across the cluster.
package cluster

import (
	"errors"
	"fmt"
	"log/slog"
)

// ErrConfig reports a Config that cannot be started.
var ErrConfig = errors.New("cluster: invalid config")

// ErrClosed is returned by [Node.Start] after [Cluster.Close].
var ErrClosed = errors.New("cluster: closed")

// DefaultNodes is the number of nodes when neither Config.Nodes nor
// Config.MQTTAddrs says otherwise.
const DefaultNodes = 3

// DisabledAddr in Config.HealthAddrs turns a node's readiness endpoint off.
const DisabledAddr = "-"

const loopbackAnyPort = "127.0.0.1:0"

// Config describes a cluster. The zero value starts three nodes on free
// loopback ports, each with a readiness endpoint.
type Config struct {
	// Nodes is the number of brokers. 0 means len(MQTTAddrs), or
	// DefaultNodes when that is empty too.
	Nodes int
	// MQTTAddrs are the MQTT listen addresses (host:port), one per node.
	// Empty means "127.0.0.1:0" for each: a free port, chosen at the first
	// start and kept across Stop and Start.
	MQTTAddrs []string
	// HealthAddrs are the HTTP readiness listen addresses, one per node.
	// Empty means "127.0.0.1:0" for each; DisabledAddr ("-") turns a node's
	// endpoint off.
	HealthAddrs []string
	// Logger receives the cluster's lifecycle messages, and mochi-mqtt's
	// own messages at Debug level (errors stay errors). nil means
	// slog.Default().
	Logger *slog.Logger
}

// Cluster is a set of joined brokers. Its methods are safe for concurrent
// use.
type Cluster struct {
	nodes []*Node
}

// Start starts every node of cfg and returns when all of them accept
// connections. On error nothing is left running.
func Start(cfg Config) (*Cluster, error) {
	n := cfg.Nodes
	if n == 0 {
		n = len(cfg.MQTTAddrs)
	}
	if n == 0 {
		n = DefaultNodes
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %d nodes", ErrConfig, n)
	}
	mqttAddrs, err := addrsFor(n, cfg.MQTTAddrs, "MQTTAddrs")
	if err != nil {
		return nil, err
	}
	healthAddrs, err := addrsFor(n, cfg.HealthAddrs, "HealthAddrs")
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	c := &Cluster{nodes: make([]*Node, n)}
	for i := range c.nodes {
		name := fmt.Sprintf("node%d", i+1)
		c.nodes[i] = newNode(c, name, mqttAddrs[i], healthAddrs[i], logger.With("node", name))
	}
	for _, node := range c.nodes {
		if err := node.Start(); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	return c, nil
}

// addrsFor returns one address per node: the configured ones, or a free
// loopback port for each when none are configured.
func addrsFor(n int, configured []string, field string) ([]string, error) {
	if len(configured) == 0 {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = loopbackAnyPort
		}
		return addrs, nil
	}
	if len(configured) != n {
		return nil, fmt.Errorf("%w: %d %s for %d nodes", ErrConfig, len(configured), field, n)
	}
	return configured, nil
}

// Nodes returns the nodes in order: node1, node2, ...
func (c *Cluster) Nodes() []*Node {
	return append([]*Node(nil), c.nodes...)
}

// Addrs returns the MQTT address of each node, in node order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Close stops every node for good and waits until all their goroutines have
// ended. Stopped nodes cannot be started again.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.close())
	}
	return errors.Join(errs...)
}
