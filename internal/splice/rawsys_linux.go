//go:build linux

package splice

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"
)

// The event loops call the kernel directly (RawSyscall) on their own
// non-blocking sockets: such a call never blocks, so the runtime's
// enter/exit-syscall bookkeeping, and the monitor thread that takes the
// processor away from a thread it believes blocked in the kernel, only
// cost time. Under connection churn a loopback write or close runs the
// peer's TCP work inline and often lasts long enough for that hand-off
// to happen, waking a second thread for nothing. The same holds for the
// accept, connect and option calls of a Conn (its sockets are
// non-blocking too) and for polling epoll with a zero timeout.

func rawRead(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	return int(n), errno
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	return int(n), errno
}

// bufPtr is p's first byte's address, nil for an empty p. Callers
// convert it to uintptr inside the system call's argument list, where
// the compiler keeps the buffer alive and in place (unsafe.Pointer rule 4).
func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}

// rawWriteLast writes bytes that the socket's end will follow (a
// shutdown or close): MSG_MORE holds back a last partial segment, so
// that the FIN the end sends rides on it (tcp_send_fin puts the FIN on
// an unsent tail segment). One packet then carries the last bytes and
// the end, which saves the peer's stack a packet and, often, a wake-up.
func rawWriteLast(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), syscall.MSG_MORE, 0, 0)
	return int(n), errno
}

func rawClose(fd int) {
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawShutdownWrite(fd int) syscall.Errno {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(fd), syscall.SHUT_WR, 0)
	return errno
}

func rawSetNoDelay(fd int) { rawSetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) }

// tcpQuickAck is TCP_QUICKACK (linux/tcp.h), which package syscall lacks.
const tcpQuickAck = 12

// rawDelayHandshakeAck turns quick ACKs off on a socket about to connect,
// as HAProxy's "option tcp-smart-connect" does: the last packet of the
// handshake then rides on the first data, the CONNECT that the proxy
// writes at once, which saves a packet, and its processing at both ends,
// per backend connection.
func rawDelayHandshakeAck(fd int) { rawSetsockoptInt(fd, syscall.IPPROTO_TCP, tcpQuickAck, 0) }

func rawSetsockoptInt(fd, level, opt int, value int32) {
	syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&value)), 4, 0)
}

// rawAccept4 accepts a non-blocking, close-on-exec socket and returns
// its peer's address.
func rawAccept4(fd int) (int, netip.AddrPort, syscall.Errno) {
	var rsa syscall.RawSockaddrAny
	size := uint32(syscall.SizeofSockaddrAny)
	nfd, _, errno := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&size)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return int(nfd), rawAddrPort(&rsa), 0
}

// rawLocalAddr returns the socket's local address, the zero AddrPort when
// the kernel does not tell.
func rawLocalAddr(fd int) netip.AddrPort {
	var rsa syscall.RawSockaddrAny
	size := uint32(syscall.SizeofSockaddrAny)
	_, _, errno := syscall.RawSyscall(syscall.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return netip.AddrPort{}
	}
	return rawAddrPort(&rsa)
}

// rawConnect starts or checks a connection of a non-blocking socket.
func rawConnect(fd int, to netip.AddrPort) syscall.Errno {
	if to.Addr().Is4() {
		sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: to.Addr().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], to.Port())
		_, _, errno := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet4)
		return errno
	}
	sa := syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: to.Addr().As16()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], to.Port())
	_, _, errno := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet6)
	return errno
}

// rawAddrPort reads an IPv4 or IPv6 socket address.
func rawAddrPort(rsa *syscall.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// rawEpollPoll collects ready events without waiting.
func rawEpollPoll(epfd int, events []syscall.EpollEvent) int {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}
