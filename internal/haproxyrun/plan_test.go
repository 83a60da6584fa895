package haproxyrun

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestSeedConfigsWiring")

// describePlan renders what a configuration wires, one fact per line, in
// a stable order.
func describePlan(p *plan) string {
	var b strings.Builder
	for _, fe := range p.frontends {
		fmt.Fprintf(&b, "frontend %s connect_timeout=%v idle_timeout=%v\n", fe.name, fe.connectTimeout, fe.idleTimeout)
		for _, bind := range fe.binds {
			fmt.Fprintf(&b, "  bind %s tls=%v accept_proxy=%v\n", bind.addr, describeTLS(bind.tls), bind.acceptProxy)
		}
		for _, r := range fe.routes {
			pool := "<refuse>"
			if r.Pool != nil {
				pool = r.Pool.Name
			}
			fmt.Fprintf(&b, "  route %q -> %s\n", r.Name, pool)
		}
		if fe.def != nil {
			fmt.Fprintf(&b, "  default -> %s\n", fe.def.Name)
		}
	}
	names := make([]string, 0, len(p.pools))
	for name := range p.pools {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pool := p.pools[name]
		fmt.Fprintf(&b, "pool %s balancer=%T%+v dial_timeout=%v retries=%d allbackups=%v custom_dial=%v\n",
			name, pool.Balancer, pool.Balancer, pool.DialTimeout, pool.Retries, pool.AllBackups, pool.DialContext != nil)
		if pool.ShutdownSessionsOnDown || pool.ShutdownBackupSessionsOnUp {
			fmt.Fprintf(&b, "  shutdown_sessions_on_down=%v shutdown_backup_sessions_on_up=%v\n", pool.ShutdownSessionsOnDown, pool.ShutdownBackupSessionsOnUp)
		}
		if pool.ProxyProtocol != nil {
			fmt.Fprintf(&b, "  send_proxy %+v\n", *pool.ProxyProtocol)
		}
		if pool.Sticky != nil {
			fmt.Fprintf(&b, "  sticky ttl=%v max_entries=%d\n", pool.Sticky.TTL, pool.Sticky.MaxEntries)
		}
		for _, be := range pool.Backends() {
			state, _, _ := pool.BackendState(be.ID())
			fmt.Fprintf(&b, "  server %s %s weight=%d backup=%v maxconn=%d state=%v\n", be.Name, be.Addr, be.Weight, be.Backup, be.MaxConn, state)
		}
	}
	for _, g := range p.checks {
		m := g.monitor
		fmt.Fprintf(&b, "check %s %v checker=%T%+v inter=%v fastinter=%v downinter=%v timeout=%v rise=%d fall=%d jitter=%v\n",
			g.backend, g.addrs, m.Checker, m.Checker, m.Interval, m.FastInterval, m.DownInterval, m.Timeout, m.Rise, m.Fall, m.Jitter)
	}
	for _, st := range p.stats {
		fmt.Fprintf(&b, "stats %s binds=%v %+v\n", st.name, st.binds, st.stats)
	}
	for _, w := range p.warnings {
		fmt.Fprintf(&b, "warning %s:%d: %s\n", filepath.Base(w.File), w.Line, w.Message)
	}
	return b.String()
}

// describeTLS tells what a bind's TLS configuration checks.
func describeTLS(c *tls.Config) string {
	if c == nil {
		return "off"
	}
	return fmt.Sprintf("client_auth=%v client_cas=%v alpn=%v", c.ClientAuth, c.ClientCAs != nil, c.NextProtos)
}

