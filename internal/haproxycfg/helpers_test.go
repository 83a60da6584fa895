package haproxycfg

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func netipAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	require.NoError(t, err)
	return ap
}
