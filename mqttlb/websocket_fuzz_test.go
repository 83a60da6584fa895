package mqttlb

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzWebSocketClientAddr: whatever X-Forwarded-For says, the client's
// address is the peer's or one written in the header, never an address of
// a trusted proxy, and a peer that is not trusted is never overridden.
func FuzzWebSocketClientAddr(f *testing.F) {
	f.Add("203.0.113.7", true)
	f.Add("198.51.100.1, 203.0.113.7, 10.0.0.9", true)
	f.Add("2001:db8::1,::ffff:10.0.0.3", true)
	f.Add(",,, ,", true)
	f.Add("203.0.113.7", false)
	l := &WebSocketListener{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, xff string, fromTrusted bool) {
		peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}
		if fromTrusted {
			peer = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 40000}
		}
		r := httptest.NewRequest(http.MethodGet, "/mqtt", nil)
		r.Header.Set("X-Forwarded-For", xff)
		got := l.clientAddr(r, peer)
		if got == net.Addr(peer) {
			return
		}
		if !fromTrusted {
			t.Fatalf("untrusted peer overridden by %q: %v", xff, got)
		}
		ap := addrPort(got)
		if ap.Port() != 0 || l.TrustedProxies[0].Contains(ap.Addr()) {
			t.Fatalf("X-Forwarded-For %q gave %v", xff, got)
		}
		found := false
		for h := range strings.SplitSeq(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil && a.Unmap() == ap.Addr() {
				found = true
			}
		}
		if !found {
			t.Fatalf("%v is not in X-Forwarded-For %q", got, xff)
		}
	})
}
