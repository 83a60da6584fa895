// Package haproxycfg reads the MQTT-relevant subset of HAProxy's
// configuration language, so that the haproxy.cfg files of the EMQX,
// HiveMQ and Mosquitto load-balancing guides run under mqttlb with only
// their addresses changed.
//
//	cfg, err := haproxycfg.ParseFile("haproxy.cfg")
//	if err != nil {
//		// err is an Errors: one "file:line: message" per problem found
//	}
//	for _, w := range cfg.Warnings {
//		log.Print(w) // directives accepted but without effect here
//	}
//	for _, fe := range cfg.Frontends {
//		// fe.Binds, fe.UseBackends, fe.DefaultBackend, fe.Stats ...
//	}
//
// The sections are global, defaults, frontend, backend and listen (a
// frontend and a backend of the same name). A defaults section gives its
// settings to every proxy section after it, up to the next defaults
// section, which starts again from HAProxy's built-in defaults. The
// result is typed and checked (backend names resolved, addresses and
// times parsed); turning it into pools and proxies is the caller's job.
//
// Every problem is reported, not only the first, each with its file and
// line. Directives unknown here are errors, except those known to be
// harmless for an MQTT proxy (log, daemon, user, chroot, option tcplog
// and the like), which are warnings.
package haproxycfg

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is wrapped by the Errors a configuration with problems
// gives.
var ErrInvalid = errors.New("haproxycfg: invalid configuration")

// Diagnostic is one problem or warning, at a line of a file.
type Diagnostic struct {
	File    string
	Line    int
	Message string
}

// String formats the diagnostic as "file:line: message".
func (d Diagnostic) String() string { return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Message) }

// Errors lists every problem found in a configuration, in file order.
type Errors []Diagnostic

// Error returns the problems, one "file:line: message" per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e Errors) Unwrap() error { return ErrInvalid }

// Config is a parsed configuration.
type Config struct {
	Global Global
	// Frontends are the frontend sections and the frontend halves of the
	// listen sections, in file order.
	Frontends []*Frontend
	// Backends are the backend sections and the backend halves of the
	// listen sections, in file order.
	Backends []*Backend
	// Warnings are directives accepted without effect, and settings whose
	// meaning differs here; the configuration runs regardless.
	Warnings []Diagnostic
}

