package proxyproto

import (
	"math"
	"testing"

	goproxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-proxyproto refuses headers over 4 KiB by default; the cross-checks
	// need the full 16-bit range the specification allows.
	goproxyproto.MaxV2HeaderSize = math.MaxUint16
	goleak.VerifyTestMain(m)
}
