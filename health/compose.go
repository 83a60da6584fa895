package health

import (
	"context"
	"errors"
	"sync"
)

// All returns a [Checker] that succeeds when every checker succeeds, for
// example the MQTT port and the HTTP readiness endpoint of a HiveMQ node:
//
//	health.All(health.TCP{}, health.HTTP{Port: 8889, Path: "/api/v1/health/readiness"})
//
// The checkers run concurrently. The first failure cancels the others and
// is returned once they have all returned. All of no checkers succeeds. A
// panicking checker counts as failed (see [ErrPanic]).
func All(checkers ...Checker) Checker {
	return CheckerFunc(func(ctx context.Context, addr string) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			wg    sync.WaitGroup
			once  sync.Once
			first error
		)
		for _, c := range checkers {
			wg.Go(func() {
				if err := checkSafely(ctx, c, addr); err != nil {
					once.Do(func() {
						first = err
						cancel()
					})
				}
			})
		}
		wg.Wait()
		return first
	})
}

// Any returns a [Checker] that succeeds when at least one checker succeeds.
// The checkers run concurrently; the first success cancels the others and
// is returned once they have all returned. When all fail, the error joins
// every failure. Any of no checkers fails with [ErrNoChecker]. A panicking
// checker counts as failed (see [ErrPanic]).
func Any(checkers ...Checker) Checker {
	return CheckerFunc(func(ctx context.Context, addr string) error {
		if len(checkers) == 0 {
			return ErrNoChecker
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make([]error, len(checkers))
		var wg sync.WaitGroup
		for i, c := range checkers {
			wg.Go(func() {
				errs[i] = checkSafely(ctx, c, addr)
				if errs[i] == nil {
					cancel()
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				return nil
			}
		}
		return errors.Join(errs...)
	})
}
