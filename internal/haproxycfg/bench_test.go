package haproxycfg

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkParse parses the EMQX guide's configuration, as a reload does.
func BenchmarkParse(b *testing.B) {
	text, err := os.ReadFile("../haproxyrun/testdata/emqx-sticky.cfg")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("haproxy.cfg", bytes.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}
