package health

import (
	"net/http/httptest"
	"testing"
)

// The cost of one probe of each kind over loopback, the peer included.

func BenchmarkTCP(b *testing.B) {
	srv := httptest.NewServer(hiveMQReadiness("UP"))
	defer srv.Close()
	benchmarkChecker(b, TCP{}, serverAddr(srv))
}

func BenchmarkHTTP(b *testing.B) {
	srv := httptest.NewServer(hiveMQReadiness("UP"))
	defer srv.Close()
	benchmarkChecker(b, HTTP{Path: "/api/v1/health/readiness", ExpectBody: `"UP"`}, serverAddr(srv))
}

func BenchmarkMQTTPing(b *testing.B) {
	for _, version := range []byte{4, 5} {
		b.Run(versionName(version), func(b *testing.B) {
			benchmarkChecker(b, MQTTPing{Version: version}, startMochi(b))
		})
	}
}

func benchmarkChecker(b *testing.B, c Checker, addr string) {
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(b.Context(), addr); err != nil {
			b.Fatal(err)
		}
	}
}
