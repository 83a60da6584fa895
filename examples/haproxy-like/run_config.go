package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
)

// checkConfig is "haproxy -c -f path": it prints every problem of the
// file as "file:line: message" (warnings too, marked as such) and
// returns the exit status, 0 for a file that runs and 1 otherwise.
func checkConfig(path string, out io.Writer) int {
	cfg, err := haproxycfg.ParseFile(path)
	if err == nil {
		var p *plan
		p, err = buildPlan(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			for _, w := range p.warnings {
				fmt.Fprintf(out, "%s (warning)\n", w)
			}
			fmt.Fprintln(out, "Configuration file is valid")
			return 0
		}
	}
	var diags haproxycfg.Errors
	if errors.As(err, &diags) {
		for _, d := range diags {
			fmt.Fprintln(out, d)
		}
	} else {
		fmt.Fprintln(out, err)
	}
	return 1
}

// runConfigFile runs the configuration at path until SIGINT or SIGTERM,
// reloading it on SIGHUP.
func runConfigFile(path string, grace time.Duration, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	r := newConfigRunner(path, logger)
	if err := r.Start(); err != nil {
		return err
	}
	return r.serveSignals(ctx, hup, grace)
}

// Start loads the file and puts it to work.
func (r *configRunner) Start() error {
	p, err := r.load()
	if err == nil {
		err = r.apply(p)
	}
	if err != nil {
		r.Shutdown(context.Background())
	}
	return err
}

// serveSignals reloads the file on every value from hup until ctx ends,
// then shuts down, closing the live connections spread over grace.
func (r *configRunner) serveSignals(ctx context.Context, hup <-chan os.Signal, grace time.Duration) error {
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
func (r *configRunner) shutdownWithin(grace time.Duration) error {
	r.logger.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return r.Shutdown(sctx)
}
