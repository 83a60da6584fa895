package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
)

// TestConfigFileFlags runs the program with -c and -f as a user would:
// -c exits 0 or 1 with every problem as file:line, -f serves the file,
// SIGHUP reloads it (a new bind opens, a live client stays connected) and
// SIGTERM ends it cleanly.
func TestConfigFileFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "haproxy-like")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	c, err := cluster.Start(cluster.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer c.Close()
	a := c.Addrs()
	config := func(binds string) string {
		return fmt.Sprintf("defaults\n  mode tcp\n  log global\nfrontend mqtt\n%s  default_backend brokers\nbackend brokers\n  balance leastconn\n  server n1 %s check\n  server n2 %s check\n  server n3 %s check\n", binds, a[0], a[1], a[2])
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	first := freeAddr(t)
	require.NoError(t, os.WriteFile(path, []byte(config("  bind "+first+"\n")), 0o600))

	out, err := exec.Command(bin, "-c", "-f", path).Output()
	require.NoError(t, err, "-c on a good file exits 0")
	assert.Contains(t, string(out), path+`:3: "log global" ignored`)

	bad := filepath.Join(t.TempDir(), "bad.cfg")
	require.NoError(t, os.WriteFile(bad, []byte("frontend f\n  bind *:1883\n  default_backend nowhere\n  option frob\n"), 0o600))
	out, err = exec.Command(bin, "-c", "-f", bad).Output()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "-c on a bad file fails: %v", err)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, bad+`:1: frontend "f": default_backend "nowhere" does not exist
`+bad+`:4: unknown option "frob"
`, string(out))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", path, "-grace", "2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() {
		if t.Failed() {
			t.Logf("program output:\n%s", stderr.String())
		}
	}()

	live := connect311(t, first, "flags-live")
	second := freeAddr(t)
	require.NoError(t, os.WriteFile(path, []byte(config("  bind "+first+"\n  bind "+second+"\n")), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", second)
		if err == nil {
			conn.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "the new bind never opened")
		time.Sleep(50 * time.Millisecond)
	}
	other := connect311(t, second, "flags-new")

	got := make(chan string, 1)
	tok := other.Subscribe("flags/#", 1, func(_ paho311.Client, m paho311.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	require.True(t, live.Publish("flags/x", 1, false, "from before the reload").WaitTimeout(5*time.Second))
	select {
	case m := <-got:
		assert.Equal(t, "from before the reload", m, "the client connected before the reload still publishes")
	case <-time.After(10 * time.Second):
		t.Fatal("no message after the reload")
	}
	live.Disconnect(100)
	other.Disconnect(100)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait(), "the program exits cleanly on SIGTERM")
	assert.Contains(t, stderr.String(), "reloaded")
}
