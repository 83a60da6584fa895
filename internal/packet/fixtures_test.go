package packet

// The fixture table shared by this package's tests, fuzz seeds and
// benchmarks: annotated wire bytes of CONNECT and CONNACK packets of all
// three versions, valid and broken, with what decoding them must give.

// connectFixture is a valid CONNECT and the ConnectSpec it encodes.
type connectFixture struct {
	name string
	wire []byte
	want ConnectSpec
	// exactEncoding: AppendConnect(want) gives wire byte for byte. False
	// where the wire differs from what the encoder writes (a remaining
	// length in more bytes than needed, properties in another order).
	exactEncoding bool
}

var validConnects = []connectFixture{
	{
		name: "3.1 minimal",
		wire: pkt(0x10, // CONNECT, remaining length
			str("MQIsdp"), // protocol name
			3,             // protocol level 3.1
			0x02,          // flags: clean session
			0x00, 0x3C,    // keep alive 60 s
			str("mosq-abc"), // client identifier
		),
		want:          ConnectSpec{Version: V31, ClientID: "mosq-abc", CleanStart: true, KeepAlive: 60},
		exactEncoding: true,
	},
	{
		name: "3.1 will and credentials",
		wire: pkt(0x10,
			str("MQIsdp"), 3,
			0xEC,       // flags: user name, password, will retain, will QoS 1, will; session kept
			0x00, 0x0A, // keep alive 10 s
			str("old-client"),
			str("status/old-client"), // will topic
			str("offline"),           // will message
			str("alice"),             // user name
			str("s3cret"),            // password
		),
		want: ConnectSpec{Version: V31, ClientID: "old-client", KeepAlive: 10,
			Will:         &WillSpec{QoS: 1, Retain: true, Topic: "status/old-client", Payload: []byte("offline")},
			UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte("s3cret")},
		exactEncoding: true,
	},
	{
		name: "3.1.1 typical",
		wire: pkt(0x10,
			str("MQTT"), 4, // protocol name and level 3.1.1
			0xC2,       // flags: user name, password, clean session
			0x00, 0x3C, // keep alive 60 s
			str("sensor-42"),
			str("device"),
			str("hunter2"),
		),
		want: ConnectSpec{Version: V311, ClientID: "sensor-42", CleanStart: true, KeepAlive: 60,
			UsernameFlag: true, Username: "device", PasswordFlag: true, Password: []byte("hunter2")},
		exactEncoding: true,
	},
	{
		name: "3.1.1 empty client identifier",
		wire: pkt(0x10,
			str("MQTT"), 4,
			0x02,       // flags: clean session
			0x00, 0x00, // keep alive off
			str(""), // client identifier: the server assigns one
		),
		want:          ConnectSpec{Version: V311, CleanStart: true},
		exactEncoding: true,
	},
	{
		name: "3.1.1 will QoS 2 retained, user name without password, empty strings",
		wire: pkt(0x10,
			str("MQTT"), 4,
			0xB4,       // flags: user name, will retain, will QoS 2, will
			0xFF, 0xFF, // keep alive 65535 s
			str("gerät-ü-😀"), // client identifier with multi-byte UTF-8
			str("a/b"),       // will topic
			str(""),          // will message: empty
			str(""),          // user name: present but empty
		),
		want: ConnectSpec{Version: V311, ClientID: "gerät-ü-😀", KeepAlive: 65535,
			Will:         &WillSpec{QoS: 2, Retain: true, Topic: "a/b", Payload: []byte{}},
			UsernameFlag: true, Username: ""},
		exactEncoding: true,
	},
	{
		name: "3.1.1 binary password, two-byte remaining length",
		wire: pkt(0x10,
			str("MQTT"), 4,
			0xC0, // flags: user name, password; session kept
			0x01, 0x2C,
			str(long(200)), // a client identifier longer than 3.1's 23 is the broker's call
			str("u"),
			cat(0x00, 0x04, 0x00, 0xFF, 0xC3, 0x28), // password: any bytes, even invalid UTF-8
		),
		want: ConnectSpec{Version: V311, ClientID: long(200), KeepAlive: 300,
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte{0x00, 0xFF, 0xC3, 0x28}},
		exactEncoding: true,
	},
	{
		name: "3.1.1 remaining length in more bytes than needed",
		wire: cat(0x10, 0x95, 0x00, // remaining length 21 in two bytes: allowed in 3.1.1
			str("MQTT"), 4, 0x02, 0x00, 0x3C,
			str("sensor-42"),
		),
		want: ConnectSpec{Version: V311, ClientID: "sensor-42", CleanStart: true, KeepAlive: 60},
	},
	{
		name: "5.0 minimal",
		wire: pkt(0x10,
			str("MQTT"), 5, // protocol name and level 5.0
			0x02,       // flags: clean start
			0x00, 0x3C, // keep alive 60 s
			props(), // no properties
			str("v5-client"),
		),
		want:          ConnectSpec{Version: V5, ClientID: "v5-client", CleanStart: true, KeepAlive: 60},
		exactEncoding: true,
	},
	{
		name: "5.0 typical",
		wire: pkt(0x10,
			str("MQTT"), 5,
			0xC2, // flags: user name, password, clean start
			0x00, 0x1E,
			props(
				0x11, 0x00, 0x00, 0x0E, 0x10, // Session Expiry Interval 3600 s
				0x21, 0x00, 0x14, // Receive Maximum 20
				0x26, str("region"), str("eu-west"), // User Property
			),
			str("car-7"),
			str("fleet"),
			str("token"),
		),
		want: ConnectSpec{Version: V5, ClientID: "car-7", CleanStart: true, KeepAlive: 30,
			UsernameFlag: true, Username: "fleet", PasswordFlag: true, Password: []byte("token"),
			Properties: ConnectProps{SessionExpiry: u32(3600), ReceiveMaximum: u16(20),
				UserProperties: []UserProperty{{"region", "eu-west"}}}},
		exactEncoding: true,
	},
	{
		name: "5.0 every CONNECT property",
		wire: pkt(0x10,
			str("MQTT"), 5,
			0x00, // flags: none; session kept
			0x00, 0x00,
			props(
				0x11, 0xFF, 0xFF, 0xFF, 0xFF, // Session Expiry Interval: never expires
				0x21, 0xFF, 0xFF, // Receive Maximum 65535
				0x27, 0x00, 0x10, 0x00, 0x00, // Maximum Packet Size 1 MiB
				0x22, 0x00, 0x0A, // Topic Alias Maximum 10
				0x19, 0x01, // Request Response Information 1
				0x17, 0x00, // Request Problem Information 0
				0x26, str("k"), str("v1"), // User Property
				0x26, str("k"), str("v2"), // User Property, same name again: allowed
				0x15, str("SCRAM-SHA-1"), // Authentication Method
				0x16, str("\x00client-first"), // Authentication Data
			),
			str("everything"),
		),
		want: ConnectSpec{Version: V5, ClientID: "everything",
			Properties: ConnectProps{SessionExpiry: u32(0xFFFFFFFF), ReceiveMaximum: u16(65535),
				MaximumPacketSize: u32(1 << 20), TopicAliasMaximum: u16(10),
				RequestResponseInformation: u8(1), RequestProblemInformation: u8(0),
				UserProperties:       []UserProperty{{"k", "v1"}, {"k", "v2"}},
				AuthenticationMethod: []byte("SCRAM-SHA-1"), AuthenticationData: []byte("\x00client-first")}},
		exactEncoding: true,
	},
	{
		name: "5.0 every will property",
		wire: pkt(0x10,
			str("MQTT"), 5,
			0x2E, // flags: will retain, will QoS 1, will, clean start
			0x00, 0x3C,
			props(
				0x11, 0x00, 0x00, 0x00, 0x00, // Session Expiry Interval 0: present, not absent
			),
			str("lamp-1"),
			props( // will properties
				0x18, 0x00, 0x00, 0x00, 0x05, // Will Delay Interval 5 s
				0x01, 0x01, // Payload Format Indicator: UTF-8
				0x02, 0x00, 0x01, 0x51, 0x80, // Message Expiry Interval 86400 s
				0x03, str("text/plain"), // Content Type
				0x08, str("lamp/1/reply"), // Response Topic
				0x09, str("\x01\x02"), // Correlation Data
				0x26, str("why"), str("power loss"), // User Property
			),
			str("lamp/1/status"), // will topic
			str("gone"),          // will payload
		),
		want: ConnectSpec{Version: V5, ClientID: "lamp-1", CleanStart: true, KeepAlive: 60,
			Properties: ConnectProps{SessionExpiry: u32(0)},
			Will: &WillSpec{QoS: 1, Retain: true, Topic: "lamp/1/status", Payload: []byte("gone"),
				Properties: WillProps{WillDelayInterval: u32(5), PayloadFormatIndicator: u8(1),
					MessageExpiryInterval: u32(86400), ContentType: []byte("text/plain"),
					ResponseTopic: []byte("lamp/1/reply"), CorrelationData: []byte{1, 2},
					UserProperties: []UserProperty{{"why", "power loss"}}}}},
		exactEncoding: true,
	},
	{
		name: "5.0 password without user name, non-UTF-8 will payload with format indicator 1",
		wire: pkt(0x10,
			str("MQTT"), 5,
			0x44, // flags: password, will; MQTT 5 allows a password alone
			0x00, 0x3C,
			props(),
			str("pw-only"),
			props(0x01, 0x01), // Payload Format Indicator: UTF-8 ...
			str("t"),
			str("\xFF\xFE"), // ... but the payload is not: left to the broker
			str("secret"),
		),
		want: ConnectSpec{Version: V5, ClientID: "pw-only", KeepAlive: 60, PasswordFlag: true,
			Password: []byte("secret"),
			Will: &WillSpec{Topic: "t", Payload: []byte("\xFF\xFE"),
				Properties: WillProps{PayloadFormatIndicator: u8(1)}}},
		exactEncoding: true,
	},
	{
		name: "5.0 properties in another order, empty Authentication Method",
		wire: pkt(0x10,
			str("MQTT"), 5, 0x02, 0x00, 0x3C,
			props(
				0x15, str(""), // Authentication Method: present, empty
				0x26, str("a"), str("1"), // User Property
				0x21, 0x00, 0x01, // Receive Maximum 1
				0x26, str("b"), str("2"), // User Property after another property
			),
			str("reordered"),
		),
		want: ConnectSpec{Version: V5, ClientID: "reordered", CleanStart: true, KeepAlive: 60,
			Properties: ConnectProps{ReceiveMaximum: u16(1), AuthenticationMethod: []byte{},
				UserProperties: []UserProperty{{"a", "1"}, {"b", "2"}}}},
	},
	{
		name: "5.0 three-byte remaining length",
		wire: pkt(0x10,
			str("MQTT"), 5, 0x06, 0x00, 0x3C,
			props(),
			str("big"),
			props(),
			str("big/will"),
			str(long(20000)), // will payload of 20,000 bytes
		),
		want: ConnectSpec{Version: V5, ClientID: "big", CleanStart: true, KeepAlive: 60,
			Will: &WillSpec{Topic: "big/will", Payload: []byte(long(20000))}},
		exactEncoding: true,
	},
}

