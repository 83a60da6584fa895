package haproxyrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// Runner runs a configuration file and reloads it on demand: the
// running form of "haproxy -f". Each frontend gets one mqttlb.Proxy for
// the life of the process; a reload swaps its routing (Proxy.SetRouting)
// and keeps its live connections, keeps the listeners of the addresses
// still bound, opens the new ones and closes the removed ones. A file
// with errors is refused and the running configuration stays.
type Runner struct {
	path   string
	logger *slog.Logger

	mu        sync.Mutex
	closed    bool
	current   *plan
	proxies   map[string]*mqttlb.Proxy // by frontend name, kept across reloads
	frontends []string                 // the frontends of the plan in force, in order
	listeners map[string]*boundListener
	stopCheck context.CancelFunc
	checks    sync.WaitGroup // health monitors of the current plan
	serving   sync.WaitGroup // Serve loops
}

// boundListener is one bound address and what it serves.
type boundListener struct {
	owner, key string
	ln         net.Listener
	stop       func()
	stopped    bool // closed on purpose by a reload or Shutdown
}

func New(path string, logger *slog.Logger) *Runner {
	return &Runner{path: path, logger: logger, proxies: map[string]*mqttlb.Proxy{}, listeners: map[string]*boundListener{}}
}

// load reads and checks the file and builds its plan against the
// configuration in force.
func (r *Runner) load() (*plan, error) {
	cfg, err := haproxycfg.ParseFile(r.path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	prev := r.current
	r.mu.Unlock()
	return buildPlan(cfg, prev, r.logger)
}

// Reload reads the file again and applies it. On error nothing changes.
func (r *Runner) Reload() error {
	p, err := r.load()
	if err != nil {
		return err
	}
	return r.apply(p)
}

// apply puts a plan to work: listeners first (so that a bind that fails
// leaves everything as it was), then routing, then health checks.
func (r *Runner) apply(p *plan) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return mqttlb.ErrProxyClosed
	}
	for _, w := range p.warnings {
		r.logger.Warn(w.String())
	}

	want := wantedListeners(p)
	opened := map[string]net.Listener{}
	for addr, w := range want {
		if r.listeners[addr] != nil {
			// Kept as it is, or, when it changes owner or options, closed
			// and bound again below, after the old one is closed.
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return fmt.Errorf("bind %s (%s): %w", addr, w.owner, err)
		}
		opened[addr] = ln
	}

	for _, fe := range p.frontends {
		px := r.proxies[fe.name]
		if px == nil {
			px = &mqttlb.Proxy{Logger: r.logger.With("frontend", fe.name), ConnectTimeout: fe.connectTimeout,
				IdleTimeout: fe.idleTimeout, DontLogNormal: fe.dontLogNormal}
			r.proxies[fe.name] = px
		} else if px.ConnectTimeout != fe.connectTimeout || px.IdleTimeout != fe.idleTimeout || px.DontLogNormal != fe.dontLogNormal {
			r.logger.Warn("frontend timeouts (tcp-request inspect-delay, timeout client/tunnel) and option dontlog-normal change on restart only", "frontend", fe.name)
		}
		px.SetRouting(fe.routes, fe.def)
	}
	r.frontends = r.frontends[:0]
	for _, fe := range p.frontends {
		r.frontends = append(r.frontends, fe.name)
	}

	for addr, bl := range r.listeners {
		if w, ok := want[addr]; !ok || w.owner != bl.owner || w.key != bl.key {
			bl.stopped = true
			bl.stop()
			delete(r.listeners, addr)
			r.logger.Info("unbound", "addr", addr, "owner", bl.owner)
		}
	}
	var errs []error
	for addr, w := range want {
		if r.listeners[addr] != nil {
			continue
		}
		ln := opened[addr]
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				errs = append(errs, fmt.Errorf("bind %s (%s): %w", addr, w.owner, err))
				continue
			}
		}
		r.serve(addr, w, ln)
	}

	if r.stopCheck != nil {
		r.stopCheck()
		r.checks.Wait()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stopCheck = cancel
	for _, g := range p.checks {
		r.checks.Go(func() { g.run(ctx) })
	}
	r.current = p
	return errors.Join(errs...)
}

