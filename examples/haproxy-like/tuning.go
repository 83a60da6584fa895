package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// listenConfig is how the program listens: TCP keep-alive probes are off
// on client connections (MQTT's keep-alive, which the proxy enforces at
// 1.5 times the client's, already finds dead clients, and the four probe
// settings are four system calls per accepted connection), and with
// reusePort several processes can listen on the same address, the kernel
// spreading new connections over them (SO_REUSEPORT, Linux 3.9 and later).
func listenConfig(reusePort bool) *net.ListenConfig {
	lc := &net.ListenConfig{KeepAlive: -1}
	if reusePort {
		lc.Control = setReusePort
	}
	return lc
}

// logBuffer batches log lines: one write per flush instead of one per
// connection. A line reaches the destination within the flush interval,
// at once when the buffer fills, and at exit (Close).
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// newLogBuffer buffers writes to dst and flushes them every interval
// until Close; it starts the goroutine that flushes.
func newLogBuffer(dst io.Writer, interval time.Duration) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(dst, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	b.w.Flush()
	b.mu.Unlock()
}

func (b *logBuffer) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush()
		case <-b.stop:
			b.flush()
			return
		}
	}
}

// Close stops the flushing goroutine after a last flush.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	return nil
}

// servePprof serves net/http/pprof on addr until ctx ends, for profiling
// the proxy under load (go tool pprof http://ADDR/debug/pprof/profile).
func servePprof(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
