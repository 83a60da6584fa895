package health

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/mosquitto"
	"github.com/mqttlb/mqttlb/internal/packet"
)

// connectRecorder is a mochi hook that records the CONNECT of every client
// and whether its session ended with its connection.
type connectRecorder struct {
	mqtt.HookBase
	mu          sync.Mutex
	connects    []packets.Packet
	disconnects map[string]bool // client ID -> session expired at disconnect
}

func (h *connectRecorder) ID() string { return "connect-recorder" }

func (h *connectRecorder) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnDisconnect
}

func (h *connectRecorder) OnConnect(_ *mqtt.Client, pk packets.Packet) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connects = append(h.connects, pk)
	return nil
}

func (h *connectRecorder) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disconnects[cl.ID] = expire
}

func TestMQTTPingAgainstMochi(t *testing.T) {
	for _, version := range []byte{packet.V31, packet.V311, packet.V5} {
		t.Run(versionName(version), func(t *testing.T) {
			recorder := &connectRecorder{disconnects: make(map[string]bool)}
			addr := startMochi(t, recorder)
			check := MQTTPing{Version: version}
			require.NoError(t, check.Check(t.Context(), addr))
			require.NoError(t, check.Check(t.Context(), addr))

			// mochi reports the disconnect after the probe has closed.
			require.Eventually(t, func() bool {
				recorder.mu.Lock()
				defer recorder.mu.Unlock()
				return len(recorder.disconnects) == 2
			}, 10*time.Second, 5*time.Millisecond)
			recorder.mu.Lock()
			defer recorder.mu.Unlock()
			require.Len(t, recorder.connects, 2)
			ids := map[string]bool{}
			for _, pk := range recorder.connects {
				id := pk.Connect.ClientIdentifier
				ids[id] = true
				assert.Equal(t, version, pk.ProtocolVersion)
				assert.True(t, strings.HasPrefix(id, DefaultClientIDPrefix), id)
				assert.LessOrEqual(t, len(id), 23, "client ID longer than every broker must accept")
				assert.True(t, pk.Connect.Clean, "clean session / clean start")
				assert.False(t, pk.Properties.SessionExpiryIntervalFlag, "session expiry sent")
				assert.True(t, recorder.disconnects[id], "session of %s outlived the probe", id)
			}
			assert.Len(t, ids, 2, "client IDs repeat")
		})
	}
}

func versionName(v byte) string {
	return map[byte]string{packet.V31: "MQTT 3.1", packet.V311: "MQTT 3.1.1", packet.V5: "MQTT 5"}[v]
}

func TestMQTTPingAgainstMosquitto(t *testing.T) {
	addr := startMosquitto(t, false)
	for _, version := range []byte{packet.V31, packet.V311, packet.V5} {
		t.Run(versionName(version), func(t *testing.T) {
			assert.NoError(t, MQTTPing{Version: version}.Check(t.Context(), addr))
		})
	}
}

func TestMQTTPingRefusedByMosquitto(t *testing.T) {
	addr := startMosquitto(t, true)
	tests := []struct {
		name      string
		check     MQTTPing
		wantCodes []byte // the codes the specification allows here
	}{
		{"3.1.1 anonymous", MQTTPing{}, []byte{packet.ReturnBadCredentials, packet.ReturnNotAuthorized}},
		{"3.1.1 wrong password", MQTTPing{Username: mosquittoUser, Password: "wrong"},
			[]byte{packet.ReturnBadCredentials, packet.ReturnNotAuthorized}},
		{"5 anonymous", MQTTPing{Version: 5}, []byte{packet.ConnackBadUsernameOrPassword, packet.ConnackNotAuthorized}},
		{"5 wrong password", MQTTPing{Version: 5, Username: mosquittoUser, Password: "wrong"},
			[]byte{packet.ConnackBadUsernameOrPassword, packet.ConnackNotAuthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.check.Check(t.Context(), addr)
			var refused *ConnackError
			require.ErrorAs(t, err, &refused)
			assert.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, tt.wantCodes, refused.Code, "CONNACK code 0x%02X", refused.Code)
			assert.Less(t, time.Since(start), DefaultTimeout, "a refusal must not wait for the timeout")
			t.Log(err)
		})
	}
	t.Run("right password", func(t *testing.T) {
		for _, version := range []byte{packet.V311, packet.V5} {
			check := MQTTPing{Version: version, Username: mosquittoUser, Password: mosquittoPassword}
			assert.NoError(t, check.Check(t.Context(), addr), versionName(version))
		}
	})
}

