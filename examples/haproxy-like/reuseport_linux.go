package main

import "syscall"

// soReusePort is SO_REUSEPORT (asm-generic/socket.h), which package
// syscall does not name on Linux.
const soReusePort = 15

// setReusePort is a net.ListenConfig Control function that sets
// SO_REUSEPORT.
func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
	}); err != nil {
		return err
	}
	return serr
}
