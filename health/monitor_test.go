package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var quietLogger = slog.New(slog.DiscardHandler)

// probeLog records, inside a synctest bubble, when each backend was probed
// (as the fake time since the bubble's start) and what the monitor reported.
type probeLog struct {
	start time.Time

	mu      sync.Mutex
	probes  map[string][]time.Duration
	events  []timedEvent
	updates []timedUpdate
}

type timedEvent struct {
	at time.Duration
	Event
}

type timedUpdate struct {
	at      time.Duration
	healthy []string
}

func newProbeLog() *probeLog {
	return &probeLog{start: time.Now(), probes: make(map[string][]time.Duration)}
}

func (l *probeLog) now() time.Duration { return time.Since(l.start) }

// checker returns a Checker that records each probe and answers with
// result(addr, time since start).
func (l *probeLog) checker(result func(addr string, at time.Duration) error) Checker {
	return CheckerFunc(func(ctx context.Context, addr string) error {
		at := l.now()
		l.mu.Lock()
		l.probes[addr] = append(l.probes[addr], at)
		l.mu.Unlock()
		return result(addr, at)
	})
}

func (l *probeLog) onEvent(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, timedEvent{at: l.now(), Event: ev})
}

func (l *probeLog) update(healthy []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updates = append(l.updates, timedUpdate{at: l.now(), healthy: healthy})
}

// runFor runs m over addrs for d of fake time, then cancels it and checks
// that Run returned the context's error.
func (l *probeLog) runFor(t *testing.T, m *Monitor, addrs []string, d time.Duration) {
	t.Helper()
	m.OnEvent = l.onEvent
	m.Logger = quietLogger
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, addrs, l.update) }()
	time.Sleep(d)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func seconds(s ...float64) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v * float64(time.Second))
	}
	return out
}

var errProbe = errors.New("probe refused")

// failingBetween fails the probes made in [from, to).
func failingBetween(from, to time.Duration) func(string, time.Duration) error {
	return func(_ string, at time.Duration) error {
		if at >= from && at < to {
			return errProbe
		}
		return nil
	}
}

func TestMonitorRiseFallIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newProbeLog()
		m := &Monitor{
			Checker:      log.checker(failingBetween(3*time.Second, 12*time.Second)),
			Interval:     2 * time.Second,
			FastInterval: 500 * time.Millisecond,
			DownInterval: 5 * time.Second,
			Rise:         2,
			Fall:         3,
			Jitter:       -1,
		}
		log.runFor(t, m, []string{"a:1883"}, 18*time.Second)

		// 0 and 2 s: healthy at Interval. 4 s: first failure, so FastInterval
		// until the third failure at 5 s takes it DOWN. DownInterval: 10 s
		// (still failing), 15 s (first success), FastInterval: 15.5 s is the
		// second success, UP, then Interval again.
		assert.Equal(t, seconds(0, 2, 4, 4.5, 5, 10, 15, 15.5, 17.5), log.probes["a:1883"])
		require.Len(t, log.events, 2)
		down, up := log.events[0], log.events[1]
		assert.Equal(t, 5*time.Second, down.at)
		assert.Equal(t, Event{Addr: "a:1883", Old: Up, New: Down, Err: errProbe, Failures: 3}, down.Event)
		assert.Equal(t, 15500*time.Millisecond, up.at)
		assert.Equal(t, Event{Addr: "a:1883", Old: Down, New: Up, Successes: 2}, up.Event)
		assert.Equal(t, []timedUpdate{
			{at: 0, healthy: []string{"a:1883"}},
			{at: 5 * time.Second, healthy: []string{}},
			{at: 15500 * time.Millisecond, healthy: []string{"a:1883"}},
		}, log.updates)
	})
}