// wanted is a listener a plan asks for: the MQTT bind of a frontend, or
// the statistics page of a stats section.
type wanted struct {
	owner string // "frontend NAME" or "stats NAME"
	key   string // the options; a change reopens the listener
	proxy string // the frontend whose proxy serves it, for MQTT binds
	bind  bindPlan
	stats *statsPlan
}

// wantedListeners lists the listeners of a plan by address.
func wantedListeners(p *plan) map[string]wanted {
	want := map[string]wanted{}
	for _, fe := range p.frontends {
		for _, b := range fe.binds {
			want[b.addr] = wanted{owner: "frontend " + fe.name, key: b.key, proxy: fe.name, bind: b}
		}
	}
	for _, st := range p.stats {
		for _, addr := range st.binds {
			want[addr] = wanted{owner: "stats " + st.name, key: st.key(), stats: st}
		}
	}
	return want
}

// serve starts serving a new listener. The caller holds r.mu.
func (r *Runner) serve(addr string, w wanted, ln net.Listener) {
	bl := &boundListener{owner: w.owner, key: w.key, ln: ln}
	r.listeners[addr] = bl
	r.logger.Info("listening", "addr", ln.Addr().String(), "owner", w.owner)
	var run func() error
	if w.stats != nil {
		srv := &http.Server{Handler: w.stats.handler(r), ReadHeaderTimeout: 10 * time.Second}
		bl.stop = func() { srv.Close() }
		run = func() error { return srv.Serve(ln) }
	} else if w.bind.webSocket {
		// The WebSocket listener answers the upgrades on the wrapped
		// listener and hands each connection to the proxy as a byte
		// stream; the proxy's Serve closes it, which ends its Serve.
		px := r.proxies[w.proxy]
		wsl := &mqttlb.WebSocketListener{Logger: r.logger}
		bl.stop = func() { wsl.Close() }
		r.serving.Go(func() {
			if err := wsl.Serve(w.bind.wrap(ln)); !errors.Is(err, mqttlb.ErrWebSocketClosed) {
				r.logger.Error("WebSocket listener failed", "addr", addr, "owner", w.owner, "err", err)
			}
		})
		run = func() error { return px.Serve(wsl) }
	} else {
		px := r.proxies[w.proxy]
		bl.stop = func() { ln.Close() }
		run = func() error { return px.Serve(w.bind.wrap(ln)) }
	}
	r.serving.Go(func() {
		err := run()
		r.mu.Lock()
		stopped := bl.stopped
		r.mu.Unlock()
		if err != nil && !stopped && !errors.Is(err, mqttlb.ErrProxyClosed) && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("listener failed", "addr", addr, "owner", w.owner, "err", err)
		}
	})
}

// Addrs returns the bound address of each bind address of the
// configuration, by the address written in the file.
func (r *Runner) Addrs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.listeners))
	for addr, bl := range r.listeners {
		out[addr] = bl.ln.Addr().String()
	}
	return out
}

// Pool returns the pool of a backend in the configuration in force, or
// nil.
func (r *Runner) Pool(backend string) *mqttlb.Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return nil
	}
	return r.current.pools[backend]
}

// Proxy returns the proxy of a frontend, or nil.
func (r *Runner) Proxy(frontend string) *mqttlb.Proxy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proxies[frontend]
}

// Shutdown stops the health checks and shuts every proxy down, closing
// live connections spread over ctx's deadline (see mqttlb.Proxy.Shutdown).
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	if r.stopCheck != nil {
		r.stopCheck()
	}
	for _, bl := range r.listeners {
		bl.stopped = true
		bl.stop()
	}
	proxies := make([]*mqttlb.Proxy, 0, len(r.proxies))
	for _, px := range r.proxies {
		proxies = append(proxies, px)
	}
	r.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(proxies))
	for i, px := range proxies {
		wg.Go(func() { errs[i] = px.Shutdown(ctx) })
	}
	wg.Wait()
	r.checks.Wait()
	r.serving.Wait()
	return errors.Join(errs...)
}
