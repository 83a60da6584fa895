package health

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/mqttlb/mqttlb/internal/packet"
)

// Errors of the [MQTTPing] checker.
var (
	// ErrRefused is matched by a [*ConnackError]: the broker refused the
	// probe's connection.
	ErrRefused = errors.New("health: MQTT connection refused")
	// ErrUnexpectedPacket is returned when the broker sends a packet other
	// than the one the exchange calls for, such as an MQTT 5 DISCONNECT.
	ErrUnexpectedPacket = errors.New("health: unexpected MQTT packet")
	// ErrMQTTConfig is returned for an MQTTPing that cannot be sent: an
	// unknown Version, or a password without a user name in MQTT 3.x.
	ErrMQTTConfig = errors.New("health: invalid MQTT probe")
)

// DefaultClientIDPrefix starts the client ID of every [MQTTPing] probe
// whose ClientIDPrefix is empty.
const DefaultClientIDPrefix = "mqttlbhc"

// maxProbePacket bounds the packets a probe reads: a CONNACK with a long
// reason string or many user properties fits, a runaway length does not.
const maxProbePacket = 64 << 10

// probeKeepAlive is the keep-alive of a probe's CONNECT, in seconds. The
// probe ends long before it matters; it is there so that a broker drops
// the connection of a probe that vanished halfway (1.5 times the
// keep-alive, [MQTT-3.1.2-24]).
const probeKeepAlive = 10

// MQTTPing is a [Checker] that completes a whole MQTT exchange with the
// broker: CONNECT with a clean start, CONNACK accepted, PINGREQ, PINGRESP,
// DISCONNECT, close. It shows that the broker accepts sessions, not only
// TCP connections.
//
// Every probe uses a new client ID, DefaultClientIDPrefix (or
// ClientIDPrefix) followed by 12 random hexadecimal digits, so probes from
// several proxies never take over each other's connection, and no session
// outlives the probe: clean session in MQTT 3.x (3.1.1 §3.1.2.4), clean
// start with no Session Expiry Interval, hence 0, in MQTT 5 (§3.1.2.11.2).
//
// A CONNACK that refuses the connection fails the check at once with a
// [*ConnackError] carrying the broker's code. A broker that stalls fails
// the check at the context's deadline. MQTTPing is safe for concurrent use.
type MQTTPing struct {
	// Port is the MQTT port; 0 means the backend's port.
	Port int
	// Version is the protocol level of the CONNECT: 3 (MQTT 3.1), 4 (MQTT
	// 3.1.1) or 5 (MQTT 5.0); 0 means 4.
	Version byte
	// ClientIDPrefix starts each probe's client ID; empty means
	// DefaultClientIDPrefix. With the 12 random digits, a prefix of up to
	// 11 letters and digits keeps the ID within the 23 characters every
	// broker must accept [MQTT-3.1.3-5].
	ClientIDPrefix string
	// Username, when not empty, is sent as the user name.
	Username string
	// Password, when not empty, is sent as the password. MQTT 3.x allows
	// a password only with a user name [MQTT-3.1.2-22].
	Password string
	// ProxyHeader sends a PROXY protocol v2 LOCAL header first, for
	// brokers that require one on every connection (HAProxy
	// "check-send-proxy"). The proxyproto package documents which
	// brokers accept one.
	ProxyHeader bool
	// Dialer opens the connection; nil means a zero net.Dialer.
	Dialer Dialer
}

// ConnackError reports a CONNACK that refused the probe's connection.
// errors.Is(err, ErrRefused) matches it; errors.As gives the code.
type ConnackError struct {
	// Addr is the address probed.
	Addr string
	// Version is the protocol level of the probe: 3, 4 or 5.
	Version byte
	// Code is the CONNACK return code in MQTT 3.x (3.1.1 §3.2.2.3: 1 to 5)
	// or reason code in MQTT 5 (§3.2.2.2: 0x80 and above).
	Code byte
	// Reason is the MQTT 5 Reason String the broker sent, if any.
	Reason string
}

// Error names the code, such as "health: MQTT connection refused by
// 10.0.0.1:1883: CONNACK 0x87 Not authorized".
func (e *ConnackError) Error() string {
	msg := fmt.Sprintf("%v by %s: CONNACK 0x%02X %s", ErrRefused, e.Addr, e.Code, connackCodeName(e.Version, e.Code))
	if e.Reason != "" {
		msg += fmt.Sprintf(" (%q)", e.Reason)
	}
	return msg
}

// Is reports whether target is ErrRefused.
func (e *ConnackError) Is(target error) bool { return target == ErrRefused }