// TestSeedConfigsWiring parses each seed configuration and compares what
// it wires with testdata/<name>.golden (go test -update rewrites them).
func TestSeedConfigsWiring(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cfg")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := haproxycfg.ParseFile(file)
			require.NoError(t, err)
			var got string
			if p, err := buildPlan(cfg, nil, quietLogger()); err != nil {
				got = "error\n" + err.Error() + "\n"
			} else {
				got = describePlan(p)
			}
			golden := strings.TrimSuffix(file, ".cfg") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

// TestCheckFlag runs -c on a good and a bad file: exit 0 and 1, and
// every problem as file:line: message.
func TestCheckFlag(t *testing.T) {
	var out strings.Builder
	assert.Equal(t, 0, Check("testdata/qiita.cfg", &out))
	assert.Contains(t, out.String(), "Configuration file is valid")
	assert.Contains(t, out.String(), `testdata/qiita.cfg:11: "option tcplog" ignored`)

	path := filepath.Join(t.TempDir(), "bad.cfg")
	writeConfig(t, path, `defaults
  timeout connect 10x
frontend fe
  bind *:1883
  default_backend missing
backend be
  balance uri
  server s1 127.0.0.1:1883 frobnicate
`)
	out.Reset()
	assert.Equal(t, 1, Check(path, &out))
	assert.Equal(t, path+`:2: 'timeout connect': invalid time "10x" (a number with an optional unit: us, ms, s, m, h, d; bare numbers are milliseconds)
`+path+`:3: frontend "fe": default_backend "missing" does not exist
`+path+`:8: server s1: unsupported option "frobnicate"
`, out.String())

	// Errors of the wiring step (valid HAProxy, not runnable here) come
	// with their lines too.
	path = filepath.Join(t.TempDir(), "wiring.cfg")
	writeConfig(t, path, `frontend fe
  bind *:1883
  default_backend be
backend be
  balance uri
  server s1 127.0.0.1:1883
`)
	out.Reset()
	assert.Equal(t, 1, Check(path, &out))
	assert.Equal(t, path+`:4: backend "be": balance: unknown algorithm "uri": it balances on HTTP data, which MQTT connections do not carry
`, out.String())
}

// TestPlanRoutesAndSessionOptions wires use_backend rules on the client ID
// and user name, and the on-marked-down/up options.
func TestPlanRoutesAndSessionOptions(t *testing.T) {
	cfg, err := haproxycfg.Parse("t.cfg", strings.NewReader(`
frontend mqtt
  bind 127.0.0.1:0
  acl admins req.payload(0,0),mqtt_field_value(connect,username) -m str admin ops
  tcp-request content reject if { req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg banned- }
  use_backend sensors if { req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg sensor- }
  use_backend ops if admins
  default_backend sensors
backend sensors
  server s1 127.0.0.1:1 check on-marked-down shutdown-sessions
  server s2 127.0.0.1:2 check
backend ops
  server o1 127.0.0.1:3 backup on-marked-up shutdown-backup-sessions
`))
	require.NoError(t, err)
	p, err := buildPlan(cfg, nil, quietLogger())
	require.NoError(t, err)
	assert.Equal(t, `frontend mqtt connect_timeout=0s idle_timeout=0s
  bind 127.0.0.1:0 tls=off accept_proxy=false
  route "tcp-request content reject" -> <refuse>
  route "use_backend sensors" -> sensors
  route "use_backend ops" -> ops
  default -> sensors
pool ops balancer=balance.RoundRobin{} dial_timeout=0s retries=3 allbackups=false custom_dial=false
  shutdown_sessions_on_down=false shutdown_backup_sessions_on_up=true
  server o1 127.0.0.1:3 weight=1 backup=true maxconn=0 state=ready
pool sensors balancer=balance.RoundRobin{} dial_timeout=0s retries=3 allbackups=false custom_dial=false
  shutdown_sessions_on_down=true shutdown_backup_sessions_on_up=false
  server s1 127.0.0.1:1 weight=1 backup=false maxconn=0 state=ready
  server s2 127.0.0.1:2 weight=1 backup=false maxconn=0 state=ready
check sensors [127.0.0.1:1 127.0.0.1:2] checker=health.TCP{Port:0 ProxyHeader:false Dialer:<nil>} inter=0s fastinter=0s downinter=0s timeout=0s rise=0 fall=0 jitter=0
`, describePlan(p))

	fe := p.frontends[0]
	match := func(r int, ci balance.ConnInfo) bool { return fe.routes[r].Match.Match(ci) }
	assert.True(t, match(0, balance.ConnInfo{ClientID: "banned-7"}))
	assert.False(t, match(0, balance.ConnInfo{ClientID: "sensor-7"}))
	assert.True(t, match(1, balance.ConnInfo{ClientID: "sensor-7"}))
	assert.True(t, match(2, balance.ConnInfo{ClientID: "x", Username: "ops"}))
	assert.False(t, match(2, balance.ConnInfo{ClientID: "x", Username: "opsx"}))
}

// TestPlanDontLogNormal: "option dontlog-normal" in a defaults section or
// a frontend reaches the frontend's proxy; in a backend it is ignored
// with a warning, as connections are logged by their frontend.
func TestPlanDontLogNormal(t *testing.T) {
	cfg, err := haproxycfg.Parse("t.cfg", strings.NewReader(`
frontend loud
  bind 127.0.0.1:0
  default_backend brokers
frontend quiet
  bind 127.0.0.1:0
  option dontlog-normal
  default_backend brokers
defaults
  option dontlog-normal
frontend inherits
  bind 127.0.0.1:0
  default_backend brokers
backend brokers
  option dontlog-normal
  server b1 127.0.0.1:1
`))
	require.NoError(t, err)
	p, err := buildPlan(cfg, nil, quietLogger())
	require.NoError(t, err)
	got := map[string]bool{}
	for _, fe := range p.frontends {
		got[fe.name] = fe.dontLogNormal
	}
	assert.Equal(t, map[string]bool{"loud": false, "quiet": true, "inherits": true}, got)
	require.Len(t, p.warnings, 1)
	assert.Contains(t, p.warnings[0].Message, "'option dontlog-normal' ignored")
}
