package health

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/proxyproto"
)

// recordingListener accepts connections on a loopback port and sends what
// each connection delivered before its clean end (EOF) to received.
func recordingListener(t *testing.T) (addr string, received <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan []byte, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			data, err := io.ReadAll(conn) // returns at EOF; a reset is an error
			conn.Close()
			if err == nil {
				ch <- data
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String(), ch
}

func TestTCPConnectsAndClosesCleanly(t *testing.T) {
	tests := []struct {
		name string
		tcp  TCP
		want []byte
	}{
		{"plain connect sends nothing", TCP{}, []byte{}},
		{"check-send-proxy sends a PROXY v2 LOCAL header", TCP{ProxyHeader: true}, []byte{
			0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, // signature
			0x20,       // version 2, LOCAL
			0x00,       // UNSPEC
			0x00, 0x00, // length 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, received := recordingListener(t)
			require.NoError(t, tt.tcp.Check(t.Context(), addr))
			select {
			case got := <-received:
				assert.Equal(t, tt.want, got)
			case <-time.After(10 * time.Second):
				require.FailNow(t, "the listener saw no clean close")
			}
		})
	}
}

func TestProxyLocalHeaderParsesAsLocal(t *testing.T) {
	header, err := pires.Read(bufio.NewReader(bytes.NewReader(proxyLocalHeader[:])))
	require.NoError(t, err)
	assert.Equal(t, byte(2), header.Version)
	assert.Equal(t, pires.LOCAL, header.Command)
	assert.Equal(t, pires.UNSPEC, header.TransportProtocol)
}

func TestProxyLocalHeaderMatchesProxyproto(t *testing.T) {
	header := proxyproto.LocalHeader()
	want, err := header.AppendBinary(nil)
	require.NoError(t, err)
	assert.Equal(t, want, proxyLocalHeader[:])
}

func TestTCPPortOverride(t *testing.T) {
	addr, received := recordingListener(t)
	_, portText, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)

	// The backend's MQTT port is closed; the check port is open.
	require.NoError(t, TCP{Port: port}.Check(t.Context(), "127.0.0.1:1"))
	assert.Equal(t, []byte{}, <-received)
}

func TestTCPFailures(t *testing.T) {
	closed := freeLoopbackAddr(t)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		tcp     TCP
		addr    string
		wantErr error
	}{
		{"nothing listens", t.Context(), TCP{}, closed, nil},
		{"context canceled", canceled, TCP{}, closed, context.Canceled},
		{"port out of range", t.Context(), TCP{Port: 70000}, closed, ErrPort},
		{"address without port", t.Context(), TCP{Port: 1883}, "127.0.0.1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tcp.Check(tt.ctx, tt.addr)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestTCPAgainstBrokers(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		assert.NoError(t, TCP{}.Check(t.Context(), startMochi(t)))
	})
	t.Run("mosquitto", func(t *testing.T) {
		assert.NoError(t, TCP{}.Check(t.Context(), startMosquitto(t, false)))
	})
}