// badFixture is bytes a decoder must refuse, with the *Error it gives.
type badFixture struct {
	name    string
	wire    []byte
	class   error
	version byte
	code    byte
	rule    string
}

var badConnects = []badFixture{
	// Not MQTT at all, refused from the first byte.
	{"HTTP request", cat("GET / HTTP/1.1\r\n"), ErrNotMQTT, 0, 0, "MQTT-3.1.0-1"},
	{"TLS ClientHello (0x16: type 1 with flags 6)", cat(0x16, 0x03, 0x01, 0x02, 0x00), ErrNotMQTT, 0, 0, "MQTT-2.2.2-2"},
	{"TLS first byte alone", cat(0x16), ErrNotMQTT, 0, 0, "MQTT-2.2.2-2"},
	{"CONNACK first", cat(0x20, 0x02, 0x00, 0x00), ErrNotMQTT, 0, 0, "MQTT-3.1.0-1"},
	{"PINGREQ first", cat(0xC0, 0x00), ErrNotMQTT, 0, 0, "MQTT-3.1.0-1"},
	{"CONNECT with flags", cat(0x12, 0x0D), ErrNotMQTT, 0, 0, "MQTT-2.2.2-2"},
	// Remaining length.
	{"remaining length with a fifth byte", cat(0x10, 0x80, 0x80, 0x80, 0x80, 0x01), ErrMalformed, 0, 0x81, "§2.2.3"},
	{"remaining length too short for the protocol name", cat(0x10, 0x02, str("MQTT")), ErrMalformed, 0, 0x81, "§2.2.3"},
	// Bounds come before content, so that every prefix of the input gets
	// the same verdict (found by FuzzDecodeConnect).
	{"protocol name length past the remaining length", cat(0x10, 0x01, 0x30, 0x30), ErrMalformed, 0, 0x81, "§2.2.3"},
	{"protocol name past the remaining length, though not MQTT", cat(0x10, 0x04, 0x00, 0x04, 'X', 'Y'), ErrMalformed, 0, 0x81, "§2.2.3"},
	// Protocol name and level.
	{"protocol name MQTX", pkt(0x10, str("MQTX"), 4, 0x02, 0x00, 0x3C, str("c")), ErrNotMQTT, 0, 0, "MQTT-3.1.2-1"},
	{"protocol name in lower case", pkt(0x10, str("mqtt"), 4, 0x02, 0x00, 0x3C, str("c")), ErrNotMQTT, 0, 0, "MQTT-3.1.2-1"},
	{"protocol name MQIsdP", pkt(0x10, str("MQIsdP"), 3, 0x02, 0x00, 0x3C, str("c")), ErrNotMQTT, 0, 0, "MQTT-3.1.2-1"},
	{"protocol name of 5 bytes", pkt(0x10, str("MQTTv"), 4, 0x02, 0x00, 0x3C, str("c")), ErrNotMQTT, 0, 0, "MQTT-3.1.2-1"},
	{"protocol name of 260 bytes", cat(0x10, 0x7F, 0x01, 0x04), ErrNotMQTT, 0, 0, "MQTT-3.1.2-1"},
	{"MQIsdp level 4", pkt(0x10, str("MQIsdp"), 4, 0x02, 0x00, 0x3C, str("c")), ErrUnsupportedVersion, 4, 0x84, "MQTT-3.1.2-2"},
	{"MQTT level 3", pkt(0x10, str("MQTT"), 3, 0x02, 0x00, 0x3C, str("c")), ErrUnsupportedVersion, 3, 0x84, "MQTT-3.1.2-2"},
	{"MQTT level 6", pkt(0x10, str("MQTT"), 6, 0x02, 0x00, 0x3C, str("c")), ErrUnsupportedVersion, 6, 0x84, "MQTT-3.1.2-2"},
	{"MQTT level 6 with bridge bit", pkt(0x10, str("MQTT"), 0x86, 0x02, 0x00, 0x3C, str("c")), ErrUnsupportedVersion, 6, 0x84, "MQTT-3.1.2-2"},
	{"bridge bit alone", pkt(0x10, str("MQTT"), 0x80, 0x02, 0x00, 0x3C, str("c")), ErrUnsupportedVersion, 0x80, 0x84, "MQTT-3.1.2-2"},
	{"5.0 remaining length in more bytes than needed",
		cat(0x10, 0x96, 0x00, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(), str("sensor-42")),
		ErrMalformed, 5, 0x81, "MQTT-1.5.5-1"},
	// Connect flags.
	{"3.1 reserved flag", pkt(0x10, str("MQIsdp"), 3, 0x03, 0x00, 0x3C, str("c")), ErrMalformed, 3, 0x81, "MQTT-3.1.2-3"},
	{"3.1.1 reserved flag", pkt(0x10, str("MQTT"), 4, 0x03, 0x00, 0x3C, str("c")), ErrMalformed, 4, 0x81, "MQTT-3.1.2-3"},
	{"5.0 reserved flag", pkt(0x10, str("MQTT"), 5, 0x01, 0x00, 0x3C, props(), str("c")), ErrMalformed, 5, 0x81, "MQTT-3.1.2-3"},
	{"3.1.1 will QoS 3", pkt(0x10, str("MQTT"), 4, 0x1E, 0x00, 0x3C, str("c"), str("t"), str("m")), ErrMalformed, 4, 0x81, "MQTT-3.1.2-14"},
	{"5.0 will QoS 3", pkt(0x10, str("MQTT"), 5, 0x1E, 0x00, 0x3C, props(), str("c"), props(), str("t"), str("m")), ErrMalformed, 5, 0x81, "MQTT-3.1.2-12"},
	{"3.1.1 will QoS without will", pkt(0x10, str("MQTT"), 4, 0x0A, 0x00, 0x3C, str("c")), ErrMalformed, 4, 0x81, "MQTT-3.1.2-13"},
	{"5.0 will QoS without will", pkt(0x10, str("MQTT"), 5, 0x12, 0x00, 0x3C, props(), str("c")), ErrMalformed, 5, 0x81, "MQTT-3.1.2-11"},
	{"3.1.1 will retain without will", pkt(0x10, str("MQTT"), 4, 0x22, 0x00, 0x3C, str("c")), ErrMalformed, 4, 0x81, "MQTT-3.1.2-15"},
	{"5.0 will retain without will", pkt(0x10, str("MQTT"), 5, 0x22, 0x00, 0x3C, props(), str("c")), ErrMalformed, 5, 0x81, "MQTT-3.1.2-13"},
	{"3.1 password without user name", pkt(0x10, str("MQIsdp"), 3, 0x42, 0x00, 0x3C, str("c"), str("pw")), ErrMalformed, 3, 0x81, "MQTT-3.1.2-22"},
	{"3.1.1 password without user name", pkt(0x10, str("MQTT"), 4, 0x42, 0x00, 0x3C, str("c"), str("pw")), ErrMalformed, 4, 0x81, "MQTT-3.1.2-22"},
	// Strings.
	{"3.1.1 client identifier not UTF-8", pkt(0x10, str("MQTT"), 4, 0x02, 0x00, 0x3C, str("\xC3\x28")), ErrMalformed, 4, 0x81, "MQTT-1.5.3-1"},
	{"5.0 client identifier not UTF-8", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(), str("\xC3\x28")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-1"},
	{"3.1.1 client identifier with U+0000", pkt(0x10, str("MQTT"), 4, 0x02, 0x00, 0x3C, str("a\x00b")), ErrMalformed, 4, 0x81, "MQTT-1.5.3-2"},
	{"5.0 client identifier with U+0000", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(), str("a\x00b")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-2"},
	{"3.1 user name with an encoded surrogate", pkt(0x10, str("MQIsdp"), 3, 0x82, 0x00, 0x3C, str("c"), str("\xED\xA0\x80")), ErrMalformed, 3, 0x81, "MQTT-1.5.3-1"},
	{"3.1.1 will topic overlong encoding", pkt(0x10, str("MQTT"), 4, 0x06, 0x00, 0x3C, str("c"), str("\xC0\xAF"), str("m")), ErrMalformed, 4, 0x81, "MQTT-1.5.3-1"},
	{"5.0 user name with U+0000", pkt(0x10, str("MQTT"), 5, 0x82, 0x00, 0x3C, props(), str("c"), str("\x00")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-2"},
	// Lengths of fields against the remaining length.
	{"3.1.1 remaining length longer than the fields", pkt(0x10, str("MQTT"), 4, 0x02, 0x00, 0x3C, str("c"), 0x00), ErrMalformed, 4, 0x81, "§2.2.3"},
	{"5.0 remaining length longer than the fields", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(), str("c"), 0x00), ErrMalformed, 5, 0x81, "§2.1.4"},
	{"3.1.1 client identifier past the remaining length", cat(0x10, 0x0D, str("MQTT"), 4, 0x02, 0x00, 0x3C, 0x00, 0x05, "abcde"), ErrMalformed, 4, 0x81, "§2.2.3"},
	{"3.1.1 user name flag without user name", pkt(0x10, str("MQTT"), 4, 0x82, 0x00, 0x3C, str("c")), ErrMalformed, 4, 0x81, "§2.2.3"},
	{"5.0 property length past the remaining length", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x10, 0x11), ErrMalformed, 5, 0x81, "§2.1.4"},
	// MQTT 5 properties.
	{"5.0 property length in more bytes than needed", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x80, 0x00, str("c")), ErrMalformed, 5, 0x81, "MQTT-1.5.5-1"},
	{"5.0 property length of five bytes", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x80, 0x80, 0x80, 0x80, 0x00), ErrMalformed, 5, 0x81, "§1.5.5"},
	{"5.0 property cut by the property length", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x03, 0x11, 0x00, 0x00, str("c")), ErrMalformed, 5, 0x81, "§2.2.2.1"},
	{"5.0 unknown property", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x7F, 0x00), str("c")), ErrMalformed, 5, 0x81, "§2.2.2.2"},
	{"5.0 property identifier of two bytes", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x91, 0x00, 0x00, 0x00, 0x00, 0x00), str("c")), ErrMalformed, 5, 0x81, "§2.2.2.2"},
	{"5.0 will property in CONNECT", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x18, 0x00, 0x00, 0x00, 0x05), str("c")), ErrMalformed, 5, 0x81, "§2.2.2.2"},
	{"5.0 CONNACK property in CONNECT", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x1F, str("no")), str("c")), ErrMalformed, 5, 0x81, "§2.2.2.2"},
	{"5.0 CONNECT property in will", pkt(0x10, str("MQTT"), 5, 0x06, 0x00, 0x3C, props(), str("c"), props(0x11, 0x00, 0x00, 0x00, 0x05), str("t"), str("m")), ErrMalformed, 5, 0x81, "§2.2.2.2"},
	{"5.0 Session Expiry Interval twice", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x11, 0x00, 0x00, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x06), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.2"},
	{"5.0 Authentication Method twice", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x15, str("a"), 0x15, str("a")), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.9"},
	{"5.0 Will Delay Interval twice", pkt(0x10, str("MQTT"), 5, 0x06, 0x00, 0x3C, props(), str("c"), props(0x18, 0x00, 0x00, 0x00, 0x01, 0x18, 0x00, 0x00, 0x00, 0x01), str("t"), str("m")), ErrMalformed, 5, 0x82, "§3.1.3.2.2"},
	{"5.0 Receive Maximum 0", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x21, 0x00, 0x00), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.3"},
	{"5.0 Maximum Packet Size 0", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x27, 0x00, 0x00, 0x00, 0x00), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.4"},
	{"5.0 Request Response Information 2", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x19, 0x02), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.6"},
	{"5.0 Request Problem Information 2", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x17, 0x02), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.7"},
	{"5.0 Payload Format Indicator 2", pkt(0x10, str("MQTT"), 5, 0x06, 0x00, 0x3C, props(), str("c"), props(0x01, 0x02), str("t"), str("m")), ErrMalformed, 5, 0x82, "§3.1.3.2.3"},
	{"5.0 Authentication Data without method", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x16, str("d")), str("c")), ErrMalformed, 5, 0x82, "§3.1.2.11.10"},
	{"5.0 User Property name not UTF-8", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x26, str("\xFF"), str("v")), str("c")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-1"},
	{"5.0 User Property value with U+0000", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x26, str("k"), str("\x00")), str("c")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-2"},
	{"5.0 Content Type not UTF-8", pkt(0x10, str("MQTT"), 5, 0x06, 0x00, 0x3C, props(), str("c"), props(0x03, str("\x80")), str("t"), str("m")), ErrMalformed, 5, 0x81, "MQTT-1.5.4-1"},
}

