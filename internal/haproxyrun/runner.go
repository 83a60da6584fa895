package haproxyrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

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
	listeners map[string]*boundListener
	stopCheck context.CancelFunc
	checks    sync.WaitGroup // health monitors of the current plan
	serving   sync.WaitGroup // Serve loops
}

// boundListener is one bind address and the frontend it serves.
type boundListener struct {
	frontend string
	ln       net.Listener
	stopped  bool // closed on purpose by a reload
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

	want := map[string]string{} // bind address → frontend
	for _, fe := range p.frontends {
		for _, addr := range fe.binds {
			want[addr] = fe.name
		}
	}
	opened := map[string]net.Listener{}
	for addr, fe := range want {
		if bl := r.listeners[addr]; bl != nil && bl.frontend == fe {
			continue
		}
		if r.listeners[addr] != nil {
			// The address moves to another frontend: it is closed and
			// bound again below, after the old one is closed.
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return fmt.Errorf("bind %s (frontend %s): %w", addr, fe, err)
		}
		opened[addr] = ln
	}

	for _, fe := range p.frontends {
		px := r.proxies[fe.name]
		if px == nil {
			px = &mqttlb.Proxy{Logger: r.logger.With("frontend", fe.name), ConnectTimeout: fe.connectTimeout, IdleTimeout: fe.idleTimeout}
			r.proxies[fe.name] = px
		} else if px.ConnectTimeout != fe.connectTimeout || px.IdleTimeout != fe.idleTimeout {
			r.logger.Warn("frontend timeouts (tcp-request inspect-delay, timeout client/tunnel) change on restart only", "frontend", fe.name)
		}
		px.SetRouting(fe.routes, fe.def)
	}

	for addr, bl := range r.listeners {
		if want[addr] != bl.frontend {
			bl.stopped = true
			bl.ln.Close()
			delete(r.listeners, addr)
			r.logger.Info("unbound", "addr", addr, "frontend", bl.frontend)
		}
	}
	var errs []error
	for addr, fe := range want {
		if r.listeners[addr] != nil {
			continue
		}
		ln := opened[addr]
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				errs = append(errs, fmt.Errorf("bind %s (frontend %s): %w", addr, fe, err))
				continue
			}
		}
		r.serve(addr, fe, ln)
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

// serve starts the Serve loop of a new listener. The caller holds r.mu.
func (r *Runner) serve(addr, frontend string, ln net.Listener) {
	bl := &boundListener{frontend: frontend, ln: ln}
	r.listeners[addr] = bl
	px := r.proxies[frontend]
	r.logger.Info("listening", "addr", ln.Addr().String(), "frontend", frontend)
	r.serving.Go(func() {
		err := px.Serve(ln)
		r.mu.Lock()
		stopped := bl.stopped
		r.mu.Unlock()
		if err != nil && !stopped && !errors.Is(err, mqttlb.ErrProxyClosed) {
			r.logger.Error("listener failed", "addr", addr, "frontend", frontend, "err", err)
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