// Check runs the exchange with the broker at addr (with Port, when set).
func (p MQTTPing) Check(ctx context.Context, addr string) error {
	target, err := withPort(addr, p.Port)
	if err != nil {
		return err
	}
	connect, err := p.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	conn, release, err := dialProbe(ctx, p.Dialer, target)
	if err != nil {
		return fmt.Errorf("health: mqtt check: %w", ioError(ctx, err))
	}
	defer release()
	return newMQTTProbe(ctx, conn, target, connect.Version).run(p.ProxyHeader, connect)
}

// connect returns the CONNECT of one probe, with a new client ID.
func (p MQTTPing) connect() (*packet.ConnectSpec, error) {
	version := p.Version
	if version == 0 {
		version = packet.V311
	}
	if version != packet.V31 && version != packet.V311 && version != packet.V5 {
		return nil, fmt.Errorf("%w: MQTT protocol level %d", ErrMQTTConfig, p.Version)
	}
	if version != packet.V5 && p.Password != "" && p.Username == "" {
		return nil, fmt.Errorf("%w: a password needs a user name before MQTT 5 [MQTT-3.1.2-22]", ErrMQTTConfig)
	}
	prefix := p.ClientIDPrefix
	if prefix == "" {
		prefix = DefaultClientIDPrefix
	}
	var random [6]byte
	rand.Read(random[:])
	return &packet.ConnectSpec{
		Version:      version,
		ClientID:     prefix + hex.EncodeToString(random[:]),
		CleanStart:   true,
		KeepAlive:    probeKeepAlive,
		UsernameFlag: p.Username != "",
		Username:     p.Username,
		PasswordFlag: p.Password != "",
		Password:     []byte(p.Password),
	}, nil
}

// mqttProbe is one exchange of an [MQTTPing] over an open connection.
type mqttProbe struct {
	ctx     context.Context
	conn    net.Conn
	r       *bufio.Reader
	target  string
	version byte
	in, out []byte // buffers reused from packet to packet
}

// newMQTTProbe prepares an exchange of the given protocol level on conn.
func newMQTTProbe(ctx context.Context, conn net.Conn, target string, version byte) *mqttProbe {
	return &mqttProbe{
		ctx:     ctx,
		conn:    conn,
		r:       bufio.NewReaderSize(conn, 256),
		target:  target,
		version: version,
		out:     make([]byte, 0, 128),
	}
}

// run sends CONNECT, expects an accepting CONNACK, sends PINGREQ, expects
// PINGRESP, sends DISCONNECT and closes the connection.
func (p *mqttProbe) run(proxyHeader bool, connect *packet.ConnectSpec) error {
	if proxyHeader {
		p.out = append(p.out, proxyLocalHeader[:]...)
	}
	if err := p.send("CONNECT", packet.AppendConnect(p.out, connect)); err != nil {
		return err
	}
	in, err := p.read("CONNACK")
	if err != nil {
		return err
	}
	connack, _, err := packet.DecodeConnack(in, p.version)
	if err != nil {
		return p.unexpected("CONNACK", err)
	}
	if connack.Code != packet.ConnackSuccess {
		refused := &ConnackError{Addr: p.target, Version: p.version, Code: connack.Code}
		if reason, ok := connack.Properties.ReasonString(); ok {
			refused.Reason = string(reason)
		}
		return refused
	}

	if err := p.send("PINGREQ", packet.AppendPingreq(p.out[:0])); err != nil {
		return err
	}
	in, err = p.read("PINGRESP")
	if err != nil {
		return err
	}
	if err := p.expectPingresp(in); err != nil {
		return err
	}

	if err := p.send("DISCONNECT", packet.AppendDisconnect(p.out[:0], p.version, packet.DisconnectNormal)); err != nil {
		return err
	}
	if err := p.conn.Close(); err != nil {
		return fmt.Errorf("health: mqtt check %s: close: %w", p.target, err)
	}
	return nil
}

// send writes the packet pkt, named what.
func (p *mqttProbe) send(what string, pkt []byte) error {
	p.out = pkt
	if _, err := p.conn.Write(pkt); err != nil {
		return fmt.Errorf("health: mqtt check %s: send %s: %w", p.target, what, ioError(p.ctx, err))
	}
	return nil
}

// read reads the next whole packet, where a packet named what is expected.
func (p *mqttProbe) read(what string) ([]byte, error) {
	in, err := readPacket(p.r, p.in)
	var malformed *packet.Error
	switch {
	case errors.As(err, &malformed) || errors.Is(err, errPacketTooLarge):
		return nil, p.unexpected(what, err)
	case err != nil:
		return nil, fmt.Errorf("health: mqtt check %s: read %s: %w", p.target, what, ioError(p.ctx, err))
	}
	p.in = in
	return in, nil
}

