package packet

// ConnectSpec describes a CONNECT for [AppendConnect] in plain Go values,
// as a client (a health check, a test) builds it. Optional values are
// pointers or byte slices whose nil means absent, so that an empty or zero
// value can still be sent.
type ConnectSpec struct {
	// Version is the protocol level: V31, V311 or V5; 0 means V311. Other
	// levels are encoded as given with the name "MQTT" and the 3.1.1
	// layout, to probe how a server refuses them.
	Version byte
	// Bridge sets the 0x80 bit of the level, as Mosquitto bridges do.
	Bridge     bool
	ClientID   string
	CleanStart bool
	// KeepAlive is in seconds; 0 turns it off.
	KeepAlive uint16
	// UsernameFlag sends Username, even an empty one.
	UsernameFlag bool
	Username     string
	// PasswordFlag sends Password, even an empty one.
	PasswordFlag bool
	Password     []byte
	// Will is the will message; nil sends none.
	Will *WillSpec
	// Properties are sent in MQTT 5 only.
	Properties ConnectProps
}

// WillSpec is the will message of a [ConnectSpec].
type WillSpec struct {
	QoS     byte
	Retain  bool
	Topic   string
	Payload []byte
	// Properties are sent in MQTT 5 only.
	Properties WillProps
}

// ConnectProps are the CONNECT properties of MQTT 5 (§3.1.2.11); nil
// values are not sent.
type ConnectProps struct {
	SessionExpiry              *uint32
	ReceiveMaximum             *uint16
	MaximumPacketSize          *uint32
	TopicAliasMaximum          *uint16
	RequestResponseInformation *byte
	RequestProblemInformation  *byte
	UserProperties             []UserProperty
	AuthenticationMethod       []byte
	AuthenticationData         []byte
}

// WillProps are the will properties of MQTT 5 (§3.1.3.2); nil values are
// not sent.
type WillProps struct {
	WillDelayInterval      *uint32
	PayloadFormatIndicator *byte
	MessageExpiryInterval  *uint32
	ContentType            []byte
	ResponseTopic          []byte
	CorrelationData        []byte
	UserProperties         []UserProperty
}

// AppendConnect appends the CONNECT that s describes (3.1.1 §3.1, 5.0
// §3.1). It panics if a string is longer than 65,535 bytes.
func AppendConnect(dst []byte, s *ConnectSpec) []byte {
	version := s.Version
	if version == 0 {
		version = V311
	}
	name := nameMQTT
	if version == V31 {
		name = nameMQIsdp
	}
	dst = append(dst, byte(CONNECT)<<4)
	dst, remaining := beginLength(dst)
	dst = appendPrefixed(dst, name)
	level := version
	if s.Bridge {
		level |= 0x80
	}
	dst = append(dst, level, s.flags())
	dst = append(dst, byte(s.KeepAlive>>8), byte(s.KeepAlive))
	if version == V5 {
		dst = s.Properties.appendBlock(dst)
	}
	dst = appendPrefixed(dst, s.ClientID)
	if s.Will != nil {
		if version == V5 {
			dst = s.Will.Properties.appendBlock(dst)
		}
		dst = appendPrefixed(dst, s.Will.Topic)
		dst = appendPrefixed(dst, s.Will.Payload)
	}
	if s.UsernameFlag {
		dst = appendPrefixed(dst, s.Username)
	}
	if s.PasswordFlag {
		dst = appendPrefixed(dst, s.Password)
	}
	return endLength(dst, remaining)
}

func (s *ConnectSpec) flags() byte {
	var flags byte
	if s.CleanStart {
		flags |= flagCleanStart
	}
	if s.Will != nil {
		flags |= flagWill | s.Will.QoS<<3&flagWillQoS
		if s.Will.Retain {
			flags |= flagWillRetain
		}
	}
	if s.UsernameFlag {
		flags |= flagUsername
	}
	if s.PasswordFlag {
		flags |= flagPassword
	}
	return flags
}

func (p *ConnectProps) appendBlock(dst []byte) []byte {
	dst, at := beginLength(dst)
	dst = appendPropUint32(dst, PropSessionExpiryInterval, p.SessionExpiry)
	dst = appendPropUint16(dst, PropReceiveMaximum, p.ReceiveMaximum)
	dst = appendPropUint32(dst, PropMaximumPacketSize, p.MaximumPacketSize)
	dst = appendPropUint16(dst, PropTopicAliasMaximum, p.TopicAliasMaximum)
	dst = appendPropByte(dst, PropRequestResponseInformation, p.RequestResponseInformation)
	dst = appendPropByte(dst, PropRequestProblemInformation, p.RequestProblemInformation)
	dst = appendUserProperties(dst, p.UserProperties)
	dst = appendPropBytes(dst, PropAuthenticationMethod, p.AuthenticationMethod)
	dst = appendPropBytes(dst, PropAuthenticationData, p.AuthenticationData)
	return endLength(dst, at)
}

func (p *WillProps) appendBlock(dst []byte) []byte {
	dst, at := beginLength(dst)
	dst = appendPropUint32(dst, PropWillDelayInterval, p.WillDelayInterval)
	dst = appendPropByte(dst, PropPayloadFormatIndicator, p.PayloadFormatIndicator)
	dst = appendPropUint32(dst, PropMessageExpiryInterval, p.MessageExpiryInterval)
	dst = appendPropBytes(dst, PropContentType, p.ContentType)
	dst = appendPropBytes(dst, PropResponseTopic, p.ResponseTopic)
	dst = appendPropBytes(dst, PropCorrelationData, p.CorrelationData)
	dst = appendUserProperties(dst, p.UserProperties)
	return endLength(dst, at)
}