// fakeBroker accepts one connection on a loopback port and hands it, with
// a reader, to script. It returns the address.
func fakeBroker(t *testing.T, script func(conn net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		script(conn, bufio.NewReader(conn))
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// readConnect reads and decodes the client's CONNECT.
func readConnect(t *testing.T, r *bufio.Reader) packet.Connect {
	pkt, err := readPacket(r, nil)
	if !assert.NoError(t, err) {
		return packet.Connect{}
	}
	connect, n, err := packet.DecodeConnect(pkt)
	assert.NoError(t, err)
	assert.Equal(t, len(pkt), n)
	return connect
}

// Wire bytes the fake brokers send.
var (
	connackAccepted    = []byte{0x20, 0x02, 0x00, 0x00}       // CONNACK, no session, accepted
	connackAcceptedV5  = []byte{0x20, 0x03, 0x00, 0x00, 0x00} // CONNACK, no session, success, no properties
	pingresp           = []byte{0xD0, 0x00}
	pingreq            = []byte{0xC0, 0x00}
	disconnect         = []byte{0xE0, 0x00}
	connackNotAuthV311 = []byte{0x20, 0x02, 0x00, 0x05} // return code 5, not authorized
	connackBadAuthV5   = []byte{
		0x20, 0x0B, // CONNACK, remaining length 11
		0x00, 0x86, // no session, Bad User Name or Password
		0x08,                                      // properties length 8
		0x1F, 0x00, 0x05, 'n', 'o', ' ', 'p', 'w', // Reason String "no pw"
	}
	disconnectShuttingDownV5 = []byte{0xE0, 0x01, 0x8B} // DISCONNECT, Server shutting down
)

// expectPacket reads one packet and checks it is want.
func expectPacket(t *testing.T, r *bufio.Reader, want []byte) {
	got, err := readPacket(r, nil)
	if assert.NoError(t, err) {
		assert.Equal(t, want, got)
	}
}

func TestMQTTPingExchange(t *testing.T) {
	var seen packet.Connect
	addr := fakeBroker(t, func(conn net.Conn, r *bufio.Reader) {
		seen = readConnect(t, r)
		conn.Write(connackAcceptedV5)
		expectPacket(t, r, pingreq)
		conn.Write(pingresp)
		expectPacket(t, r, disconnect)
		_, err := r.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the probe did not close after DISCONNECT")
	})
	check := MQTTPing{Version: 5, ClientIDPrefix: "lb1-", Username: "monitor", Password: "pw"}
	require.NoError(t, check.Check(t.Context(), addr))

	assert.Equal(t, packet.V5, seen.Version)
	assert.True(t, strings.HasPrefix(string(seen.ClientID), "lb1-"), string(seen.ClientID))
	assert.Len(t, seen.ClientID, len("lb1-")+12)
	assert.True(t, seen.CleanStart)
	assert.Equal(t, uint16(probeKeepAlive), seen.KeepAlive)
	assert.Equal(t, "monitor", string(seen.Username))
	assert.Equal(t, "pw", string(seen.Password()))
	_, hasExpiry := seen.Properties.SessionExpiry()
	assert.False(t, hasExpiry, "a Session Expiry Interval was sent")
}

func TestMQTTPingSendsProxyHeaderFirst(t *testing.T) {
	addr := fakeBroker(t, func(conn net.Conn, r *bufio.Reader) {
		header := make([]byte, len(proxyLocalHeader))
		_, err := io.ReadFull(r, header)
		assert.NoError(t, err)
		assert.Equal(t, proxyLocalHeader[:], header)
		readConnect(t, r)
		conn.Write(connackAccepted)
		expectPacket(t, r, pingreq)
		conn.Write(pingresp)
		expectPacket(t, r, disconnect)
	})
	require.NoError(t, MQTTPing{ProxyHeader: true}.Check(t.Context(), addr))
}

func TestMQTTPingFailures(t *testing.T) {
	stall := func(conn net.Conn, r *bufio.Reader) { io.Copy(io.Discard, r) }
	tests := []struct {
		name    string
		check   MQTTPing
		script  func(conn net.Conn, r *bufio.Reader)
		wantErr error
		// wantCode is the CONNACK code of a refusal.
		wantCode   byte
		wantReason string
	}{
		{"no CONNACK", MQTTPing{}, stall, context.DeadlineExceeded, 0, ""},
		{"no PINGRESP", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write(connackAccepted)
			stall(conn, r)
		}, context.DeadlineExceeded, 0, ""},
		{"3.1.1 refused", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write(connackNotAuthV311)
		}, ErrRefused, packet.ReturnNotAuthorized, ""},
		{"5 refused with a reason string", MQTTPing{Version: 5}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write(connackBadAuthV5)
		}, ErrRefused, packet.ConnackBadUsernameOrPassword, "no pw"},
		{"5 DISCONNECT instead of PINGRESP", MQTTPing{Version: 5}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write(connackAcceptedV5)
			expectPacket(t, r, pingreq)
			conn.Write(disconnectShuttingDownV5)
		}, ErrUnexpectedPacket, 0, ""},
		{"PINGREQ answered with PINGREQ", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write(connackAccepted)
			expectPacket(t, r, pingreq)
			conn.Write(pingreq)
		}, ErrUnexpectedPacket, 0, ""},
		{"not MQTT", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			conn.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, ErrUnexpectedPacket, 0, ""},
		{"oversized packet", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
			conn.Write([]byte{0x20, 0xFF, 0xFF, 0x7F}) // CONNACK claiming 2 MiB
		}, ErrUnexpectedPacket, 0, ""},
		{"closed after CONNECT", MQTTPing{}, func(conn net.Conn, r *bufio.Reader) {
			readConnect(t, r)
		}, io.EOF, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeBroker(t, tt.script)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			err := tt.check.Check(ctx, addr)
			require.Error(t, err)
			t.Log(err)
			assert.ErrorIs(t, err, tt.wantErr)
			var refused *ConnackError
			if errors.As(err, &refused) {
				assert.Equal(t, tt.wantCode, refused.Code)
				assert.Equal(t, tt.wantReason, refused.Reason)
			} else {
				assert.Zero(t, tt.wantCode, "no ConnackError in %v", err)
			}
		})
	}
}

func TestMQTTPingConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		check MQTTPing
	}{
		{"unknown version", MQTTPing{Version: 6}},
		{"3.1.1 password without user name", MQTTPing{Password: "pw"}},
		{"bad port", MQTTPing{Port: 65536}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, tt.check.Check(t.Context(), "127.0.0.1:1"))
		})
	}
}

func TestConnackErrorText(t *testing.T) {
	tests := []struct {
		err  ConnackError
		want string
	}{
		{ConnackError{Addr: "b:1883", Version: 4, Code: 5},
			"health: MQTT connection refused by b:1883: CONNACK 0x05 Connection Refused, not authorized"},
		{ConnackError{Addr: "b:1883", Version: 5, Code: 0x87, Reason: "acl"},
			`health: MQTT connection refused by b:1883: CONNACK 0x87 Not authorized ("acl")`},
		{ConnackError{Addr: "b:1883", Version: 5, Code: 0xA0},
			"health: MQTT connection refused by b:1883: CONNACK 0xA0 (unknown code)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.EqualError(t, &tt.err, tt.want)
		})
	}
}

func TestMonitorFollowsAMosquittoThatDiesAndReturns(t *testing.T) {
	broker := mosquitto.Start(t, mosquitto.Config{})
	events := make(chan Event, 16)
	mon := &Monitor{
		Checker:  MQTTPing{Version: packet.V5},
		Interval: 20 * time.Millisecond,
		Rise:     2,
		Fall:     2,
		OnEvent:  func(ev Event) { events <- ev },
		Logger:   quietLogger,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mon.Run(ctx, []string{broker.Addr()}, nil) }()
	defer func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	}()
	next := func() Event {
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			require.FailNow(t, "no state change within 10 s")
			return Event{}
		}
	}

	broker.Kill()
	down := next()
	assert.Equal(t, Down, down.New)
	assert.Equal(t, 2, down.Failures)
	assert.Error(t, down.Err)

	broker.Restart()
	up := next()
	assert.Equal(t, Up, up.New)
	assert.Equal(t, 2, up.Successes)
}
