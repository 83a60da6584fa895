//go:build linux

package faultshim

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// Unresponsive returns a loopback address whose listener never completes
// a handshake: its accept queue is full (backlog 0, filled), so the
// kernel drops new SYNs and dials to it hang until their timeout, as to a
// host that is down.
func Unresponsive(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("faultshim: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("faultshim: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("faultshim: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("faultshim: %v", err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue; the connections stay until the test ends.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}
