//go:build linux

package splice

import (
	"syscall"
	"unsafe"
)

// The event loops call the kernel directly (RawSyscall) on their own
// non-blocking sockets: such a call never blocks, so the runtime's
// enter/exit-syscall bookkeeping, and the monitor thread that takes the
// processor away from a thread it believes blocked in the kernel, only
// cost time. Under connection churn a loopback write or close runs the
// peer's TCP work inline and often lasts long enough for that hand-off
// to happen, waking a second thread for nothing.

func rawRead(fd int, p []byte) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	return int(n), errno
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	return int(n), errno
}

func rawClose(fd int) {
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawShutdownWrite(fd int) syscall.Errno {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SHUTDOWN, uintptr(fd), syscall.SHUT_WR, 0)
	return errno
}
