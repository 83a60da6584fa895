package haproxycfg

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
)

// goodTail completes a snippet into a valid configuration: a backend
// "be" and a frontend using it.
const goodTail = `
backend be
  server s1 127.0.0.1:1
frontend fe
  bind :1883
  default_backend be
`

func TestBadLines(t *testing.T) {
	tests := []struct {
		name string
		cfg  string // lines 1.. of the file; goodTail follows
		want []string
	}{
		{"unknown directive", "defaults\n  frobnicate 1\n", []string{`t.cfg:2: unknown directive "frobnicate"`}},
		{"unknown global", "global\n  frobnicate\n", []string{`t.cfg:2: unknown global directive "frobnicate"`}},
		{"outside section", "mode tcp\n", []string{`t.cfg:1: "mode" outside of a section (global, defaults, frontend, backend or listen)`}},
		{"bad timeout", "defaults\n  timeout connect 10x\n", []string{`t.cfg:2: 'timeout connect': invalid time "10x" (a number with an optional unit: us, ms, s, m, h, d; bare numbers are milliseconds)`}},
		{"unknown timeout", "defaults\n  timeout forever 1s\n", []string{`t.cfg:2: unknown timeout "forever" (supported: connect, client, server, check, tunnel, queue)`}},
		{"bad mode", "defaults\n  mode udp\n", []string{`t.cfg:2: 'mode' takes 'tcp' or 'http' (mqttlb proxies MQTT over TCP; http serves the statistics page)`}},
		{"unknown option", "defaults\n  option frob\n", []string{`t.cfg:2: unknown option "frob"`}},
		{"bad weight", "backend b2\n  server s1 127.0.0.1:1 weight 300\n", []string{`t.cfg:2: server s1: weight: 300 is out of range (0 to 256)`}},
		{"server without port", "backend b2\n  server s1 10.0.0.1\n", []string{`t.cfg:2: server s1: address "10.0.0.1" must be host:port (address 10.0.0.1: missing port in address)`}},
		{"unknown server option", "backend b2\n  server s1 127.0.0.1:1 ssl\n", []string{`t.cfg:2: server s1: unsupported option "ssl"`}},
		{"inter without value", "backend b2\n  server s1 127.0.0.1:1 check inter\n", []string{`t.cfg:2: server s1: "inter" needs a value`}},
		{"duplicate server", "backend b2\n  server s1 127.0.0.1:1\n  server s1 127.0.0.1:2\n", []string{`t.cfg:3: server s1 is already defined at line 2`}},
		{"bind in backend", "backend b2\n  bind :1\n", []string{`t.cfg:2: 'bind' is not allowed in a backend section`}},
		{"server in frontend", "frontend f2\n  bind :2\n  server s 127.0.0.1:1\n  default_backend be\n", []string{`t.cfg:3: 'server' is not allowed in a frontend section`}},
		{"bad bind", "frontend f2\n  bind /run/mqtt.sock\n  default_backend be\n", []string{`t.cfg:1: frontend "f2" has no 'bind'`, `t.cfg:2: 'bind': address "/run/mqtt.sock" has no port (unix sockets and abstract namespaces are not supported)`}},
		{"bind crt without ssl", "frontend f2\n  bind :2 crt a.pem\n  default_backend be\n", []string{`t.cfg:1: frontend "f2" has no 'bind'`, `t.cfg:2: 'bind': 'ssl' and 'crt' go together`}},
		{"missing backend", "frontend f2\n  bind :2\n  default_backend nowhere\n", []string{`t.cfg:1: frontend "f2": default_backend "nowhere" does not exist`}},
		{"use_backend missing", "frontend f2\n  bind :2\n  use_backend nowhere if { req.payload(0,0),mqtt_field_value(connect,username) admin }\n", []string{`t.cfg:3: use_backend: backend "nowhere" does not exist`}},
		{"no backend at all", "frontend f2\n  bind :2\n", []string{`t.cfg:1: frontend "f2" has no backend (add 'default_backend' or 'use_backend')`}},
		{"unknown acl", "frontend f2\n  bind :2\n  use_backend be if is_sensor\n", []string{`t.cfg:1: frontend "f2" has no backend (add 'default_backend' or 'use_backend')`, `t.cfg:3: 'use_backend be': no ACL named "is_sensor" in this section`}},
		{"bad fetch", "frontend f2\n  bind :2\n  acl a req.payload(0,0),mqtt_field_value(connect,password) x\n  default_backend be\n", []string{`t.cfg:3: acl "a": unsupported sample expression "req.payload(0,0),mqtt_field_value(connect,password)" (supported: req.payload(0,0),mqtt_is_valid; req.payload(0,0),mqtt_field_value(connect,client_identifier|username|protocol_version); src)`}},
		{"bad method", "frontend f2\n  bind :2\n  acl a req.payload(0,0),mqtt_field_value(connect,client_identifier) -m dom x\n  default_backend be\n", []string{`t.cfg:3: acl "a": unsupported match method "dom" (supported: str, beg, end, sub, reg, found, int, ip)`}},
		{"bad regexp", "frontend f2\n  bind :2\n  acl a req.payload(0,0),mqtt_field_value(connect,client_identifier) -m reg (x\n  default_backend be\n", []string{"t.cfg:3: acl \"a\": regular expression \"(x\": error parsing regexp: missing closing ): `(x`"}},
		{"acl without pattern", "frontend f2\n  bind :2\n  acl a req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg\n  default_backend be\n", []string{`t.cfg:3: acl "a": ACL on req.payload(0,0),mqtt_field_value(connect,client_identifier) needs at least one pattern`}},
		{"unclosed brace", "frontend f2\n  bind :2\n  tcp-request content reject unless { req.payload(0,0),mqtt_is_valid\n  default_backend be\n", []string{`t.cfg:3: 'tcp-request content reject': '{' without a matching '}'`}},
		{"condition without if", "frontend f2\n  bind :2\n  tcp-request content reject when x\n  default_backend be\n", []string{`t.cfg:3: 'tcp-request content reject': expected 'if' or 'unless'`}},
		{"stick without table", "backend b2\n  stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)\n  server s1 127.0.0.1:1\n", []string{`t.cfg:1: backend "b2": 'stick on' needs a 'stick-table' in the same backend`}},
		{"stick on source", "backend b2\n  stick-table type string size 1k\n  stick on src\n", []string{`t.cfg:3: 'stick on': mqttlb sticks on the client ID only: req.payload(0,0),mqtt_field_value(connect,client_identifier)`}},
		{"stick-table ip", "backend b2\n  stick-table type ip size 1k\n", []string{`t.cfg:2: 'stick-table': type ip is not supported: mqttlb sticks on client IDs (type string)`}},
		{"stick-table bad size", "backend b2\n  stick-table type string size lots\n", []string{`t.cfg:2: 'stick-table': invalid size "lots" (a number with an optional k, m or g suffix)`}},
		{"expect status", "backend b2\n  http-check expect status 2xx\n", []string{`t.cfg:2: 'http-check expect status': invalid status "2xx" (100 to 599, or a range like 200-399)`}},
		{"duplicate frontend", "frontend fe\n  bind :2\n  default_backend be\n", []string{`t.cfg:7: frontend "fe" is already defined at line 1`}},
		{"mode http without stats", "frontend f2\n  mode http\n  bind :2\n  default_backend be\n", []string{`t.cfg:1: frontend "f2": mode http serves only the statistics page here (add 'stats enable' or use 'mode tcp')`}},
		{"unterminated quote", "defaults\n  log \"x\n", []string{`t.cfg:2: unterminated quote`}},
		{"several errors", "defaults\n  retries x\n  maxconn -1\n  balance\n", []string{
			`t.cfg:2: 'retries': invalid number "x"`,
			`t.cfg:3: 'maxconn': invalid number "-1"`,
			`t.cfg:4: 'balance' needs an algorithm`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.cfg", strings.NewReader(tt.cfg+goodTail))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			var got []string
			for _, d := range err.(Errors) {
				got = append(got, d.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDefaultsInheritance(t *testing.T) {
	cfg, err := Parse("t.cfg", strings.NewReader(`
defaults
  mode tcp
  timeout connect 5s
  timeout client 240s
  balance leastconn
  retries 2
  option redispatch
  default_backend first
  default-server inter 3s rise 4 fall 5 check
backend first
  balance source
  server s1 127.0.0.1:1
  server s2 127.0.0.1:2 no-check weight 0 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
frontend inherits
  bind :1887
defaults
  timeout connect 7000
backend second
  server s1 127.0.0.1:1
frontend fe
  bind *:1883
  bind :1884,127.0.0.1:1885-1886
  default_backend first
`))
	require.NoError(t, err)
	first, second := cfg.Backend("first"), cfg.Backend("second")
	require.NotNil(t, first)
	require.NotNil(t, second)

	assert.Equal(t, "source", first.Balance, "the section overrides its defaults")
	assert.Equal(t, 5*time.Second, first.ConnectTimeout)
	assert.Equal(t, 2, first.Retries)
	assert.True(t, first.Redispatch)
	s1, s2 := first.Servers[0], first.Servers[1]
	assert.True(t, s1.Check)
	assert.Equal(t, 3*time.Second, s1.Inter)
	assert.Equal(t, 4, s1.Rise)
	assert.Equal(t, 5, s1.Fall)
	assert.Equal(t, 1, s1.Weight)
	assert.False(t, s2.Check)
	assert.Equal(t, 0, s2.Weight)
	assert.True(t, s2.ShutdownSessionsOnDown)
	assert.True(t, s2.ShutdownBackupSessionsOnUp)
	assert.False(t, s1.ShutdownSessionsOnDown)

	// A new defaults section starts from HAProxy's built-in defaults.
	assert.Equal(t, "roundrobin", second.Balance)
	assert.Equal(t, 7*time.Second, second.ConnectTimeout, "bare numbers are milliseconds")
	assert.Equal(t, 3, second.Retries)
	assert.False(t, second.Redispatch)
	assert.False(t, second.Servers[0].Check)

	assert.Equal(t, "first", cfg.Frontends[0].DefaultBackend, "default_backend from defaults")
	fe := cfg.Frontends[1]
	var addrs []string
	for _, b := range fe.Binds {
		addrs = append(addrs, b.Addr)
	}
	assert.Equal(t, []string{":1883", ":1884", "127.0.0.1:1885", "127.0.0.1:1886"}, addrs)
	assert.Zero(t, fe.ClientTimeout, "the second defaults section has no timeout client")
}

func TestConditions(t *testing.T) {
	cfg, err := Parse("t.cfg", strings.NewReader(`
frontend fe
  bind :1883
  acl sensor req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg sensor-
  acl sensor req.payload(0,0),mqtt_field_value(connect,client_identifier) -m end -- -probe
  acl admin req.payload(0,0),mqtt_field_value(connect,username) -i Admin
  acl v5 req.payload(0,0),mqtt_field_value(connect,protocol_version) 5
  acl lan src 10.0.0.0/8 192.168.1.1
  use_backend a if sensor !v5 || admin
  use_backend a if { req.payload(0,0), mqtt_field_value(connect, client_identifier) -m reg ^[0-9]+$ }
  use_backend a if { req.payload(0,0),mqtt_field_value(connect,client_identifier) -m sub mid }
  use_backend a unless lan
  default_backend a
backend a
  server s 127.0.0.1:1
`))
	require.NoError(t, err)
	rules := cfg.Frontends[0].UseBackends
	require.Len(t, rules, 4)
	lan := balance.ConnInfo{RemoteAddr: netipAddrPort(t, "10.1.2.3:5")}
	tests := []struct {
		rule int
		ci   balance.ConnInfo
		want bool
	}{
		{0, balance.ConnInfo{ClientID: "sensor-1", ProtocolVersion: 4}, true},
		{0, balance.ConnInfo{ClientID: "sensor-1", ProtocolVersion: 5}, false},
		{0, balance.ConnInfo{ClientID: "x-probe", ProtocolVersion: 4}, true},
		{0, balance.ConnInfo{ClientID: "x", Username: "ADMIN", ProtocolVersion: 5}, true},
		{0, balance.ConnInfo{ClientID: "Sensor-1", ProtocolVersion: 4}, false},
		{1, balance.ConnInfo{ClientID: "12345"}, true},
		{1, balance.ConnInfo{ClientID: "12a45"}, false},
		{2, balance.ConnInfo{ClientID: "amidst"}, true},
		{2, balance.ConnInfo{ClientID: "MID"}, false},
		{3, lan, false},
		{3, balance.ConnInfo{RemoteAddr: netipAddrPort(t, "192.168.1.1:5")}, false},
		{3, balance.ConnInfo{RemoteAddr: netipAddrPort(t, "192.168.1.2:5")}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rules[tt.rule].Cond.Match(tt.ci), "rule %d, %+v", tt.rule, tt.ci)
	}
}
