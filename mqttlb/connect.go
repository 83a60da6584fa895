package mqttlb

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mqttlb/mqttlb/internal/packet"
)

// Defaults of the read step.
const (
	// DefaultConnectTimeout bounds the wait for a whole CONNECT, like
	// HAProxy's tcp-request inspect-delay.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxConnectSize caps a CONNECT packet, fixed header included.
	// HAProxy's cap is a fixed 15,360 bytes; ours is configurable.
	DefaultMaxConnectSize = 64 << 10
)

// firstReadSize is the buffer the read step starts with: a typical CONNECT
// is well under 256 bytes, so one read almost always completes it.
const firstReadSize = 512

var firstReadPool = sync.Pool{New: func() any { b := make([]byte, firstReadSize); return &b }}

// Connect is a client's first packet, read and validated, together with
// every byte read from the client so far.
//
// Bytes holds the CONNECT exactly as received followed by anything the
// client pipelined behind it: forward Bytes unchanged and nothing is lost.
// Call Release once Bytes has been written; the Connect must not be used
// afterwards.
type Connect struct {
	// Bytes is everything read from the client: the CONNECT packet
	// (Bytes[:Len]) and whatever followed it.
	Bytes []byte
	// Len is the length of the CONNECT packet within Bytes.
	Len int

	ProtocolVersion byte
	ClientID        string
	Username        string
	HasUsername     bool
	HasPassword     bool
	CleanStart      bool
	KeepAlive       uint16
	WillFlag        bool
	// SessionExpiry is the MQTT 5 Session Expiry Interval in seconds;
	// HasSessionExpiry reports whether the property was present (absent
	// means 0, MQTT 5.0 §3.1.2.11.2).
	SessionExpiry    uint32
	HasSessionExpiry bool

	pooled *[]byte
}

// Release returns the read buffer to the pool.
func (c *Connect) Release() {
	if c.pooled != nil {
		firstReadPool.Put(c.pooled)
		c.pooled = nil
	}
	c.Bytes = nil
}

// String describes the CONNECT for logs. It never includes the password.
func (c *Connect) String() string {
	return fmt.Sprintf("CONNECT v%d client_id=%q username=%q clean=%t keepalive=%d",
		c.ProtocolVersion, c.ClientID, c.Username, c.CleanStart, c.KeepAlive)
}

// ReadConnect reads from conn until one whole CONNECT is buffered and
// returns it validated (MQTT 3.1, 3.1.1 and 5.0).
//
// The wait is bounded by timeout (0 means DefaultConnectTimeout) and the
// packet by maxSize bytes (0 means DefaultMaxConnectSize). On failure the
// error wraps one of ErrNotMQTT, ErrMalformed, ErrUnsupportedVersion,
// ErrTooLarge, ErrConnectTimeout or ErrClientClosed, and the returned
// version is the protocol level if it was read (else 0): pass both to
// Reject to answer the client.
//
// ReadConnect sets and then clears conn's read deadline.
func ReadConnect(conn net.Conn, timeout time.Duration, maxSize int) (c Connect, version byte, err error) {
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxConnectSize
	}
	if timeout > 0 {
		if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return Connect{}, 0, fmt.Errorf("mqttlb: set read deadline: %w", err)
		}
		defer conn.SetReadDeadline(time.Time{})
	}

	pooled := firstReadPool.Get().(*[]byte)
	buf := (*pooled)[:0]
	release := func() {
		if pooled != nil {
			firstReadPool.Put(pooled)
		}
	}
	for {
		if len(buf) > 0 {
			pk, n, derr := packet.DecodeConnect(buf)
			if derr == nil && n > maxSize {
				// A small cap can be below what one read brings in: the
				// whole packet arrived before its size could be refused.
				version := pk.Version
				release()
				return Connect{}, version, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, maxSize)
			}
			if derr == nil {
				c = newConnect(&pk, buf, n)
				if pooled != nil && cap(buf) == firstReadSize {
					c.pooled = pooled
				} else {
					release()
				}
				return c, c.ProtocolVersion, nil
			}
			if !errors.Is(derr, packet.ErrNeedMore) {
				// Read the version before the buffer goes back to the
				// pool: another connection may take it at once.
				version := errorVersion(derr, buf)
				release()
				return Connect{}, version, classifyPacketError(derr)
			}
			// Still incomplete. Once the fixed header is in, the packet's
			// size is known: refuse it early if it exceeds the cap, and
			// otherwise make room for exactly the rest of it.
			if fh, ferr := packet.DecodeFixedHeader(buf); ferr == nil {
				total := fh.HeaderLen + fh.RemainingLength
				if total > maxSize {
					v, verr := readVersion(conn, buf, fh.HeaderLen)
					release()
					if verr != nil {
						return Connect{}, 0, verr
					}
					return Connect{}, v, fmt.Errorf("%w: %d bytes declared, limit %d", ErrTooLarge, total, maxSize)
				}
				if total > cap(buf) {
					grown := make([]byte, len(buf), total)
					copy(grown, buf)
					release()
					pooled, buf = nil, grown
				}
			}
		}
		if len(buf) == cap(buf) {
			// The fixed header is not complete yet the buffer is full:
			// impossible with a 512-byte buffer and a header of at most 5
			// bytes, kept as a guard against an endless loop.
			release()
			return Connect{}, 0, fmt.Errorf("%w: fixed header not found", ErrMalformed)
		}
		n, rerr := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr != nil && n == 0 {
			version := errorVersion(nil, buf)
			release()
			return Connect{}, version, readError(rerr, len(buf))
		}
	}
}

