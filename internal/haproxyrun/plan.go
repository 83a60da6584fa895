package haproxyrun

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/sticky"
)

// plan is what one configuration file turns into. Building it touches no
// socket; apply (reload.go) puts it to work.
type plan struct {
	frontends []*frontendPlan
	pools     map[string]*mqttlb.Pool
	// backends are the balance.Backends by backend and server name, so
	// that a reload keeps the ones whose settings did not change (with
	// their connection counts).
	backends map[string]map[string]*balance.Backend
	checks   []*checkGroup
	stats    []*statsPlan
	warnings []haproxycfg.Diagnostic
}

// frontendPlan is one frontend's proxy settings and routing.
type frontendPlan struct {
	name           string
	binds          []bindPlan
	routes         []mqttlb.Route
	def            *mqttlb.Pool
	connectTimeout time.Duration
	idleTimeout    time.Duration
	dontLogNormal  bool
}

// buildPlan turns a parsed configuration into pools, routes and health
// checks. prev, when not nil, is the plan in force: servers and stick
// tables whose settings did not change are carried over. Problems are
// returned as haproxycfg.Errors, at the line of the directive.
func buildPlan(cfg *haproxycfg.Config, prev *plan, logger *slog.Logger) (*plan, error) {
	b := &planBuilder{cfg: cfg, prev: prev, logger: logger, plan: &plan{
		pools:    map[string]*mqttlb.Pool{},
		backends: map[string]map[string]*balance.Backend{},
		warnings: slices.Clone(cfg.Warnings),
	}}
	for _, be := range cfg.Backends {
		b.backend(be)
	}
	for _, fe := range cfg.Frontends {
		b.frontend(fe)
	}
	byLine := func(x, y haproxycfg.Diagnostic) int { return x.Line - y.Line }
	if len(b.errs) > 0 {
		slices.SortStableFunc(b.errs, byLine)
		return nil, b.errs
	}
	slices.SortStableFunc(b.plan.warnings, byLine)
	return b.plan, nil
}

type planBuilder struct {
	cfg    *haproxycfg.Config
	prev   *plan
	logger *slog.Logger
	plan   *plan
	errs   haproxycfg.Errors
}

