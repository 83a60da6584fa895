package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of a [Monitor], as in HAProxy.
const (
	DefaultInterval = 2 * time.Second // HAProxy "inter"
	DefaultRise     = 2               // HAProxy "rise"
	DefaultFall     = 3               // HAProxy "fall"
	DefaultJitter   = 0.05            // fraction of each wait, HAProxy "spread-checks 5"
	maxJitter       = 0.5
)

// ErrDuplicateAddr is returned by [Monitor.Run] when an address is listed
// twice.
var ErrDuplicateAddr = errors.New("health: duplicate backend address")

// State is a backend's health as a [Monitor] sees it.
type State uint8

const (
	// Down backends are left out of the healthy set.
	Down State = iota
	// Up backends are in the healthy set.
	Up
)

// String returns "UP" or "DOWN".
func (s State) String() string {
	if s == Up {
		return "UP"
	}
	return "DOWN"
}

// Event reports a backend's change of [State].
type Event struct {
	// Addr is the backend's address as given to [Monitor.Run].
	Addr string
	// Old and New are the states before and after the change.
	Old, New State
	// Err is the error of the probe that made the backend go DOWN; nil
	// when it came UP.
	Err error
	// Successes and Failures count the consecutive successful and failed
	// probes up to this one; one of them is 0.
	Successes, Failures int
	// Duration is how long the last probe took.
	Duration time.Duration
}

// Monitor probes a set of backends with a [Checker] at regular intervals
// and reports which are healthy, with HAProxy's rise and fall semantics:
// an UP backend goes DOWN after Fall consecutive failed probes, a DOWN
// backend comes UP after Rise consecutive successful ones.
//
// Every backend starts UP, so that a new pool serves at once, and goes
// DOWN only after Fall failures, as with HAProxy's "init-state fully-up"
// (HAProxy's default, "init-state up", takes a new server out at its first
// failure instead).
//
// A probe is limited to Timeout; an error, a timeout or a panic inside the
// Checker is a failure. The wait before the next probe starts when a probe
// ends, as in HAProxy, and depends on the backend's state: FastInterval
// while a change is pending (an UP backend with failures, a DOWN backend
// with successes), DownInterval while it is DOWN, Interval otherwise. The
// first probes of the backends are spread evenly over Interval, and each
// wait is varied at random by up to Jitter, so that many backends are not
// probed in one burst.
//
// The fields are read when Run starts and must not change while it runs.
// The zero value with a Checker is ready to use. A Monitor holds no state
// of its own, so Run may be called again, or concurrently for other sets.
type Monitor struct {
	// Checker probes one backend. Required.
	Checker Checker
	// Interval is the wait between probes of a settled backend;
	// 0 or less means DefaultInterval (HAProxy "inter").
	Interval time.Duration
	// FastInterval is the wait while a state change is pending;
	// 0 or less means Interval (HAProxy "fastinter").
	FastInterval time.Duration
	// DownInterval is the wait while a backend is DOWN with no success
	// yet; 0 or less means Interval (HAProxy "downinter").
	DownInterval time.Duration
	// Timeout limits each probe; 0 or less means the smaller of Interval
	// and DefaultTimeout (HAProxy "timeout check").
	Timeout time.Duration
	// Rise is the number of consecutive successes that bring a DOWN
	// backend UP; 0 or less means DefaultRise.
	Rise int
	// Fall is the number of consecutive failures that take an UP backend
	// DOWN; 0 or less means DefaultFall.
	Fall int
	// Jitter is the largest fraction of each wait that is randomly added
	// or removed; 0 means DefaultJitter (5%), a negative value means no
	// jitter, and values above 0.5 count as 0.5.
	Jitter float64
	// OnEvent, when not nil, is called on every change of state.
	OnEvent func(Event)
	// Logger receives state changes (Warn for DOWN, Info for UP), panics
	// in the Checker (Error) and failed probes (Debug); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Run probes addrs until ctx ends and returns ctx's error, after every
// probe has returned. It returns at once with an error when Checker is nil
// or an address is listed twice.
//
// update, when not nil, is called at the start with all of addrs (every
// backend starts UP) and then after every change with the addresses that
// are UP, in the order of addrs. The slice is the callee's to keep. update
// and OnEvent are called from Run's goroutine, one call at a time, never
// after Run has returned; while one runs, other state changes wait (the
// probes go on), so keep them quick.
//
// The set of backends is fixed for one Run. To follow a changing set,
// cancel ctx, wait for Run to return and start it again with the new set;
// every backend then starts UP again.
func (m *Monitor) Run(ctx context.Context, addrs []string, update func(healthy []string)) error {
	if m.Checker == nil {
		return ErrNoChecker
	}
	seen := make(map[string]bool, len(addrs))
	for _, addr := range addrs {
		if seen[addr] {
			return fmt.Errorf("%w: %s", ErrDuplicateAddr, addr)
		}
		seen[addr] = true
	}
	cfg := m.settings()

	up := make([]bool, len(addrs))
	for i := range up {
		up[i] = true
	}
	if update != nil {
		update(append(make([]string, 0, len(addrs)), addrs...))
	}

	changes := make(chan stateChange)
	var wg sync.WaitGroup
	for i, addr := range addrs {
		firstDelay := cfg.interval * time.Duration(i) / time.Duration(len(addrs))
		wg.Go(func() { cfg.probeBackend(ctx, i, addr, firstDelay, changes) })
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case c := <-changes:
			up[c.index] = c.event.New == Up
			healthy := make([]string, 0, len(addrs))
			for i, addr := range addrs {
				if up[i] {
					healthy = append(healthy, addr)
				}
			}
			cfg.logChange(c.event, len(healthy), len(addrs))
			if cfg.onEvent != nil {
				cfg.onEvent(c.event)
			}
			if update != nil {
				update(healthy)
			}
		}
	}
}

