package health

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"

	"github.com/mqttlb/mqttlb/internal/packet"
)

// replayConn plays back a broker's bytes and swallows what the probe sends.
type replayConn struct {
	net.Conn // nil: the probe uses only the methods below
	reply    io.Reader
}

func (c *replayConn) Read(b []byte) (int, error)  { return c.reply.Read(b) }
func (c *replayConn) Write(b []byte) (int, error) { return len(b), nil }
func (c *replayConn) Close() error                { return nil }

// FuzzBrokerReply feeds arbitrary broker bytes to a probe. It must never
// panic, every failure must be one of the documented kinds, and success
// needs at least a CONNACK and a PINGRESP.
func FuzzBrokerReply(f *testing.F) {
	f.Add(slices.Concat(connackAccepted, pingresp), packet.V311)
	f.Add(slices.Concat(connackAcceptedV5, pingresp), packet.V5)
	f.Add(connackNotAuthV311, packet.V311)
	f.Add(connackBadAuthV5, packet.V5)
	f.Add(slices.Concat(connackAcceptedV5, disconnectShuttingDownV5), packet.V5)
	f.Add([]byte{0x20, 0xFF, 0xFF, 0xFF, 0x7F}, packet.V311)
	f.Fuzz(func(t *testing.T, reply []byte, version byte) {
		version = []byte{packet.V31, packet.V311, packet.V5}[int(version)%3]
		connect, err := MQTTPing{Version: version}.connect()
		if err != nil {
			t.Fatal(err)
		}
		conn := &replayConn{reply: bytes.NewReader(reply)}
		err = newMQTTProbe(context.Background(), conn, "fuzz:1883", version).run(false, connect)
		switch {
		case err == nil:
			if len(reply) < 6 {
				t.Fatalf("success on %d bytes: % X", len(reply), reply)
			}
		case errors.Is(err, ErrRefused), errors.Is(err, ErrUnexpectedPacket),
			errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		default:
			t.Fatalf("unclassified error %v on % X", err, reply)
		}
	})
}
