package mqttlb

import (
	"net"
	"sync"
	"sync/atomic"
)

// maxIdleWorkers is how many handshake goroutines wait for the next
// accepted connection at most; past it, a goroutine whose handshake is
// over exits.
const maxIdleWorkers = 64

// handshakeWorkers hands accepted connections to goroutines that are
// kept between connections. A goroutine started per connection begins
// with a small stack that the handshake (CONNECT read, pick, dial, log)
// grows by copying, every time: 3.5 % of the proxy's CPU under churn. A
// kept goroutine has grown its stack already.
//
// The workers are not handlers: a connection's handshake is counted in
// Proxy.handlers while it runs, and an idle worker only waits. Idle
// workers exit when quit is closed (closeListeners), and Shutdown and
// Close wait for them.
type handshakeWorkers struct {
	tasks chan acceptedConn // unbuffered: a send succeeds only into a waiting worker
	quit  chan struct{}
	once  sync.Once
	idle  atomic.Int32
	// started counts the workers ever started.
	started atomic.Int64
	wg      sync.WaitGroup
}

type acceptedConn struct {
	c   net.Conn
	lim *listenerLimit
}

func (w *handshakeWorkers) init() {
	w.tasks = make(chan acceptedConn)
	w.quit = make(chan struct{})
}

// stop makes idle workers exit, and busy ones when their handshake ends.
func (w *handshakeWorkers) stop() { w.once.Do(func() { close(w.quit) }) }

// dispatch hands t to an idle worker, or starts one. Serve calls it, and
// Shutdown and Close wait for Serve before they wait for the workers, so
// no worker starts after that wait began.
func (p *Proxy) dispatch(t acceptedConn) {
	select {
	case p.workers.tasks <- t:
	default:
		p.workers.wg.Add(1)
		p.workers.started.Add(1)
		go p.handshakeWorker(t)
	}
}

func (p *Proxy) handshakeWorker(t acceptedConn) {
	w := &p.workers
	defer w.wg.Done()
	for {
		p.serveAccepted(t.c, t.lim)
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		select {
		case t = <-w.tasks:
			w.idle.Add(-1)
		case <-w.quit:
			w.idle.Add(-1)
			return
		}
	}
}
