//go:build unix

package splice

import (
	"io"
	"net"

	"syscall"
)

// initRaw prepares a buffer-free wait on kernel sockets: the Go netpoller
// parks the reader on the descriptor, and a pooled buffer is taken only once
// a read finds data. Other connections may buffer data of their own (TLS
// records, WebSocket frames), so they are read through their Read method.
func (d *direction) initRaw() {
	var err error
	switch c := d.src.(type) {
	case *net.TCPConn:
		d.raw, err = c.SyscallConn()
	case *net.UnixConn:
		d.raw, err = c.SyscallConn()
	}
	if err != nil {
		d.raw = nil
		return
	}
	d.rawFn = d.tryRead
}

// readRaw waits until the source has data, deadlines and Close included.
func (d *direction) readRaw() ([]byte, error) {
	d.rawN, d.rawErr = 0, nil
	if err := d.raw.Read(d.rawFn); err != nil {
		return nil, err
	}
	if d.rawBuf == nil {
		return nil, d.rawErr
	}
	return d.rawBuf[:d.rawN], d.rawErr
}

// tryRead is called by the netpoller with the descriptor; it reports false
// to be parked until the descriptor is readable again.
func (d *direction) tryRead(fd uintptr) bool {
	b := getBuffer()
	for {
		n, err := syscall.Read(int(fd), b[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			putBuffer(b)
			return false
		case err != nil:
			putBuffer(b)
			d.rawErr = err
		case n == 0:
			putBuffer(b)
			d.rawErr = io.EOF
		default:
			d.rawBuf, d.rawN = b, n
		}
		return true
	}
}
