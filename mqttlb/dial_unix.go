//go:build unix

package mqttlb

import (
	"context"
	"syscall"
)

// reuseAddr lets an explicit source port be bound while an earlier
// connection from it lingers in TIME_WAIT; connect still refuses a port
// whose whole four-tuple is in use.
func reuseAddr(_ context.Context, _, _ string, c syscall.RawConn) error {
	return setsockoptInt(c, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
}

func setsockoptInt(c syscall.RawConn, level, opt, value int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), level, opt, value)
	}); err != nil {
		return err
	}
	return serr
}