// Backend returns the backend with the given name, or nil.
func (c *Config) Backend(name string) *Backend {
	for _, b := range c.Backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Global holds the global section's settings that matter here.
type Global struct {
	// MaxConn is the process-wide "maxconn", 0 when not set.
	MaxConn int
	// SpreadChecks is "spread-checks" in percent, 0 when not set.
	SpreadChecks int
}

// Frontend is where clients connect: binds and the rules that choose a
// backend.
type Frontend struct {
	Name string
	File string
	Line int
	// Listen reports a frontend that is the front half of a listen
	// section; its default backend is the section's own.
	Listen bool
	// Mode is "tcp" (the default) or "http".
	Mode  string
	Binds []Bind
	// MaxConn is the frontend's "maxconn", 0 when not set.
	MaxConn int
	// InspectDelay is "tcp-request inspect-delay", 0 when not set: how
	// long to wait for the CONNECT.
	InspectDelay time.Duration
	// ClientTimeout and TunnelTimeout are "timeout client" and "timeout
	// tunnel", 0 when not set.
	ClientTimeout, TunnelTimeout time.Duration
	// DontLogNormal is "option dontlog-normal": only connections that
	// failed, were refused or were retried are logged.
	DontLogNormal bool
	// ContentRules are the "tcp-request content accept|reject" rules.
	ContentRules []ContentRule
	// UseBackends are the "use_backend" rules in order.
	UseBackends []UseBackend
	// DefaultBackend is "default_backend", empty when not set.
	DefaultBackend string
	// Stats is set when the section serves HAProxy's statistics page
	// ("stats enable" or any other "stats" directive).
	Stats *Stats
}

// Bind is one listening address of a frontend with its options.
type Bind struct {
	// Addr is the address as net.Listen takes it: "*:1883" and ":1883"
	// are ":1883".
	Addr string
	Line int
	// SSL is the "ssl" option: terminate TLS with Certs.
	SSL bool
	// Certs are the "crt" files (certificate and key in one PEM file).
	Certs []string
	// CAFile is "ca-file": the CAs that sign client certificates.
	CAFile string
	// Verify is "verify none|optional|required", empty when not set.
	Verify string
	// AcceptProxy is "accept-proxy": clients send a PROXY header first.
	AcceptProxy bool
	// ALPN is "alpn", split at commas.
	ALPN []string
	// WebSocket is "ws", mqttlb's extension to HAProxy's syntax: clients
	// speak MQTT over WebSocket (ws://, or wss:// with "ssl crt"), which
	// the proxy terminates and then treats like TCP clients.
	WebSocket bool
}

// ContentRule is a "tcp-request content accept|reject [if|unless cond]".
type ContentRule struct {
	// Action is "accept" or "reject".
	Action string
	// Cond is nil for an unconditional rule.
	Cond *Condition
	Line int
}

// UseBackend is a "use_backend <name> if|unless <cond>" rule.
type UseBackend struct {
	Backend string
	Cond    *Condition
	Line    int
}

// Stats is a statistics page ("stats ..." directives).
type Stats struct {
	// URI is "stats uri"; HAProxy's "/haproxy?stats" when not set.
	URI string
	// Refresh is "stats refresh", 0 when not set.
	Refresh time.Duration
	// Auth are the "stats auth user:password" credentials.
	Auth []Credential
	// Realm is "stats realm", empty when not set.
	Realm string
	// HideVersion is "stats hide-version".
	HideVersion bool
}

// Credential is a user and password of "stats auth".
type Credential struct{ User, Password string }

// Backend is a set of servers and how connections are spread over them.
type Backend struct {
	Name string
	File string
	Line int
	// Mode is "tcp" (the default) or "http".
	Mode string
	// Balance is the algorithm of "balance" ("roundrobin" when not set)
	// and BalanceArgs its further words.
	Balance     string
	BalanceArgs []string
	// HashType is "hash-type", empty when not set.
	HashType string
	Servers  []*Server
	// StickTable is "stick-table", nil when not set.
	StickTable *StickTable
	// StickOn is the sample of "stick on", empty when not set.
	StickOn Fetch
	// HTTPCheck is set by "option httpchk": checks are HTTP requests
	// instead of TCP connects.
	HTTPCheck *HTTPCheck
	// Timeouts, 0 when not set.
	ConnectTimeout, ServerTimeout, CheckTimeout, QueueTimeout, TunnelTimeout time.Duration
	// Retries is "retries", HAProxy's 3 when not set.
	Retries int
	// Redispatch is "option redispatch".
	Redispatch bool
	// AllBackups is "option allbackups".
	AllBackups bool
}

// Server is one "server" line, with the "default-server" settings
// applied.
type Server struct {
	Name string
	// Addr is host:port.
	Addr string
	Line int
	// Check enables health checks ("check").
	Check bool
	// CheckPort is "port", 0 for the server's own port.
	CheckPort int
	// Inter, FastInter and DownInter are the check intervals, 0 when not
	// set.
	Inter, FastInter, DownInter time.Duration
	// Rise and Fall are the check counts, 0 when not set.
	Rise, Fall int
	// Weight is HAProxy's weight, 0 to 256, 1 when not set.
	Weight int
	// Backup is "backup".
	Backup bool
	// MaxConn is "maxconn", 0 when not set.
	MaxConn int
	// SendProxy is "v1" for "send-proxy", "v2" for the send-proxy-v2
	// forms, empty when not set; SendProxySSL and SendProxySSLCN add the
	// SSL TLV (with the client certificate's CN).
	SendProxy                    string
	SendProxySSL, SendProxySSLCN bool
	// ProxyV2Options is "proxy-v2-options", the TLVs to add, as written
	// (comma-separated).
	ProxyV2Options string
	// CheckSendProxy is "check-send-proxy".
	CheckSendProxy bool
	// Source is "source", empty when not set: addr[:port[-port]].
	Source string
	// Disabled is "disabled": the server starts in maintenance.
	Disabled bool
	// ShutdownSessionsOnDown is "on-marked-down shutdown-sessions" and
	// ShutdownBackupSessionsOnUp "on-marked-up shutdown-backup-sessions".
	ShutdownSessionsOnDown, ShutdownBackupSessionsOnUp bool
}

// StickTable is a "stick-table" line.
type StickTable struct {
	// Type is the key type ("string" for client IDs).
	Type string
	// Len is the key length in bytes HAProxy truncates string keys to;
	// mqttlb keeps whole client IDs.
	Len int
	// Size is the number of entries.
	Size int
	// Expire is how long an idle entry is kept, 0 when not set.
	Expire time.Duration
	Line   int
}

// HTTPCheck is the request of "option httpchk" and "http-check send",
// and what "http-check expect" accepts.
type HTTPCheck struct {
	// Method is "GET" unless set.
	Method string
	// URI is "/" unless set.
	URI string
	// ExpectStatus lists the accepted statuses; empty means 2xx and 3xx.
	ExpectStatus []int
	// ExpectString must occur in the body when not empty.
	ExpectString string
}
