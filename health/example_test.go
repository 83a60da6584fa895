package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mqttlb/mqttlb/health"
)

// readiness answers like HiveMQ's /api/v1/health/readiness.
func readiness(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if status == "DOWN" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, `{"status":%q}`, status)
	}
}

// A CheckerFunc adds a health source of one's own, here a list of nodes
// taken out for maintenance, to the network checks.
func ExampleCheckerFunc() {
	maintenance := map[string]bool{"10.0.0.2:1883": true}
	notInMaintenance := health.CheckerFunc(func(ctx context.Context, addr string) error {
		if maintenance[addr] {
			return errors.New("in maintenance")
		}
		return nil
	})

	for _, addr := range []string{"10.0.0.1:1883", "10.0.0.2:1883"} {
		fmt.Println(addr, notInMaintenance.Check(context.Background(), addr))
	}
	// Output:
	// 10.0.0.1:1883 <nil>
	// 10.0.0.2:1883 in maintenance
}

// HTTP checks a HiveMQ-style readiness endpoint: 200 while the node is UP
// or DEGRADED, 503 when it is DOWN.
func ExampleHTTP() {
	for _, status := range []string{"UP", "DEGRADED", "DOWN"} {
		node := httptest.NewServer(readiness(status))
		check := health.HTTP{Path: "/api/v1/health/readiness"}
		err := check.Check(context.Background(), node.Listener.Addr().String())
		fmt.Printf("%s: healthy=%t unexpected status=%t\n", status, err == nil, errors.Is(err, health.ErrStatus))
		node.Close()
	}
	// Output:
	// UP: healthy=true unexpected status=false
	// DEGRADED: healthy=true unexpected status=false
	// DOWN: healthy=false unexpected status=true
}

// A Monitor takes a node out of the healthy set after Fall failed probes.
func ExampleMonitor() {
	node1 := httptest.NewServer(readiness("UP"))
	defer node1.Close()
	node2 := httptest.NewServer(readiness("DOWN"))
	defer node2.Close()
	names := map[string]string{
		node1.Listener.Addr().String(): "node1",
		node2.Listener.Addr().String(): "node2",
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mon := &health.Monitor{
		Checker:  health.All(health.TCP{}, health.HTTP{Path: "/api/v1/health/readiness"}),
		Interval: 10 * time.Millisecond,
		Fall:     2,
		OnEvent: func(ev health.Event) {
			fmt.Println(names[ev.Addr], ev.Old, "->", ev.New, "after", ev.Failures, "failures")
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	err := mon.Run(ctx, []string{node1.Listener.Addr().String(), node2.Listener.Addr().String()},
		func(healthy []string) {
			var list []string
			for _, addr := range healthy {
				list = append(list, names[addr])
			}
			fmt.Println("healthy:", list)
			if len(healthy) == 1 {
				cancel()
			}
		})
	fmt.Println(err)
	// Output:
	// healthy: [node1 node2]
	// node2 UP -> DOWN after 2 failures
	// healthy: [node1]
	// context canceled
}

// refusingBroker answers every MQTT 5 CONNECT with a CONNACK carrying
// reasonCode, as a broker does for a client it does not let in.
func refusingBroker(reasonCode byte) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			// A probe's CONNECT is short: a remaining length of one byte.
			header := make([]byte, 2)
			io.ReadFull(conn, header)
			io.ReadFull(conn, make([]byte, header[1]))
			conn.Write([]byte{0x20, 0x03, 0x00, reasonCode, 0x00}) // CONNACK, no properties
			io.Copy(io.Discard, conn)                              // until the probe closes
			conn.Close()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		<-done
	}
}

// MQTTPing completes CONNECT, CONNACK, PINGREQ, PINGRESP and DISCONNECT
// with a unique client ID. A broker that refuses the connection fails the
// check at once, with its CONNACK code.
func ExampleMQTTPing() {
	broker, stop := refusingBroker(0x87) // Not authorized
	defer stop()

	probe := health.MQTTPing{Version: 5, Username: "monitor", Password: "secret"}
	err := probe.Check(context.Background(), broker)
	var refused *health.ConnackError
	if errors.As(err, &refused) {
		fmt.Printf("refused: CONNACK reason code 0x%02X\n", refused.Code)
	}
	fmt.Println(errors.Is(err, health.ErrRefused))
	// Output:
	// refused: CONNACK reason code 0x87
	// true
}
