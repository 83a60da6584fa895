//go:build !linux

package mqttlb

import (
	"context"
	"syscall"
)

// bindAddressNoPort is Linux's; elsewhere bind picks the port.
func bindAddressNoPort(context.Context, string, string, syscall.RawConn) error { return nil }
