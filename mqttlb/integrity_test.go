package mqttlb

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/mosquitto"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// restartableProxy serves a pool on one fixed address across reloads.
type restartableProxy struct {
	t      *testing.T
	addr   string // fixed by the first start
	pool   *Pool
	proxy  *Proxy
	served chan error
}

func startRestartableProxy(t *testing.T, pool *Pool) *restartableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &restartableProxy{t: t, addr: ln.Addr().String(), pool: pool}
	r.start(ln)
	return r
}

func (r *restartableProxy) start(ln net.Listener) {
	r.proxy = &Proxy{Default: r.pool, Logger: quietLogger()}
	r.served = make(chan error, 1)
	go func(p *Proxy) { r.served <- p.Serve(ln) }(r.proxy)
}

// reload shuts the running proxy down, pacing its closes over window,
// and starts a new one on the same address.
func (r *restartableProxy) reload(window time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	r.proxy.Shutdown(ctx)
	require.ErrorIs(r.t, <-r.served, ErrProxyClosed)
	ln, err := net.Listen("tcp", r.addr)
	require.NoError(r.t, err)
	r.start(ln)
}

func (r *restartableProxy) close() {
	r.proxy.Close()
	<-r.served
}

// publishQoS1 is a bare MQTT 3.1.1 publisher: one QoS 1 PUBLISH at a
// time, each waiting for its PUBACK (§3.3, §3.4).
type publishQoS1 struct {
	conn net.Conn
	id   uint16
}

func (p *publishQoS1) connect(addr, clientID string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(connectWire(4, clientID, 60)); err != nil {
		conn.Close()
		return err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[3] != 0 {
		conn.Close()
		return fmt.Errorf("CONNACK % x: %v", ack, err)
	}
	p.conn = conn
	return nil
}

// publish sends payload on topic and reports whether the broker
// acknowledged it.
func (p *publishQoS1) publish(topic, payload string) bool {
	p.id++
	if p.id == 0 {
		p.id = 1
	}
	rl := 2 + len(topic) + 2 + len(payload)
	pkt := []byte{0x32, byte(rl), 0, byte(len(topic))}
	pkt = append(pkt, topic...)
	pkt = append(pkt, byte(p.id>>8), byte(p.id))
	pkt = append(pkt, payload...)
	p.conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := p.conn.Write(pkt); err != nil {
		return false
	}
	ack := make([]byte, 4)
	_, err := io.ReadFull(p.conn, ack)
	return err == nil && ack[0] == 0x40 && ack[2] == byte(p.id>>8) && ack[3] == byte(p.id)
}

// TestAcknowledgedMessagesSurviveBrokerAndProxyRestarts: 50 publishers
// send numbered QoS 1 messages through the proxy while the Mosquitto
// broker (persistence on) is restarted and the proxy is reloaded; every
// message the broker acknowledged reaches the persistent-session
// subscriber, in order per publisher.
//
// The broker is stopped with SIGTERM, not killed: Mosquitto writes its
// database on shutdown and every autosave_interval, not per message, so
// after a SIGKILL it loses messages it had acknowledged and not yet
// delivered (tried: they never arrive), whatever the proxy does.
func TestAcknowledgedMessagesSurviveBrokerAndProxyRestarts(t *testing.T) {
	broker := mosquitto.Start(t, mosquitto.Config{Persistence: true,
		ExtraConfig: []string{"max_queued_messages 100000"}})
	pool := &Pool{Name: "mosquitto", FailWindow: 50 * time.Millisecond, Logger: quietLogger()}
	pool.SetBackends(backendsFor(broker.Addr()))
	rp := startRestartableProxy(t, pool)
	defer rp.close()

	const publishers = 50
	var mu sync.Mutex
	received := make([][]int, publishers) // per publisher, first deliveries in order
	seen := make([]map[int]bool, publishers)
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	opts := paho311.NewClientOptions().AddBroker("tcp://" + rp.addr).SetClientID("integrity-sub").
		SetProtocolVersion(4).SetCleanSession(false).SetAutoReconnect(true).
		SetMaxReconnectInterval(100 * time.Millisecond).SetConnectRetry(true).SetOrderMatters(true).
		SetConnectTimeout(2 * time.Second)
	sub := testnet.Connect311(t, opts)
	tok := sub.Subscribe("seq/#", 1, func(_ paho311.Client, m paho311.Message) {
		var pub, seq int
		if _, err := fmt.Sscanf(string(m.Payload()), "%d %d", &pub, &seq); err != nil || pub >= publishers {
			return
		}
		mu.Lock()
		if !seen[pub][seq] {
			seen[pub][seq] = true
			received[pub] = append(received[pub], seq)
		}
		mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	// Each publisher sends about 20 messages/s (1,000/s in all) for 4 s.
	acked := make([][]int, publishers)
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Go(func() {
			var p publishQoS1
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			defer func() {
				if p.conn != nil {
					p.conn.Close()
				}
			}()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if p.conn == nil {
					if p.connect(rp.addr, fmt.Sprintf("integrity-pub-%d", i)) != nil {
						failures.Add(1)
						continue
					}
				}
				if p.publish(fmt.Sprintf("seq/%d", i), fmt.Sprintf("%d %d", i, seq)) {
					acked[i] = append(acked[i], seq)
				} else {
					failures.Add(1)
					p.conn.Close()
					p.conn = nil
				}
			}
		})
	}

	time.Sleep(time.Second)
	broker.Restart() // SIGTERM (the database is saved), then start again
	time.Sleep(time.Second)
	rp.reload(500 * time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	total := 0
	for _, a := range acked {
		total += len(a)
	}
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for i, a := range acked {
			for _, seq := range a {
				if !seen[i][seq] {
					n++
				}
			}
		}
		return n
	}
	testnet.WaitFor(t, 15*time.Second, func() bool { return missing() == 0 }, "every acknowledged message at the subscriber")
	t.Logf("%d messages acknowledged by the broker, %d publish or connect attempts failed during the restarts; all delivered", total, failures.Load())
	require.Greater(t, total, publishers*20, "too few messages went through to mean anything")

	mu.Lock()
	defer mu.Unlock()
	for i := range publishers {
		for j := 1; j < len(received[i]); j++ {
			if !assert.Less(t, received[i][j-1], received[i][j], "publisher %d out of order", i) {
				break
			}
		}
	}
}
