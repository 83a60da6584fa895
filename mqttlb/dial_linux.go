package mqttlb

import (
	"context"
	"syscall"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h), which
// package syscall does not name.
const ipBindAddressNoPort = 24

// bindAddressNoPort defers the choice of the source port from bind to
// connect, so that the kernel picks a port free for this destination
// rather than one free for every destination (which would cap a source
// address at one port range in total instead of one per broker).
func bindAddressNoPort(_ context.Context, _, _ string, c syscall.RawConn) error {
	return setsockoptInt(c, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
}
