package mqttlb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
)

// ErrSourcePorts is returned by SourceAddrs.DialContext when every port
// it tried in its range was taken for the destination.
var ErrSourcePorts = errors.New("mqttlb: no free source port in range")

// backendDialer dials backends. TCP keep-alive probes are off, as in
// HAProxy (no "option srvtcpka"): MQTT's own keep-alive watches the
// session end to end, and each probe setting costs a system call per
// connection.
var backendDialer = net.Dialer{KeepAlive: -1}

// dialTCP connects to addr from laddr, or from the kernel's choice of
// address and port when laddr is the zero AddrPort. With a source address
// and a literal ip:port, the dial skips the resolver's parsing and
// allocations. Without one it must not go through Dialer.DialTCP, which
// binds even an empty local address: bind then searches the whole
// ephemeral range for a port free for every destination, which under
// connection churn (ports in TIME_WAIT) cost a millisecond per dial.
func dialTCP(ctx context.Context, d *net.Dialer, laddr netip.AddrPort, addr string) (net.Conn, error) {
	if !laddr.IsValid() {
		return d.DialContext(ctx, "tcp", addr)
	}
	if raddr, err := netip.ParseAddrPort(addr); err == nil {
		c, err := d.DialTCP(ctx, "tcp", laddr, raddr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	dl := *d
	dl.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	return dl.DialContext(ctx, "tcp", addr)
}

// SourceAddrs spreads backend dials over several local addresses and,
// optionally, a range of source ports (HAProxy's "source
// 0.0.0.0:1024-65535" and one server line per source address). A TCP
// connection is named by its four addresses and ports, so one source
// address can open only as many connections to one broker address as it
// has ports: about 28,000 with Linux's default ip_local_port_range
// (32768-60999). Each further source address adds as many again; on
// loopback every 127.0.0.0/8 address is local, elsewhere add addresses
// to an interface.
//
// Use its DialContext as Pool.DialContext:
//
//	src := &mqttlb.SourceAddrs{Addrs: []netip.Addr{
//		netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6"),
//	}}
//	pool := &mqttlb.Pool{DialContext: src.DialContext}
//
// Set the fields before the first dial; DialContext is safe for
// concurrent use.
type SourceAddrs struct {
	// Addrs are the local addresses dials come from, taken in turn. Empty
	// means the kernel's choice (the address of the outgoing route).
	Addrs []netip.Addr
	// PortMin and PortMax bound the source ports. Zero for both lets the
	// kernel choose an ephemeral port at connect time, per destination
	// (IP_BIND_ADDRESS_NO_PORT), which is the cheaper choice. With a
	// range, ports are taken in turn and a port that is busy for the
	// destination is skipped; a range also reaches below and above
	// ip_local_port_range (for example 1024-65535).
	PortMin, PortMax uint16
	// Tries caps the ports tried per dial within a range; 0 means 64.
	Tries int

	next     atomic.Uint64
	nextPort atomic.Uint64
}

// DialContext dials addr ("host:port"; network must be a TCP network)
// from the next source address, with the fast path of literal addresses
// and keep-alive probes off as in the default backend dial.
func (s *SourceAddrs) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var src netip.Addr
	if n := uint64(len(s.Addrs)); n > 0 {
		src = s.Addrs[(s.next.Add(1)-1)%n]
	}
	if s.PortMin == 0 && s.PortMax == 0 {
		d := backendDialer
		if src.IsValid() {
			d.ControlContext = bindAddressNoPort
		}
		return dialNetwork(ctx, &d, network, netip.AddrPortFrom(src, 0), addr)
	}
	lo, hi := min(s.PortMin, s.PortMax), max(s.PortMin, s.PortMax)
	if lo == 0 {
		lo = 1
	}
	span := uint64(hi-lo) + 1
	tries := s.Tries
	if tries <= 0 {
		tries = 64
	}
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
				src = netip.IPv6Unspecified()
			}
		}
	}
	d := backendDialer
	d.ControlContext = reuseAddr
	var lastErr error
	for range min(uint64(tries), span) {
		port := lo + uint16((s.nextPort.Add(1)-1)%span)
		c, err := dialNetwork(ctx, &d, network, netip.AddrPortFrom(src, port), addr)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, err
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w %d-%d from %v to %s: %w", ErrSourcePorts, lo, hi, src, addr, lastErr)
}

// dialNetwork checks that network is TCP and dials.
func dialNetwork(ctx context.Context, d *net.Dialer, network string, laddr netip.AddrPort, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("mqttlb: SourceAddrs dials TCP, not %q", network)
	}
	return dialTCP(ctx, d, laddr, addr)
}
