package packet

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets check the invariants every decoder promises: it never
// panics, never claims more bytes than it was given, gives the same answer
// for the same packet whatever follows it, gives ErrNeedMore or the same
// error for a prefix, and what it decodes encodes back to the same fields.
// The fixture table seeds them, as does testdata/fuzz.

func FuzzDecodeConnect(f *testing.F) {
	for _, c := range validConnects {
		f.Add(c.wire)
	}
	for _, c := range badConnects {
		f.Add(c.wire)
	}
	for _, c := range partialConnects {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, n, err := DecodeConnect(data)
		require.LessOrEqual(t, n, len(data))
		if err != nil {
			require.Zero(t, n)
			checkStableError(t, data, err, func(b []byte) error {
				_, _, err := DecodeConnect(b)
				return err
			})
			return
		}
		require.Positive(t, n)
		_ = c.String()
		want := specOf(&c)

		again, n2, err := DecodeConnect(data[:n])
		require.NoError(t, err, "the packet alone")
		require.Equal(t, n, n2)
		require.Equal(t, want, specOf(&again))
		_, _, err = DecodeConnect(data[:n-1])
		require.Same(t, ErrNeedMore, err, "the packet without its last byte")

		encoded := AppendConnect(nil, &want)
		reencoded, n3, err := DecodeConnect(encoded)
		require.NoError(t, err, "re-encoded % x", encoded)
		require.Equal(t, len(encoded), n3)
		require.Equal(t, want, specOf(&reencoded))
	})
}

// checkStableError checks that a decode error is one of the documented
// kinds and does not change when more bytes follow, and that a prefix of
// the input needs more bytes or fails the same way.
func checkStableError(t *testing.T, data []byte, err error, decode func([]byte) error) {
	t.Helper()
	if err == ErrNeedMore {
		if len(data) > 0 {
			assert.Same(t, ErrNeedMore, decode(data[:len(data)/2]), "a prefix of a prefix")
		}
		return
	}
	var perr *Error
	require.ErrorAs(t, err, &perr)
	require.True(t, errors.Is(err, ErrNotMQTT) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrUnexpectedPacket), "class of %v", err)
	require.NotEmpty(t, perr.Rule)
	require.NotEmpty(t, perr.Msg)
	_, _, _ = perr.Refusal()

	same := func(got error, what string) {
		var gotErr *Error
		require.ErrorAs(t, got, &gotErr, what)
		require.Equal(t, perr.Err, gotErr.Err, what)
		require.Equal(t, perr.Rule, gotErr.Rule, what)
		require.Equal(t, perr.Code, gotErr.Code, what)
	}
	same(decode(append(bytes.Clone(data), 0x00, 0x7F, 0xFF)), "with bytes after")
	for _, cut := range []int{len(data) - 1, len(data) / 2} {
		if cut < 0 {
			continue
		}
		if got := decode(data[:cut]); got != ErrNeedMore {
			same(got, "a prefix")
		}
	}
}

func FuzzDecodeFixedHeader(f *testing.F) {
	for _, c := range validConnects {
		f.Add(c.wire[:min(len(c.wire), 5)])
	}
	for _, wire := range [][]byte{
		cat(0x30, 0xFF, 0xFF, 0xFF, 0x7F), cat(0x10, 0x80, 0x80, 0x80, 0x80), cat(0x62, 0x02), cat(0x36, 0x00),
		cat(0xC0, 0x00), cat(0x00), nil,
	} {
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeFixedHeader(data)
		if err != nil {
			checkStableError(t, data, err, func(b []byte) error {
				_, err := DecodeFixedHeader(b)
				return err
			})
			return
		}
		require.LessOrEqual(t, h.HeaderLen, len(data))
		require.GreaterOrEqual(t, h.HeaderLen, 2)
		require.LessOrEqual(t, h.HeaderLen, 5)
		require.LessOrEqual(t, h.RemainingLength, MaxRemainingLength)

		again, err := DecodeFixedHeader(data[:h.HeaderLen])
		require.NoError(t, err)
		require.Equal(t, h, again)

		encoded := appendVarint([]byte{byte(h.Type)<<4 | h.Flags}, h.RemainingLength)
		minimal, err := DecodeFixedHeader(encoded)
		require.NoError(t, err)
		require.Equal(t, len(encoded), minimal.HeaderLen)
		require.LessOrEqual(t, minimal.HeaderLen, h.HeaderLen)
		minimal.HeaderLen = h.HeaderLen
		require.Equal(t, h, minimal)
	})
}

func FuzzDecodeConnack(f *testing.F) {
	for _, c := range validConnacks {
		f.Add(c.wire, c.version)
	}
	for _, c := range badConnacks {
		f.Add(c.wire, c.version)
	}
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		ack, n, err := DecodeConnack(data, version)
		require.LessOrEqual(t, n, len(data))
		if err != nil {
			require.Zero(t, n)
			checkStableError(t, data, err, func(b []byte) error {
				_, _, err := DecodeConnack(b, version)
				return err
			})
			return
		}
		require.Equal(t, version, ack.Version)
		again, n2, err := DecodeConnack(data[:n], version)
		require.NoError(t, err)
		require.Equal(t, n, n2)
		require.Equal(t, ack, again)
		_, _, err = DecodeConnack(data[:n-1], version)
		require.Same(t, ErrNeedMore, err, "the packet without its last byte")

		props := connackPropsOf(ack.Properties)
		encoded := AppendConnack(nil, version, ack.SessionPresent, ack.Code, props)
		reencoded, _, err := DecodeConnack(encoded, version)
		require.NoError(t, err, "re-encoded % x", encoded)
		require.Equal(t, ack.Code, reencoded.Code)
		require.Equal(t, props, connackPropsOf(reencoded.Properties))
		if ack.Code == 0 && version != V31 {
			require.Equal(t, ack.SessionPresent, reencoded.SessionPresent)
		}
	})
}
