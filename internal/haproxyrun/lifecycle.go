package haproxyrun

import (
	"context"
	"os"
	"time"
)

// Start loads the file and puts it to work.
func (r *Runner) Start() error {
	p, err := r.load()
	if err == nil {
		err = r.apply(p)
	}
	if err != nil {
		r.Shutdown(context.Background())
	}
	return err
}

// ServeSignals reloads the file on every value from hup (SIGHUP, with
// signal.Notify) until ctx ends, then shuts down, closing the live
// connections spread over grace. A reload that fails is logged and the
// running configuration stays.
func (r *Runner) ServeSignals(ctx context.Context, hup <-chan os.Signal, grace time.Duration) error {
	for {
		select {
		case <-hup:
			if err := r.Reload(); err != nil {
				r.logger.Error("reload refused; the running configuration stays", "file", r.path, "err", err)
			} else {
				r.logger.Info("reloaded", "file", r.path)
			}
		case <-ctx.Done():
			return r.shutdownWithin(grace)
		}
	}
}

// shutdownWithin shuts down, closing the live connections spread over
// grace.
func (r *Runner) shutdownWithin(grace time.Duration) error {
	r.logger.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return r.Shutdown(sctx)
}
