package sticky

import "time"

// ExpiryNever is the MQTT 5 Session Expiry Interval that means "the session
// does not expire" (MQTT 5.0 §3.1.2.11.2). The table still bounds it by its
// TTL.
const ExpiryNever = 0xFFFFFFFF

// Session is what the table needs to know from a client's CONNECT to decide
// how long the broker keeps the client's session once the last connection
// closes, and so how long the entry is worth keeping.
//
// The zero Session keeps an entry for the table's TTL, which is what
// HAProxy's stick table does regardless of the session.
type Session struct {
	// Version is the CONNECT's protocol level: 3 (MQTT 3.1), 4 (MQTT 3.1.1)
	// or 5 (MQTT 5.0). Any value other than 5 follows the 3.1.1 rules.
	Version byte
	// CleanStart is the CONNECT's Clean Session flag (3.1, 3.1.1) or Clean
	// Start flag (5.0).
	CleanStart bool
	// Expiry is the MQTT 5 Session Expiry Interval property in seconds; it
	// is read only when Version is 5 and HasExpiry is set.
	Expiry uint32
	// HasExpiry reports whether the CONNECT carried the Session Expiry
	// Interval property. An absent property means 0 (MQTT 5.0 §3.1.2.11.2).
	HasExpiry bool
}

// Keep returns how long the broker keeps this session after its network
// connection closes, bounded by ttl; a negative ttl means no bound.
//
//   - MQTT 5.0: the Session Expiry Interval decides alone; Clean Start only
//     says whether an old session is resumed, not how long the new one
//     lasts (§3.1.2.4, §3.1.2.11.2). Absent or 0: the session ends with the
//     connection, so Keep is 0. [ExpiryNever]: ttl. N seconds: min(N s, ttl).
//   - MQTT 3.1 and 3.1.1: Clean Session 1 makes the session last only as
//     long as the connection [MQTT-3.1.2-6], so Keep is 0; Clean Session 0
//     keeps it until the client returns [MQTT-3.1.2-4], bounded by ttl.
func (s Session) Keep(ttl time.Duration) time.Duration {
	if ttl < 0 {
		ttl = forever
	}
	if s.Version != 5 {
		if s.CleanStart {
			return 0
		}
		return ttl
	}
	if !s.HasExpiry || s.Expiry == 0 {
		return 0
	}
	if s.Expiry == ExpiryNever {
		return ttl
	}
	return min(time.Duration(s.Expiry)*time.Second, ttl)
}

// forever stands for "no time bound"; comparisons against it never overflow
// because the table compares elapsed time with it instead of adding to it.
const forever = time.Duration(1<<63 - 1)
