package proxyproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendBinaryGolden(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			want := f.bytes()
			got, err := f.header.AppendBinary(nil)
			require.NoError(t, err)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
			n, err := f.header.BinaryLen()
			require.NoError(t, err)
			assert.Equal(t, len(want), n)
		})
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	f := fixtures[0]
	prefix := []byte("kept")
	got, err := f.header.AppendBinary(prefix)
	require.NoError(t, err)
	assert.Equal(t, append([]byte("kept"), f.bytes()...), got)
}

func TestWriteToSingleWrite(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			w := &countingWriter{}
			n, err := f.header.WriteTo(w)
			require.NoError(t, err)
			assert.Equal(t, int64(len(f.bytes())), n)
			assert.Equal(t, f.bytes(), w.buf.Bytes())
			assert.Equal(t, 1, w.writes, "§2.2: the header must be sent at once")
		})
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func TestAppendV1Golden(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			got, err := f.header.AppendV1(nil)
			require.NoError(t, err)
			assert.Equal(t, f.v1, string(got))
			assert.LessOrEqual(t, len(got), MaxV1Len)
		})
	}
}

func TestAppendV1Longest(t *testing.T) {
	h := ProxyHeader(
		netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe%eth0]:65535"),
		netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"))
	got, err := h.AppendV1(nil)
	require.NoError(t, err)
	assert.Equal(t, "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "+
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", string(got),
		"the zone is dropped: §2.1 has no syntax for it")
	assert.Len(t, got, 104, "§2.1: the longest TCP6 line is 104 bytes")
}

func TestZeroAllocations(t *testing.T) {
	buf := make([]byte, 0, 1024)
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			h := f.header
			allocs := testing.AllocsPerRun(100, func() {
				out, err := h.AppendBinary(buf[:0])
				if err != nil || len(out) == 0 {
					t.Fatal("AppendBinary failed")
				}
			})
			assert.Zero(t, allocs, "AppendBinary into a buffer with room")
			allocs = testing.AllocsPerRun(100, func() {
				out, err := h.AppendV1(buf[:0])
				if err != nil || len(out) == 0 {
					t.Fatal("AppendV1 failed")
				}
			})
			assert.Zero(t, allocs, "AppendV1 into a buffer with room")
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	ok4 := fxSrc4
	tests := []struct {
		name   string
		header Header
		want   error
	}{
		{"LOCAL with addresses", Header{Source: ok4, Destination: fxDst4}, ErrAddressMismatch},
		{"LOCAL with a path", Header{SourcePath: "/a"}, ErrAddressMismatch},
		{"unknown command", Header{Command: 2}, ErrCommand},
		{"unknown network", Header{Command: Proxy, Network: 9, Source: ok4, Destination: fxDst4}, ErrNetwork},
		{"missing source", Header{Command: Proxy, Destination: fxDst4}, ErrInvalidAddress},
		{"missing destination", Header{Command: Proxy, Source: ok4}, ErrInvalidAddress},
		{"paths on TCP", Header{Command: Proxy, Source: ok4, Destination: fxDst4, SourcePath: "/a"}, ErrAddressMismatch},
		{"IP on UNIX", Header{Command: Proxy, Network: Unix, Source: ok4}, ErrAddressMismatch},
		{"UNIX path of 109 bytes", Header{Command: Proxy, Network: Unix, SourcePath: strings.Repeat("a", 109)}, ErrUnixPath},
		{"UNIX path with NUL", Header{Command: Proxy, Network: Unixgram, DestinationPath: "a\x00b"}, ErrUnixPath},
		{"UNIQUE_ID of 129 bytes", ProxyHeader(ok4, fxDst4, UniqueID(make([]byte, 129))), ErrUniqueIDTooLong},
		{"TLV of 65536 bytes", ProxyHeader(ok4, fxDst4, Custom(0xE1, make([]byte, 65536))), ErrTLVTooLong},
		{"total over 65535", ProxyHeader(ok4, fxDst4, NOOP(40000), NOOP(30000)), ErrHeaderTooLong},
		{"total over 65535 by one", Header{TLVs: []TLV{NOOP(0xFFFF - 3 + 1)}}, ErrHeaderTooLong},
		{"two CRC32C", ProxyHeader(ok4, fxDst4, CRC32C(), CRC32C()), ErrCRC32C},
		{"CRC32C of 3 bytes", ProxyHeader(ok4, fxDst4, TLV{Type: TypeCRC32C, Value: []byte{0, 0, 0}}), ErrCRC32C},
		{"SSL sub-type at the top level", ProxyHeader(ok4, fxDst4, TLV{Type: SubtypeSSLCN, Value: []byte("cn")}), ErrTLVType},
		{"unassigned type", ProxyHeader(ok4, fxDst4, TLV{Type: 0x06}), ErrTLVType},
		{"future type", ProxyHeader(ok4, fxDst4, TLV{Type: 0xF8}), ErrTLVType},
		{"SSL of 4 bytes", ProxyHeader(ok4, fxDst4, TLV{Type: TypeSSL, Value: []byte{1, 0, 0, 0}}), ErrSSL},
		{"SSL truncated sub-TLV", ProxyHeader(ok4, fxDst4, TLV{Type: TypeSSL, Value: []byte{0, 0, 0, 0, 0, 0x21, 0}}), ErrSSL},
		{"SSL sub-TLV past the end", ProxyHeader(ok4, fxDst4, TLV{Type: TypeSSL, Value: []byte{0, 0, 0, 0, 0, 0x21, 0, 9, 'T'}}), ErrSSL},
		{"SSL client flag without VERSION", ProxyHeader(ok4, fxDst4, SSL(SSLInfo{Client: ClientSSL, CN: "x"})), ErrSSL},
		{"SSL CN not UTF-8", ProxyHeader(ok4, fxDst4, SSL(SSLInfo{CN: "\xff"})), ErrSSL},
		{"SSL VERSION not ASCII", ProxyHeader(ok4, fxDst4, SSL(SSLInfo{Client: ClientSSL, Version: "TLSv1.3\u00e9"})), ErrSSL},
		{"SSL empty CIPHER", ProxyHeader(ok4, fxDst4, TLV{Type: TypeSSL, Value: []byte{0, 0, 0, 0, 0, 0x23, 0, 0}}), ErrSSL},
		{"AUTHORITY not UTF-8", ProxyHeader(ok4, fxDst4, Authority("\xc3")), ErrEncoding},
		{"NETNS not ASCII", ProxyHeader(ok4, fxDst4, NetNS("bl\u00fc")), ErrEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, err := tt.header.AppendBinary(dst)
			require.ErrorIs(t, err, tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "proxyproto: "))
			assert.Equal(t, "prefix", string(got), "dst is returned unchanged")

			_, err = tt.header.BinaryLen()
			require.ErrorIs(t, err, tt.want)
			n, err := tt.header.WriteTo(&countingWriter{})
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, n)
		})
	}
}