// unexpected reports what the broker sent instead of a packet named what.
func (p *mqttProbe) unexpected(what string, detail error) error {
	return fmt.Errorf("%w from %s where a %s was expected: %w", ErrUnexpectedPacket, p.target, what, detail)
}

// expectPingresp checks that pkt, a whole packet, is a PINGRESP (3.1.1
// §3.13, 5.0 §3.13). An MQTT 5 broker may instead end the connection with
// a DISCONNECT and a reason code (§3.14), which is reported.
func (p *mqttProbe) expectPingresp(pkt []byte) error {
	header, err := packet.DecodeFixedHeader(pkt)
	switch {
	case err != nil:
		return p.unexpected("PINGRESP", err)
	case header.Type == packet.PINGRESP && header.RemainingLength == 0:
		return nil
	case header.Type == packet.DISCONNECT && p.version == packet.V5 && header.RemainingLength > 0:
		return p.unexpected("PINGRESP", fmt.Errorf("DISCONNECT with reason code 0x%02X", pkt[header.HeaderLen]))
	}
	return p.unexpected("PINGRESP", fmt.Errorf("%v of %d bytes", header.Type, header.PacketLen()))
}

// errPacketTooLarge is returned by readPacket for a packet larger than
// maxProbePacket.
var errPacketTooLarge = fmt.Errorf("packet larger than the %d bytes a probe reads", maxProbePacket)

// readPacket reads one whole MQTT packet from r into buf's storage and
// returns it. An invalid fixed header is reported as a *packet.Error.
func readPacket(r *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		buf = append(buf, b)
		header, err := packet.DecodeFixedHeader(buf)
		if errors.Is(err, packet.ErrNeedMore) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if header.RemainingLength > maxProbePacket {
			return nil, fmt.Errorf("%w: %v of %d bytes", errPacketTooLarge, header.Type, header.PacketLen())
		}
		size := header.PacketLen()
		if cap(buf) < size {
			buf = append(make([]byte, 0, size), buf...)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf[header.HeaderLen:]); err != nil {
			return nil, err
		}
		return buf, nil
	}
}

// connackCodeName names a CONNACK code of the given protocol level.
func connackCodeName(version, code byte) string {
	if version != packet.V5 {
		if name, ok := connackReturnNames[code]; ok {
			return name
		}
	} else if name, ok := connackReasonNames[code]; ok {
		return name
	}
	return "(unknown code)"
}

// connackReturnNames are the CONNACK return codes of MQTT 3.1 and 3.1.1
// (3.1.1 §3.2.2.3, Table 3.1).
var connackReturnNames = map[byte]string{
	packet.ReturnUnacceptableVersion: "Connection Refused, unacceptable protocol version",
	packet.ReturnIdentifierRejected:  "Connection Refused, identifier rejected",
	packet.ReturnServerUnavailable:   "Connection Refused, Server unavailable",
	packet.ReturnBadCredentials:      "Connection Refused, bad user name or password",
	packet.ReturnNotAuthorized:       "Connection Refused, not authorized",
}

// connackReasonNames are the refusing CONNACK reason codes of MQTT 5
// (§3.2.2.2, Table 3-1).
var connackReasonNames = map[byte]string{
	packet.ConnackUnspecifiedError:            "Unspecified error",
	packet.ConnackMalformed:                   "Malformed Packet",
	packet.ConnackProtocolError:               "Protocol Error",
	packet.ConnackImplementationSpecificError: "Implementation specific error",
	packet.ConnackUnsupportedVersion:          "Unsupported Protocol Version",
	packet.ConnackClientIdentifierNotValid:    "Client Identifier not valid",
	packet.ConnackBadUsernameOrPassword:       "Bad User Name or Password",
	packet.ConnackNotAuthorized:               "Not authorized",
	packet.ConnackServerUnavailable:           "Server unavailable",
	packet.ConnackServerBusy:                  "Server busy",
	packet.ConnackBanned:                      "Banned",
	packet.ConnackBadAuthenticationMethod:     "Bad authentication method",
	packet.ConnackTopicNameInvalid:            "Topic Name invalid",
	packet.ConnackPacketTooLarge:              "Packet too large",
	packet.ConnackQuotaExceeded:               "Quota exceeded",
	packet.ConnackPayloadFormatInvalid:        "Payload format invalid",
	packet.ConnackRetainNotSupported:          "Retain not supported",
	packet.ConnackQoSNotSupported:             "QoS not supported",
	packet.ConnackUseAnotherServer:            "Use another server",
	packet.ConnackServerMoved:                 "Server moved",
	packet.ConnackConnectionRateExceeded:      "Connection rate exceeded",
}
