package haproxyrun

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// sourceAttempts is how many ports of a "source" range are tried before a
// dial gives up: a taken port is skipped, as HAProxy moves on in its
// range.
const sourceAttempts = 16

// sourceDialer dials each server from its "source" address (HAProxy's
// "source <addr>[:<port>[-<port>]]"): sources maps a server address to
// its source. Servers without one dial as usual. A port range binds a
// random port of the range, trying another when one is taken: with
// several source addresses, this is how one proxy opens more than 64,000
// connections to one broker.
func sourceDialer(sources map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		src, ok := sources[addr]
		if !ok {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		host, first, last := splitSource(src)
		ip := net.ParseIP(host)
		var lastErr error
		for range sourceAttempts {
			port := first
			if last > first {
				port = first + rand.IntN(last-first+1)
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip, Port: port}}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil || port == 0 || !errors.Is(err, syscall.EADDRINUSE) {
				return c, err
			}
			lastErr = err
		}
		return nil, lastErr
	}
}

// splitSource cuts a source already checked by the parser into its
// address and port range; no port means any (0).
func splitSource(s string) (host string, first, last int) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.HasSuffix(s, "]") {
		return strings.Trim(s, "[]"), 0, 0
	}
	host = strings.Trim(s[:i], "[]")
	lo, hi, isRange := strings.Cut(s[i+1:], "-")
	first, _ = strconv.Atoi(lo)
	last = first
	if isRange {
		last, _ = strconv.Atoi(hi)
	}
	return host, first, last
}