func (b *planBuilder) errorf(file string, line int, format string, args ...any) {
	b.errs = append(b.errs, haproxycfg.Diagnostic{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (b *planBuilder) warnf(file string, line int, format string, args ...any) {
	b.plan.warnings = append(b.plan.warnings, haproxycfg.Diagnostic{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// backend builds the pool of one backend section.
func (b *planBuilder) backend(be *haproxycfg.Backend) {
	bal, err := balance.ByName(be.Balance, be.BalanceArgs...)
	if err != nil {
		b.errorf(be.File, be.Line, "backend %q: %v", be.Name, err)
		return
	}
	if be.Mode != "tcp" {
		b.errorf(be.File, be.Line, "backend %q: mode %s: backends carry MQTT over TCP here", be.Name, be.Mode)
	}
	pool := &mqttlb.Pool{
		Name:        be.Name,
		Balancer:    bal,
		AllBackups:  be.AllBackups,
		DialTimeout: be.ConnectTimeout,
		Retries:     be.Retries,
		Logger:      b.logger,
	}
	if be.Retries == 0 {
		pool.Retries = -1
	}
	if be.StickOn != "" {
		pool.Sticky = b.stickyTable(be)
	}
	servers := map[string]*balance.Backend{}
	var backends []*balance.Backend
	sources := map[string]string{}
	seen := map[string]int{}
	for _, s := range be.Servers {
		if line, dup := seen[s.Addr]; dup {
			b.errorf(be.File, s.Line, "server %s: address %s is also server line %d's; one backend cannot list an address twice here", s.Name, s.Addr, line)
			continue
		}
		seen[s.Addr] = s.Line
		if s.Source != "" {
			sources[s.Addr] = s.Source
		}
		pool.ShutdownSessionsOnDown = pool.ShutdownSessionsOnDown || s.ShutdownSessionsOnDown
		pool.ShutdownBackupSessionsOnUp = pool.ShutdownBackupSessionsOnUp || s.ShutdownBackupSessionsOnUp
		backend := b.reuseBackend(be.Name, s)
		servers[s.Name] = backend
		backends = append(backends, backend)
	}
	if len(sources) > 0 {
		pool.DialContext = sourceDialer(sources)
	}
	opts, at, err := proxyHeader(be)
	if err != nil {
		b.errorf(be.File, at.Line, "%v", err)
	}
	pool.ProxyProtocol = opts
	pool.SetBackends(backends)
	for _, s := range be.Servers {
		if s.Disabled {
			pool.SetState(s.Name, mqttlb.StateMaint)
		}
	}
	b.plan.pools[be.Name] = pool
	b.plan.backends[be.Name] = servers
	b.plan.checks = append(b.plan.checks, checkGroups(b.cfg, be, pool, b.logger)...)
}

// reuseBackend returns the server's balance.Backend: the one of the plan
// in force when nothing about it changed, else a new one.
func (b *planBuilder) reuseBackend(backend string, s *haproxycfg.Server) *balance.Backend {
	want := balance.Backend{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Backup: s.Backup, MaxConn: s.MaxConn}
	if s.Weight == 0 {
		want.Weight = -1 // HAProxy "weight 0": no new connections
	}
	if b.prev != nil {
		if old := b.prev.backends[backend][s.Name]; old != nil &&
			old.Addr == want.Addr && old.Weight == want.Weight && old.Backup == want.Backup && old.MaxConn == want.MaxConn {
			return old
		}
	}
	return &balance.Backend{Name: want.Name, Addr: want.Addr, Weight: want.Weight, Backup: want.Backup, MaxConn: want.MaxConn}
}

// stickyTable returns the backend's stick table: the one in force when its
// settings did not change, so a reload keeps every client's placement.
func (b *planBuilder) stickyTable(be *haproxycfg.Backend) *sticky.Table {
	ttl, size := be.StickTable.Expire, be.StickTable.Size
	if ttl == 0 {
		ttl = -1 // HAProxy: no expire, entries leave only when the table is full
	}
	if b.prev != nil {
		if old := b.prev.pools[be.Name]; old != nil && old.Sticky != nil && old.Sticky.TTL == ttl && old.Sticky.MaxEntries == size {
			return old.Sticky
		}
	}
	return &sticky.Table{TTL: ttl, MaxEntries: size}
}

// frontend builds the routing of one frontend section.
func (b *planBuilder) frontend(fe *haproxycfg.Frontend) {
	if fe.Stats != nil {
		st := &statsPlan{name: fe.Name, stats: *fe.Stats}
		for _, bind := range fe.Binds {
			if bind.SSL || bind.AcceptProxy {
				b.errorf(fe.File, bind.Line, "bind %s: the statistics page is served over plain HTTP here", bind.Addr)
				continue
			}
			st.binds = append(st.binds, bind.Addr)
		}
		b.plan.stats = append(b.plan.stats, st)
		return
	}
	fp := &frontendPlan{name: fe.Name, connectTimeout: fe.InspectDelay, idleTimeout: fe.ClientTimeout, dontLogNormal: fe.DontLogNormal}
	if fe.TunnelTimeout > 0 {
		fp.idleTimeout = fe.TunnelTimeout
	}
	if fe.MaxConn > 0 {
		b.warnf(fe.File, fe.Line, "frontend %q: maxconn %d is not enforced; the process's descriptor limit applies", fe.Name, fe.MaxConn)
	}
	for _, bind := range fe.Binds {
		bp, err := b.bindPlan(fe, bind)
		if err != nil {
			b.errorf(fe.File, bind.Line, "%v", err)
			continue
		}
		fp.binds = append(fp.binds, bp)
	}
	if rules := fe.ContentRules; len(rules) > 0 {
		// A rejected connection is routed to no pool, which refuses it
		// with "server unavailable".
		fp.routes = append(fp.routes, mqttlb.Route{Name: "tcp-request content reject", Match: contentRejects(rules)})
	}
	for _, u := range fe.UseBackends {
		fp.routes = append(fp.routes, mqttlb.Route{
			Name:  "use_backend " + u.Backend,
			Match: mqttlb.MatcherFunc(u.Cond.Match),
			Pool:  b.plan.pools[u.Backend],
		})
	}
	if fe.DefaultBackend != "" {
		fp.def = b.plan.pools[fe.DefaultBackend]
	}
	b.plan.frontends = append(b.plan.frontends, fp)
}

// contentRejects evaluates "tcp-request content" rules in order: the first
// whose condition holds decides, reject or accept; none means accept.
func contentRejects(rules []haproxycfg.ContentRule) mqttlb.Matcher {
	return mqttlb.MatcherFunc(func(ci balance.ConnInfo) bool {
		for _, r := range rules {
			if r.Cond.Match(ci) {
				return r.Action == "reject"
			}
		}
		return false
	})
}
