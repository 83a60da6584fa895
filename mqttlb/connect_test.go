package mqttlb

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Wire fixtures, annotated.
var (
	// MQTT 3.1.1 CONNECT, client ID "dev-1", keep-alive 60, clean session.
	connect311 = []byte{
		0x10, 17, // CONNECT, remaining length 17
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x04,       // level 4 (3.1.1)
		0x02,       // flags: clean session
		0x00, 0x3C, // keep-alive 60 s
		0x00, 0x05, 'd', 'e', 'v', '-', '1', // client ID
	}
	// MQTT 5 CONNECT, client ID "dev-5", keep-alive 30, session expiry
	// 300 s, username "u" and password "secret".
	connect5 = []byte{
		0x10, 34, // CONNECT, remaining length 34
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x05,       // level 5
		0xC2,       // flags: username, password, clean start
		0x00, 0x1E, // keep-alive 30 s
		0x05,                         // properties length 5
		0x11, 0x00, 0x00, 0x01, 0x2C, // session expiry interval 300
		0x00, 0x05, 'd', 'e', 'v', '-', '5', // client ID
		0x00, 0x01, 'u', // username
		0x00, 0x06, 's', 'e', 'c', 'r', 'e', 't', // password
	}
	// PUBLISH QoS 0 to "a/b" with payload "hi", pipelined by a client.
	publishQoS0 = []byte{0x30, 7, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}
)

// pipePair returns both ends of a loopback TCP connection.
func pipePair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestReadConnectValid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wire    []byte
		version byte
		id      string
		user    string
		expiry  uint32
		hasExp  bool
	}{
		{"3.1.1", connect311, 4, "dev-1", "", 0, false},
		{"5.0", connect5, 5, "dev-5", "u", 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipePair(t)
			go client.Write(tc.wire)
			c, v, err := ReadConnect(server, time.Second, 0)
			require.NoError(t, err)
			defer c.Release()
			assert.Equal(t, tc.version, v)
			assert.Equal(t, tc.id, c.ClientID)
			assert.Equal(t, tc.user, c.Username)
			assert.Equal(t, tc.expiry, c.SessionExpiry)
			assert.Equal(t, tc.hasExp, c.HasSessionExpiry)
			assert.Equal(t, tc.wire, c.Bytes)
			assert.Equal(t, len(tc.wire), c.Len)
			assert.NotContains(t, c.String(), "secret")
		})
	}
}

func TestReadConnectByteByByte(t *testing.T) {
	client, server := pipePair(t)
	go func() {
		for _, b := range connect5 {
			client.Write([]byte{b})
			time.Sleep(time.Millisecond)
		}
	}()
	c, _, err := ReadConnect(server, 5*time.Second, 0)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, connect5, c.Bytes)
	assert.Equal(t, "dev-5", c.ClientID)
}

// HAProxy rejects a CONNECT whose remaining length's first byte (0x80)
// arrives alone; we wait for the rest.
func TestReadConnectSplitRemainingLength(t *testing.T) {
	wire := bigConnect311(200) // remaining length takes two bytes
	require.Equal(t, byte(0x80), wire[1]&0x80)
	client, server := pipePair(t)
	go func() {
		client.Write(wire[:2]) // 0x10 and the first length byte
		time.Sleep(20 * time.Millisecond)
		client.Write(wire[2:])
	}()
	c, _, err := ReadConnect(server, 5*time.Second, 0)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, wire, c.Bytes)
}

func TestReadConnectKeepsPipelinedPackets(t *testing.T) {
	client, server := pipePair(t)
	wire := append(append([]byte{}, connect311...), publishQoS0...)
	go client.Write(wire)
	// Make sure both packets are in before reading.
	time.Sleep(20 * time.Millisecond)
	c, _, err := ReadConnect(server, time.Second, 0)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, len(connect311), c.Len)
	assert.Equal(t, wire, c.Bytes, "the CONNECT and the PUBLISH behind it are both handed on")
}

// bigConnect311 returns a 3.1.1 CONNECT whose client ID is n bytes.
func bigConnect311(n int) []byte {
	return bigConnect(4, n)
}

func bigConnect(version byte, n int) []byte {
	var vh []byte
	vh = append(vh, 0x00, 0x04, 'M', 'Q', 'T', 'T', version, 0x02, 0x00, 0x3C)
	if version == 5 {
		vh = append(vh, 0x00) // no properties
	}
	vh = append(vh, byte(n>>8), byte(n))
	vh = append(vh, bytes.Repeat([]byte{'x'}, n)...)
	out := []byte{0x10}
	rl := len(vh)
	for {
		b := byte(rl % 128)
		rl /= 128
		if rl > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if rl == 0 {
			break
		}
	}
	return append(out, vh...)
}

func TestReadConnectLargerThan15360(t *testing.T) {
	wire := bigConnect311(20000)
	client, server := pipePair(t)
	go client.Write(wire)
	c, _, err := ReadConnect(server, 5*time.Second, 0)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, wire, c.Bytes)
	assert.Len(t, c.ClientID, 20000)
}

func TestReadConnectRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wire    []byte
		maxSize int
		want    error
		version byte
		answer  []byte // what Reject writes; nil: nothing
	}{
		{
			name: "http request", wire: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
			want: ErrNotMQTT,
		},
		{
			name: "tls client hello", wire: []byte{0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03},
			want: ErrNotMQTT,
		},
		{
			name: "v5 CONNECT of 100 KiB over a 64 KiB cap", wire: bigConnect(5, 100<<10),
			want: ErrTooLarge, version: 5,
			answer: []byte{0x20, 3, 0x00, 0x95, 0x00}, // CONNACK, Packet too large, no properties
		},
		{
			name: "3.1.1 CONNECT over a 1 KiB cap", wire: bigConnect(4, 2000), maxSize: 1024,
			want: ErrTooLarge, version: 4,
		},
		{
			name: "v5 reserved flag set",
			wire: []byte{0x10, 13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x03, 0x00, 0x3C, 0x00, 0x00, 0x00},
			want: ErrMalformed, version: 5,
			answer: []byte{0x20, 3, 0x00, 0x81, 0x00}, // CONNACK, Malformed packet
		},
		{
			name: "3.1.1 will QoS 3",
			wire: []byte{0x10, 12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x1E, 0x00, 0x3C, 0x00, 0x00},
			want: ErrMalformed, version: 4,
		},
		{
			name: "unknown level 6 with MQTT name",
			wire: []byte{0x10, 12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x00},
			want: ErrUnsupportedVersion, version: 6,
			answer: []byte{0x20, 3, 0x00, 0x84, 0x00}, // CONNACK, Unsupported protocol version
		},
		{
			name: "3.1 name with level 4",
			wire: []byte{0x10, 14, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00},
			want: ErrUnsupportedVersion, version: 4,
			answer: []byte{0x20, 2, 0x00, 0x01}, // CONNACK, unacceptable protocol version
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipePair(t)
			go client.Write(tc.wire)
			_, version, err := ReadConnect(server, 2*time.Second, tc.maxSize)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, tc.version, version)

			require.NoError(t, Reject(server, version, err))
			client.SetReadDeadline(time.Now().Add(2 * time.Second))
			got, rerr := io.ReadAll(client)
			if rerr != nil && !errors.Is(rerr, net.ErrClosed) {
				// A reset after the answer is acceptable only when the
				// answer arrived first.
				t.Logf("read after answer: %v", rerr)
			}
			assert.Equal(t, tc.answer, nilIfEmpty(got))
		})
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func TestReadConnectDeadline(t *testing.T) {
	client, server := pipePair(t)
	client.Write(connect311[:5]) // a start, then silence
	start := time.Now()
	_, _, err := ReadConnect(server, 200*time.Millisecond, 0)
	assert.ErrorIs(t, err, ErrConnectTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	// Reject writes nothing for a timeout and closes.
	require.NoError(t, Reject(server, 0, err))
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, _ := io.ReadAll(client)
	assert.Empty(t, got)
}

func TestReadConnectClientGone(t *testing.T) {
	client, server := pipePair(t)
	client.Write(connect311[:3])
	client.Close()
	_, _, err := ReadConnect(server, time.Second, 0)
	assert.ErrorIs(t, err, ErrClientClosed)
}

func TestAppendRefusal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version byte
		reason  error
		want    []byte
	}{
		{"v5 no backend", 5, ErrNoBackend, []byte{0x20, 3, 0x00, 0x88, 0x00}},
		{"3.1.1 no backend", 4, ErrNoBackend, []byte{0x20, 2, 0x00, 0x03}},
		{"3.1 no backend", 3, ErrNoBackend, []byte{0x20, 2, 0x00, 0x03}},
		{"v5 quota", 5, ErrQuotaExceeded, []byte{0x20, 3, 0x00, 0x97, 0x00}},
		{"3.1.1 quota", 4, ErrQuotaExceeded, []byte{0x20, 2, 0x00, 0x03}},
		{"3.1.1 malformed", 4, ErrMalformed, nil},
		{"3.1.1 too large", 4, ErrTooLarge, nil},
		{"not mqtt", 0, ErrNotMQTT, nil},
		{"timeout", 5, ErrConnectTimeout, nil},
		{"v5 moved", 5, &MovedError{Server: "b:1883", Permanent: true},
			[]byte{0x20, 12, 0x00, 0x9D, 9, 0x1C, 0x00, 0x06, 'b', ':', '1', '8', '8', '3'}},
		{"v5 use another", 5, &MovedError{Server: "b"},
			[]byte{0x20, 7, 0x00, 0x9C, 4, 0x1C, 0x00, 0x01, 'b'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := AppendRefusal(nil, tc.version, tc.reason)
			assert.Equal(t, tc.want != nil, ok)
			assert.Equal(t, tc.want, nilIfEmpty(got))
		})
	}
}

// A CONNECT that arrives whole in the first read is still held to the cap.
func TestReadConnectCapAppliesToAWholeFirstRead(t *testing.T) {
	wire := bigConnect(5, 200) // 216 bytes, one read
	client, server := pipePair(t)
	go client.Write(wire)
	time.Sleep(20 * time.Millisecond)
	_, version, err := ReadConnect(server, time.Second, 100)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, byte(5), version)
}
