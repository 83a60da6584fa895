package mqttlb

import "net"

// readConnect is the read step of handle: ReadConnect, or nothing at all
// for an Opaque proxy, whose connections are relayed as they come (the
// empty Connect forwards no bytes and has keep-alive 0, so the relay's
// idle limit is IdleTimeout).
func (p *Proxy) readConnect(c net.Conn) (Connect, byte, error) {
	if p.Opaque {
		return Connect{}, 0, nil
	}
	return ReadConnect(c, p.ConnectTimeout, p.MaxConnectSize)
}
