package mqttlb

import "github.com/mqttlb/mqttlb/internal/splice"

// TerminationCode returns a two-letter code for how a connection ended, in
// the spirit of HAProxy's termination state: the first letter says who or
// what ended it, the second in which phase.
//
// First letter: C the client (closed or failed), S the server (the
// backend), c the client's timeout, P the proxy refused it by rule, R a
// resource limit (quota), K killed by the proxy (Shutdown, Close, an
// operator closing a backend's sessions). Second letter: R while reading
// the CONNECT, C while connecting to a backend, D while relaying data.
//
//	SD  the backend closed or failed while relaying; the usual end after
//	    a client's DISCONNECT, as the broker closes first
//	CD  the client closed or failed while relaying
//	cD  the client was idle past 1.5 × its keep-alive (or IdleTimeout)
//	KD  killed while relaying: Shutdown, Close, Pool.CloseSessions
//	CR  the client left before sending a whole CONNECT
//	cR  no whole CONNECT within ConnectTimeout
//	PR  refused: not MQTT, malformed, unsupported version, too large, moved
//	RR  refused: quota exceeded
//	SC  no backend could take it: none usable, dials failed, or the
//	    CONNECT could not be forwarded
//
// It returns "--" for an event it does not know.
func TerminationCode(ev ConnEvent) string {
	if ev.End == endRefused {
		switch RefusalReason(ev.Err) {
		case "client_closed":
			return "CR"
		case "connect_timeout":
			return "cR"
		case "quota_exceeded":
			return "RR"
		case "no_backend":
			return "SC"
		}
		return "PR"
	}
	if ev.Backend != "" && ev.Up == 0 && ev.End == endBackendError {
		// The CONNECT could not be forwarded: still connecting.
		return "SC"
	}
	switch ev.End {
	case endClientClosed, endClientError:
		return "CD"
	case endBackendClosed, endBackendError:
		return "SD"
	case endIdle:
		return "cD"
	case endKilled:
		return "KD"
	}
	return "--"
}

// The ConnEvent.End values of relayed connections.
var (
	endClientClosed  = splice.EndClientClosed.String()
	endClientError   = splice.EndClientError.String()
	endBackendClosed = splice.EndBackendClosed.String()
	endBackendError  = splice.EndBackendError.String()
	endIdle          = splice.EndIdle.String()
	endKilled        = splice.EndKilled.String()
)
