package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mqttlb/mqttlb/health"
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// checkGroup is the servers of one backend that share their check
// settings, probed by one health.Monitor. A backend whose servers differ
// (another "port", "inter" or "rise") has several groups; their results
// are merged before they reach the pool (see healthMerge).
type checkGroup struct {
	backend string
	monitor *health.Monitor
	addrs   []string
	merge   *healthMerge
}

// checkKey is what servers of one group have in common.
type checkKey struct {
	port                        int
	inter, fastInter, downInter time.Duration
	rise, fall                  int
	sendProxy                   bool
}

// checkGroups returns the health checks of a backend: one group per set
// of check settings among its servers with "check". Servers without
// "check" are always up, as in HAProxy.
func checkGroups(cfg *haproxycfg.Config, be *haproxycfg.Backend, pool *mqttlb.Pool, logger *slog.Logger) []*checkGroup {
	merge := &healthMerge{pool: pool, groups: map[*checkGroup][]string{}}
	byKey := map[checkKey]*checkGroup{}
	var groups []*checkGroup
	for _, s := range be.Servers {
		if !s.Check {
			merge.always = append(merge.always, s.Addr)
			continue
		}
		k := checkKey{s.CheckPort, s.Inter, s.FastInter, s.DownInter, s.Rise, s.Fall, s.CheckSendProxy}
		g := byKey[k]
		if g == nil {
			g = &checkGroup{backend: be.Name, merge: merge, monitor: &health.Monitor{
				Checker:      checker(be, k),
				Interval:     k.inter,
				FastInterval: k.fastInter,
				DownInterval: k.downInter,
				Timeout:      be.CheckTimeout,
				Rise:         k.rise,
				Fall:         k.fall,
				Logger:       logger.With("backend", be.Name),
			}}
			if cfg.Global.SpreadChecks > 0 {
				g.monitor.Jitter = float64(cfg.Global.SpreadChecks) / 100
			}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.addrs = append(g.addrs, s.Addr)
	}
	return groups
}

// checker is the probe of a group: an HTTP request with "option httpchk",
// else a TCP connect.
func checker(be *haproxycfg.Backend, k checkKey) health.Checker {
	if hc := be.HTTPCheck; hc != nil {
		return health.HTTP{
			Port:         k.port,
			Method:       hc.Method,
			Path:         hc.URI,
			ExpectStatus: hc.ExpectStatus,
			ExpectBody:   hc.ExpectString,
		}
	}
	return health.TCP{Port: k.port, ProxyHeader: k.sendProxy}
}

// run probes the group until ctx ends.
func (g *checkGroup) run(ctx context.Context) {
	g.monitor.Run(ctx, g.addrs, func(healthy []string) { g.merge.update(g, healthy) })
}

// healthMerge combines the healthy sets of a backend's check groups, and
// its unchecked servers, into the one set the pool takes.
type healthMerge struct {
	pool   *mqttlb.Pool
	always []string

	mu     sync.Mutex
	groups map[*checkGroup][]string
}

func (m *healthMerge) update(g *checkGroup, healthy []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups[g] = healthy
	all := slices.Clone(m.always)
	for _, h := range m.groups {
		all = append(all, h...)
	}
	// Groups that have not reported yet count their servers as up, as a
	// Monitor starts every server up.
	for _, s := range m.pool.Addrs() {
		if !slices.Contains(all, s) && !m.reported(s) {
			all = append(all, s)
		}
	}
	m.pool.SetHealthy(all)
}

// reported says whether addr belongs to a group that has reported.
func (m *healthMerge) reported(addr string) bool {
	for g := range m.groups {
		if slices.Contains(g.addrs, addr) {
			return true
		}
	}
	return false
}
