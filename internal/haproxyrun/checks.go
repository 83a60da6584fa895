package haproxyrun

import (
	"context"
	"log/slog"
	"time"

	"github.com/mqttlb/mqttlb/health"
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// checkGroup is the servers of one backend that share their check
// settings, probed by one health.Monitor. A backend whose servers differ
// (another "port", "inter" or "rise") has several groups; each marks its
// own servers down and up in the pool, with the failed probe's error.
type checkGroup struct {
	backend string
	monitor *health.Monitor
	addrs   []string
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
	byKey := map[checkKey]*checkGroup{}
	var groups []*checkGroup
	for _, s := range be.Servers {
		if !s.Check {
			continue
		}
		k := checkKey{s.CheckPort, s.Inter, s.FastInter, s.DownInter, s.Rise, s.Fall, s.CheckSendProxy}
		g := byKey[k]
		if g == nil {
			g = &checkGroup{backend: be.Name, monitor: &health.Monitor{
				Checker:      checker(be, k),
				Interval:     k.inter,
				FastInterval: k.fastInter,
				DownInterval: k.downInter,
				Timeout:      be.CheckTimeout,
				Rise:         k.rise,
				Fall:         k.fall,
				Logger:       logger.With("backend", be.Name),
				OnEvent:      markIn(pool),
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

// markIn returns a Monitor's OnEvent that marks servers down and up in
// the pool.
func markIn(pool *mqttlb.Pool) func(health.Event) {
	return func(ev health.Event) {
		if ev.New == health.Up {
			pool.MarkUp(ev.Addr)
		} else {
			pool.MarkDown(ev.Addr, ev.Err)
		}
	}
}

// run probes the group until ctx ends.
func (g *checkGroup) run(ctx context.Context) {
	g.monitor.Run(ctx, g.addrs, nil)
}
