package splice

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The idle-memory harness. It is slow and holds thousands of sockets, so it
// runs only when asked:
//
//	SPLICE_MEMTEST=5000 go test -run TestIdleMemory -v ./internal/splice
//
// For each way of relaying it starts a fresh test process (the measured
// proxy) which starts a peer process (the devices and the broker). The
// peer opens N connections through the proxy; the proxy dials the peer's
// backend listener for each and relays; once all are idle the proxy reports
// its RSS, Go heap+stack and descriptors per connection, then proves every
// relay still works with one byte each way.
const (
	envMemTest  = "SPLICE_MEMTEST"
	envMemProxy = "SPLICE_MEMPROXY" // mode,N: this process is the proxy
	envMemPeer  = "SPLICE_MEMPEER"  // proxyAddr,N: this process is the peer
)

// memModes are the relays compared; ioCopy is the naive one (two goroutines
// with io.Copy, which keeps a kernel pipe per direction on TCP).
var memModes = []string{"iocopy", "relay", "engine"}

func TestIdleMemory(t *testing.T) {
	switch {
	case os.Getenv(envMemPeer) != "":
		memPeer(t, os.Getenv(envMemPeer))
		return
	case os.Getenv(envMemProxy) != "":
		memProxy(t, os.Getenv(envMemProxy))
		return
	case os.Getenv(envMemTest) == "":
		t.Log("set " + envMemTest + "=N to measure memory per idle relayed connection")
		return
	}
	n, err := strconv.Atoi(os.Getenv(envMemTest))
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, mode := range memModes {
		modeN := n
		if mode == "iocopy" {
			// Six descriptors per connection: stay under the 20,000 cap.
			modeN = min(n, 3000)
		}
		cmd := exec.Command(exe, "-test.run=^TestIdleMemory$", "-test.v")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", envMemProxy, mode, modeN))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "RESULT") {
				t.Log(strings.TrimSpace(line[strings.Index(line, "RESULT")+7:]))
			}
		}
	}
}

// memProxy is the measured process.
func memProxy(t *testing.T, spec string) {
	mode, nText, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(nText)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	exe, err := os.Executable()
	require.NoError(t, err)
	peer := exec.Command(exe, "-test.run=^TestIdleMemory$")
	peer.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", envMemPeer, ln.Addr(), n))
	peer.Stderr = os.Stderr
	toPeer, err := peer.StdinPipe()
	require.NoError(t, err)
	fromPeerPipe, err := peer.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, peer.Start())
	defer peer.Wait()
	defer toPeer.Close()
	fromPeer := bufio.NewReader(fromPeerPipe)
	backendAddr := peerLine(t, fromPeer)

	before := sampleMemory()
	var engine Engine
	defer engine.Close()
	cfg := Config{ClientIdle: 90 * time.Second}
	for range n {
		client, err := ln.Accept()
		require.NoError(t, err)
		backend, err := net.Dial("tcp", backendAddr)
		require.NoError(t, err)
		switch mode {
		case "iocopy":
			go naiveRelay(client, backend)
		case "relay":
			go Relay(client, backend, cfg)
		case "engine":
			engine.Start(client, backend, cfg, func(Result) {})
		}
	}
	require.Equal(t, "ready", peerLine(t, fromPeer))
	time.Sleep(time.Second)
	after := sampleMemory()

	fmt.Fprintln(toPeer, "check")
	require.Equal(t, "ok", peerLine(t, fromPeer), "relays must still work")
	perConn := func(a, b int64) float64 { return float64(a-b) / float64(n) }
	fmt.Printf("RESULT %-7s N=%d  RSS %6.0f B/conn  heap+stack %6.0f B/conn  fds %.2f/conn  goroutines %.2f/conn\n",
		mode, n, perConn(after.rss, before.rss), perConn(after.heapStack, before.heapStack),
		perConn(after.fds, before.fds), perConn(after.goroutines, before.goroutines))
}

func naiveRelay(client, backend net.Conn) {
	go func() {
		io.Copy(backend, client)
		backend.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(client, backend)
	client.Close()
	backend.Close()
}

type memorySample struct{ rss, heapStack, fds, goroutines int64 }

func sampleMemory() memorySample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memorySample{
		heapStack:  int64(ms.HeapInuse + ms.StackInuse),
		goroutines: int64(runtime.NumGoroutine()),
	}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range bytes.Lines(status) {
			if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
				kb, _ := strconv.ParseInt(string(bytes.Fields(rest)[0]), 10, 64)
				s.rss = kb << 10
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.fds = int64(len(fds))
	}
	return s
}

func peerLine(t *testing.T, r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line)
}

// memPeer plays N devices and one broker: it holds N client connections to
// the proxy and the N backend connections the proxy opens.
func memPeer(t *testing.T, spec string) {
	proxyAddr, nText, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(nText)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	fmt.Println(ln.Addr())

	backends := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			backends <- c
		}
	}()
	clients := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", proxyAddr)
		require.NoError(t, err)
		clients = append(clients, c)
	}
	held := make([]net.Conn, 0, n)
	for range n {
		held = append(held, <-backends)
	}
	fmt.Println("ready")

	in := bufio.NewReader(os.Stdin)
	assert.Equal(t, "check", peerLine(t, in))
	for _, c := range clients {
		_, err := c.Write([]byte{0xC0})
		require.NoError(t, err)
	}
	one := make([]byte, 1)
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.ReadFull(c, one)
		require.NoError(t, err)
	}
	fmt.Println("ok")
	io.Copy(io.Discard, in)
	for _, c := range append(clients, held...) {
		c.Close()
	}
}