// partialConnects are valid beginnings of a CONNECT: each must give
// ErrNeedMore, not an error. Every prefix of every valid fixture is tested
// as well.
var partialConnects = []struct {
	name string
	wire []byte
}{
	{"nothing", nil},
	{"first byte", cat(0x10)},
	{"remaining length split after its first byte", cat(0x10, 0x80)},
	{"remaining length split after its third byte", cat(0x10, 0x80, 0x80, 0x80)},
	{"half the protocol name length", cat(0x10, 0x0D, 0x00)},
	{"half the protocol name", cat(0x10, 0x0D, 0x00, 0x04, 'M', 'Q')},
	{"half of MQIsdp", cat(0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I')},
	{"half the client identifier", cat(0x10, 0x15, str("MQTT"), 4, 0x02, 0x00, 0x3C, 0x00, 0x09, "sens")},
	{"half the property length", cat(0x10, 0x80, 0x01, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x80)},
	{"a property length whose properties have not arrived", cat(0x10, 0x80, 0x01, str("MQTT"), 5, 0x02, 0x00, 0x3C, 0x05, 0x11)},
}

// connackFixture is a valid CONNACK, the version of the CONNECT it
// answers, and what it decodes to.
type connackFixture struct {
	name    string
	wire    []byte
	version byte
	session bool
	code    byte
	props   *ConnackProps // the properties AppendConnack writes as wire; nil: none
}

var validConnacks = []connackFixture{
	{"3.1 refused", cat(0x20, 0x02, 0x00, 0x05), V31, false, ReturnNotAuthorized, nil},
	{"3.1.1 accepted", cat(0x20, 0x02, 0x00, 0x00), V311, false, ReturnAccepted, nil},
	{"3.1.1 session present", cat(0x20, 0x02, 0x01, 0x00), V311, true, ReturnAccepted, nil},
	{"3.1.1 server unavailable", cat(0x20, 0x02, 0x00, 0x03), V311, false, ReturnServerUnavailable, nil},
	{"5.0 accepted, no properties", pkt(0x20, 0x00, 0x00, props()), V5, false, ConnackSuccess, &ConnackProps{}},
	{"5.0 use another server", pkt(0x20,
		0x00, // acknowledge flags
		0x9C, // reason: use another server
		props( // properties
			0x1F, str("draining"), // Reason String
			0x1C, str("10.0.0.2:1883"), // Server Reference
		)), V5, false, ConnackUseAnotherServer,
		&ConnackProps{ReasonString: "draining", ServerReference: "10.0.0.2:1883"}},
	{"5.0 every CONNACK property", pkt(0x20,
		0x01, // session present
		0x00,
		props(
			0x11, 0x00, 0x00, 0x01, 0x2C, // Session Expiry Interval 300
			0x21, 0x00, 0x0A, // Receive Maximum 10
			0x24, 0x01, // Maximum QoS 1
			0x25, 0x00, // Retain Available 0
			0x27, 0x00, 0x00, 0x10, 0x00, // Maximum Packet Size 4096
			0x12, str("auto-1"), // Assigned Client Identifier
			0x22, 0x00, 0x05, // Topic Alias Maximum 5
			0x1F, str("welcome"), // Reason String
			0x26, str("node"), str("b2"), // User Property
			0x28, 0x01, // Wildcard Subscription Available
			0x29, 0x00, // Subscription Identifier Available
			0x2A, 0x01, // Shared Subscription Available
			0x13, 0x00, 0x1E, // Server Keep Alive 30
			0x1A, str("resp/"), // Response Information
			0x1C, str("other:1883"), // Server Reference
			0x15, str("PLAIN"), // Authentication Method
			0x16, str("ok"), // Authentication Data
		)), V5, true, ConnackSuccess,
		&ConnackProps{SessionExpiry: u32(300), ReceiveMaximum: u16(10), MaximumQoS: u8(1),
			RetainAvailable: u8(0), MaximumPacketSize: u32(4096), AssignedClientIdentifier: "auto-1",
			TopicAliasMaximum: u16(5), ReasonString: "welcome", UserProperties: []UserProperty{{"node", "b2"}},
			WildcardSubscriptionAvailable: u8(1), SubscriptionIdentifierAvailable: u8(0),
			SharedSubscriptionAvailable: u8(1), ServerKeepAlive: u16(30), ResponseInformation: "resp/",
			ServerReference: "other:1883", AuthenticationMethod: "PLAIN", AuthenticationData: []byte("ok")}},
}

// badConnacks must be refused by DecodeConnack for the version given in
// the fixture's version field.
var badConnacks = []badFixture{
	{"3.1.1 CONNACK with flags", cat(0x21, 0x02, 0x00, 0x00), ErrMalformed, V311, 0x81, "MQTT-2.2.2-2"},
	{"3.1.1 AUTH instead", cat(0xF0, 0x00), ErrUnexpectedPacket, V311, 0x82, "§3.2"},
	{"3.1.1 remaining length 3", cat(0x20, 0x03, 0x00, 0x00, 0x00), ErrMalformed, V311, 0x81, "§3.2.1"},
	{"3.1.1 reserved acknowledge flag", cat(0x20, 0x02, 0x02, 0x00), ErrMalformed, V311, 0x81, "§3.2.2.1"},
	{"5.0 reserved acknowledge flag", pkt(0x20, 0x80, 0x00, props()), ErrMalformed, V5, 0x81, "§3.2.2.1.1"},
	{"5.0 remaining length 1", cat(0x20, 0x01, 0x00), ErrMalformed, V5, 0x81, "§2.1.4"},
	{"5.0 remaining length longer than the fields", pkt(0x20, 0x00, 0x00, props(), 0x00), ErrMalformed, V5, 0x81, "§2.1.4"},
	{"5.0 CONNECT property in CONNACK", pkt(0x20, 0x00, 0x00, props(0x17, 0x01)), ErrMalformed, V5, 0x81, "§2.2.2.2"},
	{"5.0 Reason String twice", pkt(0x20, 0x00, 0x00, props(0x1F, str("a"), 0x1F, str("b"))), ErrMalformed, V5, 0x82, "§3.2.2.3.9"},
	{"5.0 Maximum QoS 2", pkt(0x20, 0x00, 0x00, props(0x24, 0x02)), ErrMalformed, V5, 0x82, "§3.2.2.3.4"},
	{"5.0 Server Reference not UTF-8", pkt(0x20, 0x00, 0x9C, props(0x1C, str("\xFF"))), ErrMalformed, V5, 0x81, "MQTT-1.5.4-1"},
	{"version 6", cat(0x20, 0x02, 0x00, 0x00), ErrUnsupportedVersion, 6, 0x84, "MQTT-3.1.2-2"},
}
