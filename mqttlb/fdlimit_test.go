//go:build unix

package mqttlb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAcceptBacksOffAtTheDescriptorLimit runs a proxy in a child process
// whose RLIMIT_NOFILE is lowered and then used up. While no descriptor is
// left, a new client waits unanswered in the backlog and Serve retries
// accept with a growing backoff (a handful of attempts, not a busy loop);
// a relayed connection goes on; once descriptors are freed the waiting
// client is served.
func TestAcceptBacksOffAtTheDescriptorLimit(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fdChildEnv+"=1")
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	defer func() {
		stdin.Close()
		select {
		case err := <-exited:
			assert.NoError(t, err, "child process")
		case <-time.After(10 * time.Second):
			child.Process.Kill()
			t.Error("child process did not exit")
			<-exited
		}
	}()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), "fdchild: "+prefix); ok {
				return strings.TrimSpace(rest)
			}
		}
		t.Fatalf("child process ended before %q: %v", prefix, lines.Err())
		return ""
	}
	tell := func(cmd string) { fmt.Fprintln(stdin, cmd) }

	addr := expect("addr")
	existing := served(t, addr, "existing")

	tell("fill")
	t.Logf("child holds %s descriptors", expect("full"))

	waiting := sendConnect(t, addr, "waiting")
	assert.True(t, noAnswerWithin(waiting, 1500*time.Millisecond), "served without a free descriptor")
	// The relayed connection goes on: the backend echoes.
	existing.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = existing.Write([]byte("still here"))
	require.NoError(t, err)
	echo := make([]byte, len("still here"))
	_, err = io.ReadFull(existing, echo)
	require.NoError(t, err)
	assert.Equal(t, "still here", string(echo))

	tell("release")
	var failures int
	fmt.Sscanf(expect("released"), "accept_failures=%d", &failures)
	assert.Equal(t, connackOK311, awaitAnswer(t, waiting))
	t.Logf("accept failed %d times while no descriptor was free (about 1.5 s)", failures)
	assert.Positive(t, failures, "accept never hit the limit")
	assert.Less(t, failures, 30, "accept retried in a busy loop")
	existing.Close()
	waiting.Close()
	tell("exit")
	expect("done")
}

// fdExhaustionChild is the child process of
// TestAcceptBacksOffAtTheDescriptorLimit. It talks over stdin and stdout
// and returns the exit code.
func fdExhaustionChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "fdchild:", err); return 1 }
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fail(err)
	}
	lim.Cur = min(lim.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fail(err)
	}

	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go echoBackend(bln)
	pool := &Pool{Name: "echo", Logger: quietLogger()}
	pool.SetBackends(backendsFor(bln.Addr().String()))
	var acceptFailures atomic.Int64
	p := &Proxy{Default: pool, Logger: slog.New(countingHandler{"accept failed; retrying", &acceptFailures})}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(pln) }()
	fmt.Println("fdchild: addr", pln.Addr())

	var filler []*os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "fill":
			acceptFailures.Store(0)
			for {
				f, err := os.Open(os.DevNull)
				if err != nil {
					break
				}
				filler = append(filler, f)
			}
			fmt.Println("fdchild: full", len(filler))
		case "release":
			n := acceptFailures.Load()
			for _, f := range filler {
				f.Close()
			}
			filler = nil
			fmt.Printf("fdchild: released accept_failures=%d\n", n)
		case "exit":
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			p.Shutdown(ctx)
			cancel()
			<-served
			bln.Close()
			fmt.Println("fdchild: done")
			return 0
		}
	}
	return fail(fmt.Errorf("stdin closed: %v", in.Err()))
}

// echoBackend answers each CONNECT with a CONNACK, then echoes.
func echoBackend(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			if answerConnect(conn) {
				io.Copy(conn, conn)
			}
		}()
	}
}

// countingHandler counts log records with a given message and discards
// everything.
type countingHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }
