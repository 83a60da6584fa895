//go:build !unix

package mqttlb

import (
	"context"
	"syscall"
)

// reuseAddr is for Unix sockets; elsewhere the port is bound as is.
func reuseAddr(context.Context, string, string, syscall.RawConn) error { return nil }
