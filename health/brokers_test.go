package health

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/mosquitto"
)

// startMochi starts an in-process MQTT broker that lets every client in,
// listening on a free loopback port, with the given extra hooks, and
// returns its address.
func startMochi(t testing.TB, hooks ...mqtt.Hook) string {
	t.Helper()
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, server.AddHook(new(auth.AllowHook), nil))
	for _, hook := range hooks {
		require.NoError(t, server.AddHook(hook, nil))
	}
	netLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &drainingListener{Listener: netLn, served: make(chan struct{})}
	require.NoError(t, server.AddListener(ln))
	require.NoError(t, server.Serve())
	t.Cleanup(func() {
		netLn.Close()
		ln.waitDrained(t)
		server.Close()
	})
	return ln.Address()
}

// drainingListener is a mochi listener that can wait until every connection
// it accepted has ended. mochi's Close races with a connection still being
// set up (a WaitGroup Add concurrent with its Wait), which the probes of
// these tests cause on purpose: they connect and leave within microseconds.
type drainingListener struct {
	net.Listener
	conns  sync.WaitGroup
	served chan struct{} // closed when Serve returns: no more conns.Go
}

func (l *drainingListener) ID() string              { return "tcp" }
func (l *drainingListener) Address() string         { return l.Addr().String() }
func (l *drainingListener) Protocol() string        { return "tcp" }
func (l *drainingListener) Init(*slog.Logger) error { return nil }
func (l *drainingListener) Close(closeClients listeners.CloseFn) {
	l.Listener.Close()
	closeClients(l.ID())
}

func (l *drainingListener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		l.conns.Go(func() { establish(l.ID(), conn) })
	}
}

// waitDrained waits, once the listener is closed, up to 10 seconds for the
// accepted connections to end; the tests' probes all close theirs.
func (l *drainingListener) waitDrained(t testing.TB) {
	drained := make(chan struct{})
	go func() {
		<-l.served
		l.conns.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Error("a connection to the mochi broker is still open")
	}
}

// The only account of a Mosquitto started with requirePassword.
const (
	mosquittoUser     = "probe"
	mosquittoPassword = "s3cret"
)

// startMosquitto starts a Mosquitto process on a free loopback port and
// returns its address. With requirePassword, anonymous clients are refused
// and the only account is mosquittoUser. The test is skipped when
// mosquitto is not installed.
func startMosquitto(t *testing.T, requirePassword bool) string {
	t.Helper()
	var cfg mosquitto.Config
	if requirePassword {
		cfg.DenyAnonymous = true
		cfg.PasswordFile = mosquitto.WritePasswordFile(t, map[string]string{mosquittoUser: mosquittoPassword})
	}
	return mosquitto.Start(t, cfg).Addr()
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago, for a program that must be told its port.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
