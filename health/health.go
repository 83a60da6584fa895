// Package health tells which MQTT broker nodes can take connections.
//
// A [Checker] probes one backend address once: [TCP] connects (HAProxy's
// plain "check"), [HTTP] asks a readiness endpoint such as HiveMQ's
// /api/v1/health/readiness on port 8889 ("option httpchk"), and [MQTTPing]
// completes a whole MQTT exchange with a unique client ID. [All] and [Any]
// combine checkers. A [Monitor] runs a checker against every backend at an
// interval and turns the results into UP and DOWN states with HAProxy's
// rise and fall counts, reporting the healthy set to a callback:
//
//	mon := &health.Monitor{
//		Checker: health.All(
//			health.TCP{},
//			health.HTTP{Port: 8889, Path: "/api/v1/health/readiness"},
//		),
//		Interval: 2 * time.Second, // inter 2s
//		Rise:     2,               // rise 2
//		Fall:     3,               // fall 3
//	}
//	go mon.Run(ctx, []string{"10.0.0.1:1883", "10.0.0.2:1883"}, pool.SetHealthy)
//
// HAProxy's health-check settings map onto this package as follows:
//
//	check                             TCP{}
//	check port 8889                   TCP{Port: 8889}, HTTP{Port: 8889}
//	check-send-proxy                  TCP{ProxyHeader: true}, MQTTPing{ProxyHeader: true}
//	option httpchk GET /path          HTTP{Path: "/path"}
//	http-check expect status 200      HTTP{ExpectStatus: []int{200}}
//	http-check expect string UP       HTTP{ExpectBody: "UP"}
//	inter, fastinter, downinter       Monitor.Interval, FastInterval, DownInterval
//	rise, fall                        Monitor.Rise, Fall
//	timeout check                     Monitor.Timeout
//	spread-checks 5                   Monitor.Jitter = 0.05
//
// Every checker of this package honours the context's deadline and
// cancellation; a check whose context carries no deadline is limited to
// [DefaultTimeout].
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// DefaultTimeout limits a check whose context has no deadline, and is the
// longest default probe timeout of a [Monitor].
const DefaultTimeout = 2 * time.Second

// Errors returned by the checkers. They are wrapped with details; test
// them with errors.Is.
var (
	// ErrNoChecker is returned by [Monitor.Run] without a Checker and by
	// [Any] of no checkers.
	ErrNoChecker = errors.New("health: no checker")
	// ErrPanic marks a check that panicked; the panic value follows.
	ErrPanic = errors.New("health: checker panicked")
	// ErrPort is returned for a check port outside 0 to 65535.
	ErrPort = errors.New("health: invalid port")
)

// Checker probes one backend.
//
// Check returns nil when the backend at addr (host:port) is healthy. It
// must return once ctx ends. Implementations are safe for concurrent use:
// a [Monitor] calls one Checker for many backends at once.
type Checker interface {
	Check(ctx context.Context, addr string) error
}

// CheckerFunc adapts a function to a [Checker].
type CheckerFunc func(ctx context.Context, addr string) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context, addr string) error { return f(ctx, addr) }

// Dialer opens the connection of a probe. *net.Dialer implements it; a
// custom one can bind a source address or go through a tunnel.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// checkSafely runs c and turns a panic into an error wrapping [ErrPanic],
// so that one broken checker cannot take the process down with it.
func checkSafely(ctx context.Context, c Checker, addr string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return c.Check(ctx, addr)
}

// withPort returns addr with its port replaced by port, or addr itself
// when port is 0 (probe the backend's own port).
func withPort(addr string, port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("%w %d", ErrPort, port)
	}
	if port == 0 {
		return addr, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("health: backend address %q: %w", addr, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// withDefaultTimeout gives ctx the deadline [DefaultTimeout] from now
// unless it already has one.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// dialProbe connects to addr for one probe. Until release is called, the
// connection's deadline follows ctx: reads and writes fail at ctx's
// deadline or as soon as ctx is canceled. release closes the connection.
func dialProbe(ctx context.Context, d Dialer, addr string) (conn net.Conn, release func(), err error) {
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	// A deadline in the past makes blocked reads and writes return at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	release = func() {
		stop()
		conn.Close()
	}
	return conn, release, nil
}

// ioError adds the context's error to an error of a probe connection: when
// ctx has ended, the deadline set by dialProbe is what cut the I/O short,
// and errors.Is(err, context.DeadlineExceeded) should say so.
func ioError(ctx context.Context, err error) error {
	cause := ctx.Err()
	if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline can pass an instant before the
		// context's timer fires.
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
			cause = context.DeadlineExceeded
		}
	}
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}
