//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// placementLine matches the log line of a relayed connection's end.
var placementLine = regexp.MustCompile(`msg="connection closed" .*client_id=(\S+) .*backend=(\S+)`)

// proxyProcess is one running copy of the program and the placements it
// logged: client ID to the set of backends.
type proxyProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen map[string]map[string]bool
	done chan struct{}
}

func startProxyProcess(t *testing.T, bin string, args ...string) *proxyProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	p := &proxyProcess{cmd: exec.CommandContext(ctx, bin, args...), seen: map[string]map[string]bool{}, done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go p.collect(stderr)
	return p
}

func (p *proxyProcess) collect(r io.Reader) {
	defer close(p.done)
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		m := placementLine.FindStringSubmatch(lines.Text())
		if m == nil {
			continue
		}
		p.mu.Lock()
		if p.seen[m[1]] == nil {
			p.seen[m[1]] = map[string]bool{}
		}
		p.seen[m[1]][m[2]] = true
		p.mu.Unlock()
	}
}

// stop ends the process with SIGTERM and returns its placements.
func (p *proxyProcess) stop(t *testing.T) map[string]map[string]bool {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	<-p.done
	assert.NoError(t, p.cmd.Wait())
	return p.seen
}

// connackBackend stands in for a broker: it answers every CONNECT with a
// CONNACK and holds the connection until the client leaves.
func connackBackend(t *testing.T) string {
	addr := testnet.Serve(t, func(conn net.Conn) {
		c, _, err := mqttlb.ReadConnect(conn, 5*time.Second, 0)
		if err != nil {
			return
		}
		c.Release()
		conn.Write([]byte{0x20, 2, 0, 0})
		io.Copy(io.Discard, conn)
	})
	return addr
}

// TestReusePortProcessesPlaceClientsAlike runs two proxy processes on one
// address with -reuseport and -balance hash, the way to go past one
// process's descriptor limit, and connects 40 client IDs 6 times each:
// the kernel spreads the connections over both processes, and every
// client ID lands on the same backend whichever process took it.
func TestReusePortProcessesPlaceClientsAlike(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program twice; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "haproxy-like")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	servers := []string{"b1=" + connackBackend(t), "b2=" + connackBackend(t), "b3=" + connackBackend(t)}
	addr := freeAddr(t)
	args := []string{"-reuseport", "-balance", "hash", "-bind", addr, "-server", strings.Join(servers, ","),
		"-stats", "", "-log-flush", "0", "-grace", "1s"}
	procs := []*proxyProcess{startProxyProcess(t, bin, args...), startProxyProcess(t, bin, args...)}

	const ids, rounds = 40, 6
	for round := range rounds {
		for i := range ids {
			connackThrough(t, addr, fmt.Sprintf("device-%02d", i), round == 0)
		}
	}

	placed := map[string]string{}
	servedBy := [2]int{}
	for n, p := range procs {
		for id, backends := range p.stop(t) {
			require.Len(t, backends, 1, "process %d sent %s to several backends", n, id)
			for b := range backends {
				if prev, ok := placed[id]; ok {
					assert.Equal(t, prev, b, "%s placed differently by the two processes", id)
				}
				placed[id] = b
			}
			servedBy[n]++
		}
	}
	assert.Len(t, placed, ids, "every client ID logged")
	assert.Positive(t, servedBy[0], "the first process took connections")
	assert.Positive(t, servedBy[1], "the second process took connections")
	t.Logf("client IDs served by process 1: %d, by process 2: %d (of %d)", servedBy[0], servedBy[1], ids)
}

// connackThrough connects one MQTT 3.1.1 client and waits for its
// CONNACK, retrying while the proxies start when wait is set.
func connackThrough(t *testing.T, addr, id string, wait bool) {
	t.Helper()
	wire := connectPacket(id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			ack := make([]byte, 4)
			_, err = conn.Write(wire)
			if err == nil {
				_, err = io.ReadFull(conn, ack)
			}
			conn.Close()
			if err == nil {
				require.Equal(t, []byte{0x20, 2, 0, 0}, ack)
				return
			}
		}
		if !wait || time.Now().After(deadline) {
			require.NoError(t, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connectPacket is a minimal MQTT 3.1.1 CONNECT with a clean session
// and no keep-alive.
func connectPacket(id string) []byte {
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, byte(len(id) >> 8), byte(len(id))}
	vh = append(vh, id...)
	return append([]byte{0x10, byte(len(vh))}, vh...)
}