// stateChange carries an [Event] from a backend's goroutine to Run.
type stateChange struct {
	index int
	event Event
}

// monitorSettings are a Monitor's fields with the defaults applied.
type monitorSettings struct {
	checker                       Checker
	interval, fast, down, timeout time.Duration
	rise, fall                    int
	jitter                        float64
	onEvent                       func(Event)
	logger                        *slog.Logger
}

func (m *Monitor) settings() monitorSettings {
	s := monitorSettings{
		checker:  m.Checker,
		interval: m.Interval,
		fast:     m.FastInterval,
		down:     m.DownInterval,
		timeout:  m.Timeout,
		rise:     m.Rise,
		fall:     m.Fall,
		jitter:   min(m.Jitter, maxJitter),
		onEvent:  m.OnEvent,
		logger:   m.Logger,
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.fast <= 0 {
		s.fast = s.interval
	}
	if s.down <= 0 {
		s.down = s.interval
	}
	if s.timeout <= 0 {
		s.timeout = min(s.interval, DefaultTimeout)
	}
	if s.rise <= 0 {
		s.rise = DefaultRise
	}
	if s.fall <= 0 {
		s.fall = DefaultFall
	}
	switch {
	case s.jitter == 0:
		s.jitter = DefaultJitter
	case s.jitter < 0:
		s.jitter = 0
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s
}

// backendHealth is one backend's state and consecutive counts.
type backendHealth struct {
	state               State
	successes, failures int
}

// record counts one probe result and reports whether the state changed.
func (b *backendHealth) record(err error, rise, fall int) (changed bool) {
	if err == nil {
		b.failures = 0
		b.successes++
		if b.state == Down && b.successes >= rise {
			b.state = Up
			return true
		}
		return false
	}
	b.successes = 0
	b.failures++
	if b.state == Up && b.failures >= fall {
		b.state = Down
		return true
	}
	return false
}

// pending reports whether a state change has begun: an UP backend with
// failures or a DOWN backend with successes.
func (b *backendHealth) pending() bool {
	if b.state == Up {
		return b.failures > 0
	}
	return b.successes > 0
}

// probeBackend is the goroutine of one backend: it probes addr after
// firstDelay and then at the interval its state calls for, and sends every
// change of state to changes, until ctx ends.
func (s *monitorSettings) probeBackend(ctx context.Context, index int, addr string, firstDelay time.Duration, changes chan<- stateChange) {
	health := backendHealth{state: Up}
	timer := time.NewTimer(firstDelay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		took, err := s.probe(ctx, addr)
		if ctx.Err() != nil {
			return // the probe was cut short by Run's end, not the backend
		}
		old := health.state
		if health.record(err, s.rise, s.fall) {
			ev := Event{
				Addr: addr, Old: old, New: health.state, Err: err,
				Successes: health.successes, Failures: health.failures, Duration: took,
			}
			select {
			case changes <- stateChange{index: index, event: ev}:
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(s.jittered(s.wait(&health)))
	}
}

// probe runs one check of addr within the probe timeout.
func (s *monitorSettings) probe(ctx context.Context, addr string) (took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	err = checkSafely(ctx, s.checker, addr)
	took = time.Since(start)
	if err == nil && ctx.Err() != nil {
		// A checker that ignores its context has still missed the timeout.
		err = fmt.Errorf("health: check of %s took %v, longer than the timeout %v: %w",
			addr, took, s.timeout, context.DeadlineExceeded)
	}
	switch {
	case errors.Is(err, ErrPanic):
		s.logger.Error("health: checker panicked", "addr", addr, "err", err)
	case err != nil && s.logger.Enabled(ctx, slog.LevelDebug):
		s.logger.Debug("health: check failed", "addr", addr, "err", err, "duration", took)
	}
	return took, err
}

// wait returns the wait before the next probe of a backend in state b.
func (s *monitorSettings) wait(b *backendHealth) time.Duration {
	switch {
	case b.pending():
		return s.fast
	case b.state == Down:
		return s.down
	}
	return s.interval
}

// jittered varies d at random by up to the jitter fraction either way.
func (s *monitorSettings) jittered(d time.Duration) time.Duration {
	if s.jitter == 0 {
		return d
	}
	return d + time.Duration(s.jitter*(2*rand.Float64()-1)*float64(d))
}

// logChange logs a change of state with the size of the healthy set.
func (s *monitorSettings) logChange(ev Event, healthy, total int) {
	attrs := []any{
		"addr", ev.Addr, "successes", ev.Successes, "failures", ev.Failures,
		"check_duration", ev.Duration, "healthy", healthy, "total", total,
	}
	if ev.New == Down {
		s.logger.Warn("health: backend DOWN", append(attrs, "err", ev.Err)...)
		return
	}
	s.logger.Info("health: backend UP", attrs...)
}