func TestAppendV1Errors(t *testing.T) {
	tests := []struct {
		name   string
		header Header
		want   error
	}{
		{"LOCAL with addresses", Header{Source: fxSrc4, Destination: fxDst4}, ErrAddressMismatch},
		{"missing source", Header{Command: Proxy, Destination: fxDst4}, ErrInvalidAddress},
		{"unknown command", Header{Command: 7}, ErrCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.header.AppendV1([]byte("x"))
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, "x", string(got))
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	tests := []struct {
		name   string
		header Header
		length int
	}{
		{"UNIQUE_ID of 128 bytes", ProxyHeader(fxSrc4, fxDst4, UniqueID(make([]byte, 128))), 16 + 12 + 3 + 128},
		{"UNIX path of 108 bytes", Header{Command: Proxy, Network: Unix, SourcePath: strings.Repeat("p", 108)}, 16 + 216},
		{"length field exactly 65535", Header{TLVs: []TLV{NOOP(0xFFFF - 3)}}, 16 + 0xFFFF},
		{"experimental type", ProxyHeader(fxSrc4, fxDst4, TLV{Type: TypeMaxExperiment}), 16 + 12 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.header.AppendBinary(nil)
			require.NoError(t, err)
			assert.Len(t, got, tt.length)
		})
	}
}

func TestCustomPanicsOutsideRange(t *testing.T) {
	for _, typ := range []byte{0x00, TypeSSL, TypeMinCustom - 1, TypeMaxCustom + 1, TypeMinExperiment} {
		assert.Panics(t, func() { Custom(typ, nil) }, "type %#02x", typ)
	}
	for typ := TypeMinCustom; typ <= TypeMaxCustom; typ++ {
		assert.Equal(t, typ, Custom(typ, nil).Type)
	}
}

func TestNOOPNegative(t *testing.T) {
	assert.Empty(t, NOOP(-5).Value)
}

func TestCRC32CPlaceholderUntouched(t *testing.T) {
	h := ProxyHeader(fxSrc4, fxDst4, CRC32C())
	_, err := h.AppendBinary(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0, 0}, h.TLVs[0].Value, "AppendBinary does not modify the Header")
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrHeaderTooLong, ErrTLVTooLong, ErrUniqueIDTooLong, ErrUnixPath,
		ErrInvalidAddress, ErrAddressMismatch, ErrCommand, ErrNetwork, ErrTLVType,
		ErrCRC32C, ErrSSL, ErrEncoding, ErrVersion, ErrUnknownOption}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}