// readError names why the client's bytes stopped before a whole CONNECT.
func readError(err error, have int) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (%d bytes received)", ErrConnectTimeout, have)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w (%d bytes received)", ErrClientClosed, have)
	}
	return fmt.Errorf("%w: %w", ErrClientClosed, err)
}

// readVersion reads, within the current deadline, just far enough into an
// oversized CONNECT to learn its protocol level, so that the refusal can
// be answered in the client's own version. The variable header starts
// with the protocol name (a two-byte length and 4 or 6 bytes) and the
// level (MQTT 3.1.1 §3.1.2.1-2, MQTT 5.0 §3.1.2.1-2).
func readVersion(conn net.Conn, buf []byte, headerLen int) (byte, error) {
	const maxPrefix = 5 + 2 + 6 + 1
	if cap(buf) < maxPrefix {
		grown := make([]byte, len(buf), maxPrefix)
		copy(grown, buf)
		buf = grown
	}
	for {
		if v, ok := peekLevel(buf, headerLen); ok {
			return v, nil
		}
		if len(buf) >= headerLen+2+6+1 {
			return 0, nil
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return 0, readError(err, len(buf))
		}
	}
}

// peekLevel returns the protocol level byte of a CONNECT prefix if the
// prefix reaches it.
func peekLevel(buf []byte, headerLen int) (byte, bool) {
	if len(buf) < headerLen+2 {
		return 0, false
	}
	nameLen := int(buf[headerLen])<<8 | int(buf[headerLen+1])
	at := headerLen + 2 + nameLen
	if nameLen > 6 || len(buf) <= at {
		return 0, false
	}
	return buf[at], true
}

// errorVersion returns the protocol level to answer a refusal in: the
// decoder's if it read one, else whatever the prefix shows.
func errorVersion(err error, buf []byte) byte {
	var perr *packet.Error
	if errors.As(err, &perr) && perr.Version != 0 {
		return perr.Version
	}
	if fh, ferr := packet.DecodeFixedHeader(buf); ferr == nil {
		if v, ok := peekLevel(buf, fh.HeaderLen); ok {
			return v
		}
	}
	return 0
}

func newConnect(pk *packet.Connect, buf []byte, n int) Connect {
	c := Connect{
		Bytes:           buf,
		Len:             n,
		ProtocolVersion: pk.Version,
		ClientID:        string(pk.ClientID),
		HasUsername:     pk.UsernameFlag,
		HasPassword:     pk.PasswordFlag,
		CleanStart:      pk.CleanStart,
		KeepAlive:       pk.KeepAlive,
		WillFlag:        pk.WillFlag,
	}
	if pk.UsernameFlag {
		c.Username = string(pk.Username)
	}
	if pk.Version == packet.V5 {
		c.SessionExpiry, c.HasSessionExpiry = pk.Properties.SessionExpiry()
	}
	return c
}
