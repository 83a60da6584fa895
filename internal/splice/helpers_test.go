package splice

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitBound is the generous bound for things that should happen promptly
// (a close reaching the other end); it only fails a hung relay.
const waitBound = 10 * time.Second

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	dialed, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	accepted, err = ln.AcceptTCP()
	require.NoError(t, err)
	return dialed, accepted
}

// mode is one way of relaying a pair, so every behaviour is checked on the
// portable Relay and on the Engine, over TCP and over net.Pipe.
type mode struct {
	name  string
	pipe  bool
	start func(t testing.TB, client, backend net.Conn, cfg Config) <-chan Result
	// born: the relay's ends are Conns born in the engine's loops (an
	// accepted client and a backend dialed near it), where the platform
	// has them.
	born bool
}

var modes = append([]mode{
	{"relay/tcp", false, startRelay, false},
	{"relay/pipe", true, startRelay, false},
	{"engine/tcp", false, startEngine, false},
	{"engine/pipe", true, startEngine, false},
}, bornModes...)

func tcpModes() []mode {
	var out []mode
	for _, m := range modes {
		if !m.pipe {
			out = append(out, m)
		}
	}
	return out
}

func startRelay(_ testing.TB, client, backend net.Conn, cfg Config) <-chan Result {
	res := make(chan Result, 1)
	go func() { res <- Relay(client, backend, cfg) }()
	return res
}

func startEngine(t testing.TB, client, backend net.Conn, cfg Config) <-chan Result {
	e := &Engine{Loops: 2}
	t.Cleanup(func() { e.Close() })
	res := make(chan Result, 1)
	e.Start(client, backend, cfg, func(r Result) { res <- r })
	return res
}

// rig is a relayed pair seen from outside: client is the device's end,
// backend the broker's end.
type rig struct {
	client, backend net.Conn
	result          <-chan Result
}

func newRig(t testing.TB, m mode, cfg Config) *rig {
	t.Helper()
	if m.born {
		e := &Engine{Loops: 2}
		t.Cleanup(func() { e.Close() })
		clientOuter, clientInner, backendInner, backendOuter := bornEnds(t, e)
		t.Cleanup(func() {
			clientOuter.Close()
			backendOuter.Close()
		})
		res := make(chan Result, 1)
		e.Start(clientInner, backendInner, cfg, func(r Result) { res <- r })
		return &rig{client: clientOuter, backend: backendOuter, result: res}
	}
	var clientOuter, clientInner, backendInner, backendOuter net.Conn
	if m.pipe {
		clientOuter, clientInner = net.Pipe()
		backendInner, backendOuter = net.Pipe()
	} else {
		clientOuter, clientInner = tcpPair(t)
		backendInner, backendOuter = tcpPair(t)
	}
	t.Cleanup(func() {
		clientOuter.Close()
		backendOuter.Close()
	})
	return &rig{client: clientOuter, backend: backendOuter, result: m.start(t, clientInner, backendInner, cfg)}
}

// wait returns the relay's result, failing the test if it does not come.
func (r *rig) wait(t testing.TB) Result {
	t.Helper()
	return receive(t, r.result, "relay did not end")
}

// receive returns the next value from ch, failing the test with
// notCome if none comes within waitBound.
func receive[T any](t testing.TB, ch <-chan T, notCome string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
		t.Fatal(notCome)
		var zero T
		return zero
	}
}

// ended reports whether the relay has ended, without waiting.
func (r *rig) ended() bool {
	select {
	case res := <-r.result:
		ch := make(chan Result, 1)
		ch <- res
		r.result = ch
		return true
	default:
		return false
	}
}

// relayEnds returns the four ends a relay test needs: the client's outer
// end and the relay's end of it, the relay's end of the backend and the
// backend's outer end; over net.Pipe or, with pipe false, loopback TCP.
func relayEnds(t testing.TB, pipe bool) (clientOuter, clientInner, backendInner, backendOuter net.Conn) {
	t.Helper()
	if pipe {
		clientOuter, clientInner = net.Pipe()
		backendInner, backendOuter = net.Pipe()
		return clientOuter, clientInner, backendInner, backendOuter
	}
	clientOuter, clientInner = tcpPair(t)
	backendInner, backendOuter = tcpPair(t)
	return clientOuter, clientInner, backendInner, backendOuter
}
