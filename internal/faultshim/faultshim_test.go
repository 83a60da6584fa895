package faultshim_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/internal/faultshim"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// streamer sends payload to each connection, then reads until EOF.
func streamer(t *testing.T, payload []byte) string {
	addr := testnet.Serve(t, func(c net.Conn) {
		c.Write(payload)
		io.Copy(io.Discard, c)
	})
	return addr
}

func TestModes(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 100_000/16)
	for _, tc := range []struct {
		name     string
		fault    faultshim.Fault
		wantLen  int   // exact bytes received; -1: a prefix of any length
		wantErr  error // how the read ends
		minDelay time.Duration
	}{
		{"pass", faultshim.Fault{}, len(payload), nil, 0},
		{"delay", faultshim.Fault{Mode: faultshim.Delay, Delay: 50 * time.Millisecond}, len(payload), nil, 50 * time.Millisecond},
		{"drop", faultshim.Fault{Mode: faultshim.Drop, After: 10_000}, 10_000, io.ErrUnexpectedEOF, 0},
		{"reset", faultshim.Fault{Mode: faultshim.Reset, After: 10_000}, -1, syscall.ECONNRESET, 0},
		{"half-open", faultshim.Fault{Mode: faultshim.HalfOpen, After: 10_000}, 10_000, os.ErrDeadlineExceeded, 0},
		{"blackhole", faultshim.Fault{Mode: faultshim.Blackhole}, 0, os.ErrDeadlineExceeded, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shim := faultshim.Start(t, streamer(t, payload))
			shim.Set(tc.fault)
			began := time.Now()
			c, err := net.Dial("tcp", shim.Addr())
			if tc.fault.Mode == faultshim.Reset && errors.Is(err, syscall.ECONNRESET) {
				return // the reset beat the end of the dial on loopback
			}
			require.NoError(t, err)
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			got := make([]byte, len(payload)+1)
			n, err := io.ReadFull(c, got)
			got = got[:n]
			if tc.wantErr == nil && n == len(payload) {
				// Everything arrived and the streamer waits for our EOF.
				err = nil
			}
			if tc.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.wantErr)
			}
			if tc.wantLen >= 0 {
				assert.Len(t, got, tc.wantLen)
			}
			assert.Equal(t, payload[:len(got)], got, "bytes changed")
			assert.GreaterOrEqual(t, time.Since(began), tc.minDelay)
		})
	}
}

func TestUnresponsiveDialTimesOut(t *testing.T) {
	addr := faultshim.Unresponsive(t)
	_, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "dial: %v", err)
}
