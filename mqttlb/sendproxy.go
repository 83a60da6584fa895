package mqttlb

import (
	"crypto/tls"
	"fmt"
	"io"
	"sync"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// firstWriteSize is the pooled buffer for a PROXY header and the CONNECT:
// a v2 header with the SSL TLV and a typical CONNECT fit in it.
const firstWriteSize = 1 << 10

// maxPooledFirstWrite is the largest buffer given back to the pool; one
// grown for a large CONNECT is left to the collector.
const maxPooledFirstWrite = 16 << 10

var firstWritePool = sync.Pool{New: func() any { b := make([]byte, 0, firstWriteSize); return &b }}

// writeFirst sends a backend its first bytes: the PROXY header the pool
// calls for, then the client's CONNECT and whatever the client pipelined,
// in one write. One write means one segment where a separate header would
// cost its own (Go sets TCP_NODELAY) and its own system call, and receivers
// that expect the header whole in their first read get it.
func (p *Pool) writeFirst(w io.Writer, ci balance.ConnInfo, cs *tls.ConnectionState, hello []byte) error {
	if p.ProxyProtocol == nil || p.ProxyProtocol.Version == 0 {
		_, err := w.Write(hello)
		return err
	}
	bp := firstWritePool.Get().(*[]byte)
	buf, err := p.appendFirst((*bp)[:0], ci, cs, hello)
	if err == nil {
		_, err = w.Write(buf)
	}
	if cap(buf) <= maxPooledFirstWrite {
		*bp = buf[:0]
		firstWritePool.Put(bp)
	}
	return err
}

// appendFirst appends the PROXY header for the connection, then hello. The
// header's source is the client's address (the one an inbound PROXY header
// gave, behind another load balancer) and its destination the address the
// client reached. It allocates nothing for a plain TCP client when dst has
// room and ProxyTLVs is nil.
func (p *Pool) appendFirst(dst []byte, ci balance.ConnInfo, cs *tls.ConnectionState, hello []byte) ([]byte, error) {
	pc := proxyproto.ConnInfo{Source: ci.RemoteAddr, Destination: ci.LocalAddr, TLS: cs}
	if p.ProxyTLVs != nil {
		pc.Extra = p.ProxyTLVs(ci)
	}
	out, err := p.ProxyProtocol.AppendHeader(dst, pc)
	if err != nil {
		return dst, fmt.Errorf("mqttlb: pool %q: PROXY header: %w", p.Name, err)
	}
	return append(out, hello...), nil
}
