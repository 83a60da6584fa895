package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitOutput waits until the output matches pattern.
func waitOutput(t *testing.T, out *testnet.Buffer, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(10 * time.Second)
	for !re.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("output does not match %q within 10 s:\n%s", pattern, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testConfig() config {
	return config{
		checkPort:      hivemqHealthPort,
		checkPath:      cluster.ReadinessPath,
		interval:       100 * time.Millisecond,
		rise:           2,
		fall:           2,
		shutdownWindow: 200 * time.Millisecond,
		grace:          time.Second,
	}
}

// started runs the program on a loopback port until the test ends.
func started(t *testing.T, cfg config) (addr string, commands chan<- string, out *testnet.Buffer, cancel context.CancelFunc, done <-chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cmds := make(chan string)
	out = &testnet.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	finished := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		errc <- run(ctx, cfg, ln, cmds, out, logger)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("run did not return")
		}
	})
	return ln.Addr().String(), cmds, out, cancel, errc
}

// mqttConnect connects a 3.1.1 client through the proxy and returns the
// CONNACK's return code.
func mqttConnect(t *testing.T, addr string) byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	id := "hivemq-health-test"
	connect := append([]byte{0x10, byte(12 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}, id...)
	_, err = c.Write(connect)
	require.NoError(t, err)
	ack := make([]byte, 4)
	_, err = io.ReadFull(c, ack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2}, ack[:2], "CONNACK")
	return ack[3]
}

func TestEmbeddedClusterCommands(t *testing.T) {
	addr, commands, out, _, done := started(t, testConfig())
	waitOutput(t, out, `(?m)^  node3 .* readiness http://127\.0\.0\.1:\d+/api/v1/health/readiness$`)
	assert.Zero(t, mqttConnect(t, addr), "client accepted through the proxy")

	steps := []struct{ command, output string }{
		{"unready 2", `node2 \S+ UP -> DOWN after 2 failed checks: health: unexpected HTTP status 503`},
		{"status", `(?m)^  node2 +\S+ +ready +DOWN .*503`},
		{"ready 2", `node2 \S+ DOWN -> UP after 2 good checks`},
		{"kill 1", `node1 \S+ UP -> DOWN after 2 failed checks: .*connection refused`},
		{"start 1", `node1 \S+ DOWN -> UP after 2 good checks`},
		{"kill 9", `kill: give a node number from 1 to 3`},
		{"reboot 1", `unknown command "reboot"`},
	}
	for _, s := range steps {
		commands <- s.command
		waitOutput(t, out, s.output)
	}
	assert.Zero(t, mqttConnect(t, addr), "client accepted after the changes")

	commands <- "quit"
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("quit did not stop the program")
	}
	assert.Contains(t, out.String(), "shutting down")
}

func TestServersWithCheckPort(t *testing.T) {
	c, err := cluster.Start(cluster.Config{Nodes: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer c.Close()
	node := c.Nodes()[0]
	_, port, err := net.SplitHostPort(node.HealthAddr())
	require.NoError(t, err)

	cfg := testConfig()
	cfg.servers = []string{"hivemq1=" + node.Addr()}
	cfg.checkPort, err = strconv.Atoi(port)
	require.NoError(t, err)
	addr, commands, out, cancel, done := started(t, cfg)
	waitOutput(t, out, `(?m)^  hivemq1 +\S+ +readiness http://127\.0\.0\.1:`+port+`/api/v1/health/readiness$`)
	assert.Zero(t, mqttConnect(t, addr))

	node.SetReady(false)
	waitOutput(t, out, `hivemq1 \S+ UP -> DOWN after 2 failed checks: health: unexpected HTTP status 503`)
	assert.Equal(t, byte(3), mqttConnect(t, addr), "server unavailable while the only node is down")
	commands <- "kill 1"
	waitOutput(t, out, `kill: only the embedded cluster's nodes`)

	close(commands) // end of input: the program serves on until a signal
	node.SetReady(true)
	waitOutput(t, out, `hivemq1 \S+ DOWN -> UP after 2 good checks`)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not stop the program")
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    func(*testing.T, config)
		wantErr bool
	}{
		{"defaults", nil, func(t *testing.T, cfg config) {
			assert.Equal(t, "127.0.0.1:1883", cfg.listen)
			assert.Empty(t, cfg.servers)
			assert.Equal(t, 8889, cfg.checkPort)
			assert.Equal(t, "/api/v1/health/readiness", cfg.checkPath)
			assert.Equal(t, slog.LevelWarn, cfg.logLevel)
		}, false},
		{"servers", []string{"-server", "a=10.0.0.1:1883,10.0.0.2:1883", "-server", "10.0.0.3:1883", "-check-port", "9000", "-fall", "2", "-v"},
			func(t *testing.T, cfg config) {
				assert.Equal(t, []string{"a=10.0.0.1:1883", "10.0.0.2:1883", "10.0.0.3:1883"}, cfg.servers)
				assert.Equal(t, 9000, cfg.checkPort)
				assert.Equal(t, 2, cfg.fall)
				assert.Equal(t, slog.LevelInfo, cfg.logLevel)
			}, false},
		{"stray argument", []string{"extra"}, nil, true},
		{"unknown flag", []string{"-frobnicate"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			tc.want(t, cfg)
		})
	}
}
