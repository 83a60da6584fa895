package packet

import "fmt"

// propContext is where a property block stands: which properties it may
// hold, with the section of the specification that defines each there.
type propContext struct {
	where string
	// sections holds the section of each property allowed here; an empty
	// string means the property is not allowed.
	sections propSections
	// authDataNeedsMethod: Authentication Data without an Authentication
	// Method is a Protocol Error (§3.1.2.11.10).
	authDataNeedsMethod bool
}

// The property blocks this package decodes (MQTT 5.0 §3.1.2.11, §3.1.3.2,
// §3.2.2.3).
var (
	connectProps = propContext{
		where: "CONNECT",
		sections: propSections{
			PropSessionExpiryInterval:      "§3.1.2.11.2",
			PropReceiveMaximum:             "§3.1.2.11.3",
			PropMaximumPacketSize:          "§3.1.2.11.4",
			PropTopicAliasMaximum:          "§3.1.2.11.5",
			PropRequestResponseInformation: "§3.1.2.11.6",
			PropRequestProblemInformation:  "§3.1.2.11.7",
			PropUserProperty:               "§3.1.2.11.8",
			PropAuthenticationMethod:       "§3.1.2.11.9",
			PropAuthenticationData:         "§3.1.2.11.10",
		},
		authDataNeedsMethod: true,
	}
	willProps = propContext{
		where: "will",
		sections: propSections{
			PropWillDelayInterval:      "§3.1.3.2.2",
			PropPayloadFormatIndicator: "§3.1.3.2.3",
			PropMessageExpiryInterval:  "§3.1.3.2.4",
			PropContentType:            "§3.1.3.2.5",
			PropResponseTopic:          "§3.1.3.2.6",
			PropCorrelationData:        "§3.1.3.2.7",
			PropUserProperty:           "§3.1.3.2.8",
		},
	}
	connackProps = propContext{
		where: "CONNACK",
		sections: propSections{
			PropSessionExpiryInterval:           "§3.2.2.3.2",
			PropReceiveMaximum:                  "§3.2.2.3.3",
			PropMaximumQoS:                      "§3.2.2.3.4",
			PropRetainAvailable:                 "§3.2.2.3.5",
			PropMaximumPacketSize:               "§3.2.2.3.6",
			PropAssignedClientIdentifier:        "§3.2.2.3.7",
			PropTopicAliasMaximum:               "§3.2.2.3.8",
			PropReasonString:                    "§3.2.2.3.9",
			PropUserProperty:                    "§3.2.2.3.10",
			PropWildcardSubscriptionAvailable:   "§3.2.2.3.11",
			PropSubscriptionIdentifierAvailable: "§3.2.2.3.12",
			PropSharedSubscriptionAvailable:     "§3.2.2.3.13",
			PropServerKeepAlive:                 "§3.2.2.3.14",
			PropResponseInformation:             "§3.2.2.3.15",
			PropServerReference:                 "§3.2.2.3.16",
			PropAuthenticationMethod:            "§3.2.2.3.17",
			PropAuthenticationData:              "§3.2.2.3.18",
		},
	}
)

// propSections holds a section of the specification per property
// identifier.
type propSections [PropSharedSubscriptionAvailable + 1]string

// section returns where the spec defines id in this block, "" if id may
// not appear here.
func (ctx *propContext) section(id PropertyID) string {
	if int(id) < len(ctx.sections) {
		return ctx.sections[id]
	}
	return ""
}

// Value rules that hold wherever these properties may appear: a value
// other than 0 or 1, or a zero, is a Protocol Error (§3.1.2.11.3-7,
// §3.1.3.2.3, §3.2.2.3.3-13).
const (
	zeroOrOneProps uint64 = 1<<PropRequestResponseInformation | 1<<PropRequestProblemInformation |
		1<<PropPayloadFormatIndicator | 1<<PropMaximumQoS | 1<<PropRetainAvailable |
		1<<PropWildcardSubscriptionAvailable | 1<<PropSubscriptionIdentifierAvailable |
		1<<PropSharedSubscriptionAvailable
	nonZeroProps uint64 = 1<<PropReceiveMaximum | 1<<PropMaximumPacketSize
)

// properties reads a property block (5.0 §2.2.2): its length, then each
// property, which must be allowed in ctx (else Malformed, §2.2.2.2), appear
// once unless it is a User Property, and hold a valid value (else
// Protocol Error).
func (c *cursor) properties(ctx *propContext) (Properties, error) {
	n, err := c.varint(ctx.where + " property length")
	if err != nil {
		return Properties{}, err
	}
	block, err := c.take(n, ctx.where+" properties")
	if err != nil {
		return Properties{}, err
	}
	p := Properties{raw: block}
	for rest := block; len(rest) > 0; {
		id := PropertyID(rest[0])
		sec := ctx.section(id)
		if sec == "" {
			return Properties{}, c.malformed("§2.2.2.2",
				fmt.Sprintf("property 0x%02X (%v) is not allowed in %s", byte(id), id, ctx.where))
		}
		_, value, next, ok := splitProperty(rest)
		if !ok {
			return Properties{}, c.malformed("§2.2.2.1", id.String()+" runs past the property length")
		}
		if p.Has(id) && id != PropUserProperty {
			return Properties{}, c.protocolError(sec, id.String()+" appears more than once in "+ctx.where)
		}
		p.present |= 1 << id
		if err := c.checkPropertyValue(id, value, sec); err != nil {
			return Properties{}, err
		}
		rest = next
	}
	if ctx.authDataNeedsMethod && p.Has(PropAuthenticationData) && !p.Has(PropAuthenticationMethod) {
		return Properties{}, c.protocolError(ctx.section(PropAuthenticationData),
			"Authentication Data without Authentication Method")
	}
	return p, nil
}

func (c *cursor) checkPropertyValue(id PropertyID, value []byte, sec string) error {
	switch {
	case id.kind() == kindString:
		if err := checkUTF8(value, c.version, id.String()); err != nil {
			return err
		}
	case id.kind() == kindPair:
		key, val := splitPair(value)
		if err := checkUTF8(key, c.version, "User Property name"); err != nil {
			return err
		}
		if err := checkUTF8(val, c.version, "User Property value"); err != nil {
			return err
		}
	case zeroOrOneProps&(1<<id) != 0 && value[0] > 1:
		return c.protocolError(sec, fmt.Sprintf("%v is %d, not 0 or 1", id, value[0]))
	case nonZeroProps&(1<<id) != 0 && allZero(value):
		return c.protocolError(sec, id.String()+" is 0")
	}
	return nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
