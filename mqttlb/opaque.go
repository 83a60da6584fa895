package mqttlb

import (
	"net"
	"time"
)

// readConnect is the last read step of readHello: ReadConnect within
// timeout, or nothing at all for an Opaque proxy, whose connections are
// relayed as they come (the empty Connect forwards no bytes and has
// keep-alive 0, so the relay's idle limit is IdleTimeout).
func (p *Proxy) readConnect(c net.Conn, timeout time.Duration) (Connect, byte, error) {
	if p.Opaque {
		return Connect{}, 0, nil
	}
	return ReadConnect(c, timeout, p.MaxConnectSize)
}
