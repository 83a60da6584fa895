package packet

import "testing"

func benchmarkDecodeConnect(b *testing.B, wire []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, _, err := DecodeConnect(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// A typical 3.1.1 CONNECT: clean session, keep-alive, client ID, user name
// and password.
func BenchmarkDecodeConnect311(b *testing.B) {
	benchmarkDecodeConnect(b, fixtureNamed(b, validConnects, "3.1.1 typical").wire)
}

// A typical 5.0 CONNECT: the same fields plus Session Expiry Interval,
// Receive Maximum and a User Property.
func BenchmarkDecodeConnect5(b *testing.B) {
	benchmarkDecodeConnect(b, fixtureNamed(b, validConnects, "5.0 typical").wire)
}

func BenchmarkAppendConnack(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	props := &ConnackProps{ReasonString: "too many connections", ServerReference: "10.0.0.2:1883"}
	for b.Loop() {
		buf = AppendConnack(buf[:0], V5, false, ConnackUseAnotherServer, props)
	}
}

func BenchmarkAppendConnect(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 128)
	spec := fixtureNamed(b, validConnects, "5.0 typical").want
	for b.Loop() {
		buf = AppendConnect(buf[:0], &spec)
	}
}
