package splice

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrEngineClosed is the Result.Err of a pair handed to [Engine.Start] after
// [Engine.Close].
var ErrEngineClosed = errors.New("splice: engine closed")

// Config tunes one relayed connection. The zero value relays without an idle
// timeout.
type Config struct {
	// ClientIdle closes both connections when the client has sent no byte
	// for this long. The proxy sets it to 1.5 times the MQTT keep-alive
	// (MQTT 5.0 §3.1.2.10, [MQTT-3.1.2-22]). 0 or negative means off.
	ClientIdle time.Duration
}

// End tells why a relay ended.
type End uint8

// The reasons a relay ends. The first event decides: a client that
// half-closes and a backend that then finishes give EndClientClosed.
const (
	// EndClientClosed: the client ended its write side (EOF). The backend's
	// write side was closed and the backend's answer relayed until it ended.
	EndClientClosed End = iota + 1
	// EndBackendClosed: the backend ended its write side; what it sent
	// before was delivered, then both connections were closed.
	EndBackendClosed
	// EndClientError: reading from or writing to the client failed.
	EndClientError
	// EndBackendError: reading from or writing to the backend failed.
	EndBackendError
	// EndIdle: the client sent nothing for Config.ClientIdle.
	EndIdle
	// EndKilled: the relay was ended from outside: Session.Close,
	// Engine.Close, or a connection closed by its owner.
	EndKilled
)

var endNames = [...]string{
	EndClientClosed:  "client closed",
	EndBackendClosed: "backend closed",
	EndClientError:   "client error",
	EndBackendError:  "backend error",
	EndIdle:          "client idle",
	EndKilled:        "killed",
}

// String returns a short lower-case description, for logs.
func (e End) String() string {
	if int(e) < len(endNames) && endNames[e] != "" {
		return endNames[e]
	}
	return "unknown"
}

// Result describes a finished relay.
type Result struct {
	// Up and Down count the bytes relayed client to backend and backend to
	// client; bytes the proxy wrote before the relay started are not counted.
	Up, Down int64
	// End tells why the relay ended.
	End End
	// Err is the first error met, if any; nil for clean ends, idle and kills.
	Err error
}

// counters are the live byte counts of one relay, written by the relay and
// readable from any goroutine.
type counters struct {
	up, down atomic.Int64
}