func TestMonitorStateChangeCounts(t *testing.T) {
	// Probes every second; results is the outcome of probe n (true = ok).
	tests := []struct {
		name       string
		rise, fall int
		results    []bool
		// wantChanges are the 0-based probe indexes that change the state.
		wantChanges []int
	}{
		{"defaults rise 2 fall 3", 0, 0,
			[]bool{false, false, false, true, true, true}, []int{2, 4}},
		{"interrupted failures do not add up", 0, 0,
			[]bool{false, false, true, false, false, true, false, false, false}, []int{8}},
		{"interrupted successes do not add up", 2, 1,
			[]bool{false, true, false, true, true}, []int{0, 4}},
		{"fall 1 rise 1", 1, 1,
			[]bool{false, true, false, true}, []int{0, 1, 2, 3}},
		{"rise 3", 3, 1,
			[]bool{false, true, true, true, true}, []int{0, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := newProbeLog()
				m := &Monitor{
					Checker: log.checker(func(_ string, at time.Duration) error {
						n := int(at / time.Second)
						if n < len(tt.results) && !tt.results[n] {
							return errProbe
						}
						return nil
					}),
					Interval: time.Second,
					Rise:     tt.rise,
					Fall:     tt.fall,
					Jitter:   -1,
				}
				log.runFor(t, m, []string{"a:1"}, time.Duration(len(tt.results))*time.Second-time.Millisecond)

				require.Len(t, log.probes["a:1"], len(tt.results))
				var got []int
				for _, ev := range log.events {
					got = append(got, int(ev.at/time.Second))
				}
				assert.Equal(t, tt.wantChanges, got)
				assert.Len(t, log.updates, 1+len(tt.wantChanges))
			})
		})
	}
}

func TestMonitorSpreadsFirstProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backends = 100
		const interval = 2 * time.Second
		addrs := make([]string, backends)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("10.0.0.%d:1883", i)
		}
		log := newProbeLog()
		m := &Monitor{
			Checker:  log.checker(func(string, time.Duration) error { return nil }),
			Interval: interval,
		}
		log.runFor(t, m, addrs, 4*interval)

		step := interval / backends
		var firsts []time.Duration
		for i, addr := range addrs {
			probes := log.probes[addr]
			require.GreaterOrEqual(t, len(probes), 3, addr)
			assert.Equal(t, time.Duration(i)*step, probes[0], "first probe of %s", addr)
			firsts = append(firsts, probes[0])
			for j := 1; j < len(probes); j++ {
				gap := probes[j] - probes[j-1]
				assert.GreaterOrEqual(t, gap, interval-interval*5/100, "%s probe %d", addr, j)
				assert.LessOrEqual(t, gap, interval+interval*5/100, "%s probe %d", addr, j)
			}
		}
		assert.Less(t, slices.Max(firsts), interval)
		assert.Equal(t, backends, len(slices.Compact(slices.Clone(firsts))), "two first probes at one instant")

		// With jitter the later probes drift apart instead of repeating
		// the first round's pattern exactly.
		var secondGaps []time.Duration
		for _, addr := range addrs {
			secondGaps = append(secondGaps, log.probes[addr][1]-log.probes[addr][0])
		}
		assert.Greater(t, len(slices.Compact(slices.Sorted(slices.Values(secondGaps)))), 1, "no jitter")
	})
}

func TestMonitorProbeTimeout(t *testing.T) {
	tests := []struct {
		name  string
		check CheckerFunc
	}{
		{"checker honours its context", func(ctx context.Context, _ string) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{"checker ignores its context", func(context.Context, string) error {
			time.Sleep(time.Minute)
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := newProbeLog()
				m := &Monitor{Checker: tt.check, Interval: 10 * time.Second, Timeout: time.Second, Fall: 1, Jitter: -1}
				log.runFor(t, m, []string{"a:1"}, 61*time.Second)

				require.NotEmpty(t, log.events)
				ev := log.events[0]
				assert.Equal(t, Down, ev.New)
				assert.ErrorIs(t, ev.Err, context.DeadlineExceeded)
				if tt.name == "checker honours its context" {
					assert.Equal(t, time.Second, ev.at)
					assert.Equal(t, time.Second, ev.Duration)
				}
			})
		})
	}
}

func TestMonitorDefaultTimeout(t *testing.T) {
	tests := []struct {
		interval, want time.Duration
	}{
		{0, DefaultTimeout},
		{500 * time.Millisecond, 500 * time.Millisecond},
		{10 * time.Second, DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.interval.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := newProbeLog()
				var deadline time.Duration
				m := &Monitor{
					Checker: CheckerFunc(func(ctx context.Context, _ string) error {
						d, ok := ctx.Deadline()
						require.True(t, ok)
						deadline = time.Until(d)
						return nil
					}),
					Interval: tt.interval,
				}
				log.runFor(t, m, []string{"a:1"}, time.Millisecond)
				assert.Equal(t, tt.want, deadline)
			})
		})
	}
}

func TestMonitorRecoversCheckerPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newProbeLog()
		m := &Monitor{
			Checker:  CheckerFunc(func(context.Context, string) error { panic("broken checker") }),
			Interval: time.Second,
			Jitter:   -1,
		}
		log.runFor(t, m, []string{"a:1", "b:1"}, 3*time.Second)

		require.Len(t, log.events, 2)
		for _, ev := range log.events {
			assert.Equal(t, Down, ev.New)
			assert.ErrorIs(t, ev.Err, ErrPanic)
			assert.ErrorContains(t, ev.Err, "broken checker")
		}
		assert.Equal(t, []string{}, log.updates[len(log.updates)-1].healthy)
	})
}

func TestMonitorHealthyKeepsAddrOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newProbeLog()
		addrs := []string{"c:1", "a:1", "b:1"}
		m := &Monitor{
			Checker: log.checker(func(addr string, at time.Duration) error {
				if addr == "a:1" && at < 10*time.Second {
					return errProbe
				}
				return nil
			}),
			Interval: time.Second,
			Fall:     1,
			Rise:     1,
			Jitter:   -1,
		}
		log.runFor(t, m, addrs, 12*time.Second)

		var got [][]string
		for _, u := range log.updates {
			got = append(got, u.healthy)
		}
		assert.Equal(t, [][]string{{"c:1", "a:1", "b:1"}, {"c:1", "b:1"}, {"c:1", "a:1", "b:1"}}, got)
	})
}

func TestMonitorRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		m     Monitor
		addrs []string
		want  error
	}{
		{"no checker", Monitor{}, []string{"a:1"}, ErrNoChecker},
		{"duplicate address", Monitor{Checker: TCP{}}, []string{"a:1", "b:1", "a:1"}, ErrDuplicateAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := tt.m.Run(t.Context(), tt.addrs, func([]string) { called = true })
			assert.ErrorIs(t, err, tt.want)
			assert.False(t, called, "update called before the error")
		})
	}
}

func TestMonitorEmptySetWaitsForContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newProbeLog()
		m := &Monitor{Checker: log.checker(func(string, time.Duration) error { return nil })}
		log.runFor(t, m, nil, time.Hour)
		assert.Equal(t, []timedUpdate{{at: 0, healthy: []string{}}}, log.updates)
		assert.Empty(t, log.events)
	})
}

func TestMonitorLeavesNoGoroutine(t *testing.T) {
	srv := httptest.NewServer(hiveMQReadiness("UP"))
	defer srv.Close()
	closed := freeLoopbackAddr(t)
	const stalled = "stalled:1883" // its probe is still running when Run ends
	probing := make(chan struct{}, 1)
	var stalledReturned atomic.Bool
	network := All(TCP{}, HTTP{Path: "/api/v1/health/readiness"})
	checker := CheckerFunc(func(ctx context.Context, addr string) error {
		if addr == stalled {
			select {
			case probing <- struct{}{}:
			default:
			}
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // a checker slow to notice
			stalledReturned.Store(true)
			return ctx.Err()
		}
		return network.Check(ctx, addr)
	})
	ignore := goleak.IgnoreCurrent()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	oneLeft := make(chan struct{})
	mon := &Monitor{Checker: checker, Interval: 5 * time.Millisecond, Timeout: time.Minute, Fall: 1, Logger: quietLogger}
	done := make(chan error, 1)
	go func() {
		done <- mon.Run(ctx, []string{serverAddr(srv), closed, stalled}, func(healthy []string) {
			if len(healthy) == 2 {
				assert.Equal(t, []string{serverAddr(srv), stalled}, healthy)
				close(oneLeft)
			}
		})
	}()
	for _, ch := range []chan struct{}{oneLeft, probing} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			require.FailNow(t, "the monitor did not probe as expected")
		}
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.True(t, stalledReturned.Load(), "Run returned before its probes")
	goleak.VerifyNone(t, ignore)
}
