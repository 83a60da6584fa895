package mqttlb

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/packet"
	"github.com/mqttlb/mqttlb/internal/splice"
)

// maxGreetingSize caps the backend's first packet when the proxy reads it
// itself (Pool.ConnackTimeout): a CONNACK is a few bytes, with MQTT 5
// properties rarely more than a few hundred; an MQTT 5 AUTH exchange
// (§4.12) starts with an AUTH packet of similar size.
const maxGreetingSize = 64 << 10

// errNoConnack is wrapped when a backend accepted the connection and the
// CONNECT but sent no whole first packet within Pool.ConnackTimeout.
var errNoConnack = errors.New("no CONNACK from the backend")

// connectBackend dials a backend for the client and forwards hello, the
// client's bytes so far, behind the PROXY header the pool calls for. With the pool's ConnackTimeout on it also reads
// the backend's first packet and returns it, to be written to the client
// before the relay starts; a backend that fails to send it in time, or
// whose connection fails before the client saw a byte, is left out for
// the fail window and another is tried, up to the pool's Retries.
func (p *Proxy) connectBackend(client net.Conn, pool *Pool, ci balance.ConnInfo, cs *tls.ConnectionState, hello []byte) (*Upstream, []byte, error) {
	// A client born in one of the relay's event loops has its backend
	// dialed into the same loop (see dialTCP).
	ctx := splice.WithNear(p.context(), client)
	retries := pool.retryLimit()
	for attempt := 0; ; attempt++ {
		up, err := pool.dialQueued(ctx, ci)
		if err != nil {
			return nil, nil, err
		}
		up.Redispatched += attempt
		greeting, err := greet(up.Conn, pool.ConnackTimeout, func(w io.Writer) error {
			return pool.writeFirst(w, ci, cs, hello)
		})
		if err == nil {
			return up, greeting, nil
		}
		up.Conn.Close()
		up.Release()
		pool.backendFailed(up.Backend, "backend failed before its CONNACK", err)
		if attempt >= retries || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%w: pool %q: backend %s: %w", ErrNoBackend, pool.Name, up.Backend.ID(), err)
		}
		pool.redispatches.Add(1)
	}
}

// greet sends the backend its first bytes with writeFirst and, when
// timeout is positive, reads exactly the backend's first packet within
// it, nothing beyond, so that the relay goes on with the byte stream
// intact.
func greet(backend net.Conn, timeout time.Duration, writeFirst func(io.Writer) error) ([]byte, error) {
	if timeout <= 0 {
		return nil, writeFirst(backend)
	}
	if err := backend.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if err := writeFirst(backend); err != nil {
		return nil, err
	}
	greeting, err := readPacket(backend, maxGreetingSize)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w within %v: %w", errNoConnack, timeout, err)
		}
		return nil, err
	}
	return greeting, backend.SetDeadline(time.Time{})
}

// readPacket reads one whole MQTT control packet from r, reading no byte
// beyond it: the fixed header byte by byte, then exactly the remaining
// length (MQTT 3.1.1 §2.2, MQTT 5.0 §2.1).
func readPacket(r io.Reader, maxSize int) ([]byte, error) {
	buf := make([]byte, 2, 64)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	for {
		fh, err := packet.DecodeFixedHeader(buf)
		if errors.Is(err, packet.ErrNeedMore) {
			buf = append(buf, 0)
			if _, err := io.ReadFull(r, buf[len(buf)-1:]); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		total := fh.PacketLen()
		if total > maxSize {
			return nil, fmt.Errorf("first packet of %d bytes, limit %d", total, maxSize)
		}
		buf = append(buf, make([]byte, total-len(buf))...)
		if _, err := io.ReadFull(r, buf[fh.HeaderLen:]); err != nil {
			return nil, err
		}
		return buf, nil
	}
}

// forwardGreeting writes the backend's first packet, read by greet, to
// the client; nothing when greet did not read one.
func (p *Proxy) forwardGreeting(c net.Conn, greeting []byte) error {
	if len(greeting) == 0 {
		return nil
	}
	if err := c.SetWriteDeadline(time.Now().Add(rejectWriteTimeout)); err != nil {
		return err
	}
	if _, err := c.Write(greeting); err != nil {
		return err
	}
	return c.SetWriteDeadline(time.Time{})
}
