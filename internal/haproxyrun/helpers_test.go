package haproxyrun

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// seedConfig copies testdata/name into a temporary haproxy.cfg with the
// addresses replaced (old, new pairs), as a user moving a guide's
// configuration to their own machines does, and returns its path.
func seedConfig(t testing.TB, name string, oldNew ...string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeConfig(t, path, strings.NewReplacer(oldNew...).Replace(string(text)))
	return path
}

func writeConfig(t testing.TB, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
}

// startRunner runs the configuration at path until the test ends.
func startRunner(t testing.TB, path string) *Runner {
	t.Helper()
	r := New(path, quietLogger())
	require.NoError(t, r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r
}

// boundAddr returns where the bind address written in the file listens.
func boundAddr(t testing.TB, r *Runner, written string) string {
	t.Helper()
	addr, ok := r.Addrs()[written]
	require.True(t, ok, "bind %s is not open (open: %v)", written, r.Addrs())
	return addr
}

// startCluster starts n joined embedded brokers for the test.
func startCluster(t testing.TB, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	cfg.Logger = quietLogger()
	c, err := cluster.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// connectWire returns a CONNECT of MQTT 3.1.1 with the client ID and
// clean session flag, keep-alive 60 s.
func connectWire(id string, clean bool) []byte {
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 60, byte(len(id) >> 8), byte(len(id))}
	vh = append(vh, id...)
	return append([]byte{0x10, byte(len(vh))}, vh...)
}

// mqttConnect connects through addr with a CONNECT for id from the local
// address src ("" for any), and returns the connection once the CONNACK
// accepted it.
func mqttConnect(t testing.TB, addr, src, id string, clean bool) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write(connectWire(id, clean))
	require.NoError(t, err)
	ack := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, ack)
	require.NoError(t, err, "CONNACK for %s", id)
	require.Equal(t, byte(0x20), ack[0], "CONNACK for %s", id)
	require.Equal(t, byte(0), ack[3], "CONNACK return code for %s", id)
	c.SetReadDeadline(time.Time{})
	return c
}

// ping sends PINGREQ and waits for PINGRESP: the connection is alive end
// to end.
func ping(c net.Conn) error {
	if _, err := c.Write([]byte{0xC0, 0}); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	resp := make([]byte, 2)
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	if resp[0] != 0xD0 {
		return errors.New("not a PINGRESP")
	}
	return nil
}

// nodeHolding returns the name of the node the client ID is connected
// to, or "" if none.
func nodeHolding(nodes []*cluster.Node, clientID string) string {
	for _, n := range nodes {
		if n.HasClient(clientID) {
			return n.Name()
		}
	}
	return ""
}

// holder waits until the client ID is connected to a node and returns it.
func holder(t testing.TB, nodes []*cluster.Node, id string) string {
	t.Helper()
	var name string
	testnet.WaitFor(t, 5*time.Second, func() bool { name = nodeHolding(nodes, id); return name != "" }, id+" on a node")
	return name
}
