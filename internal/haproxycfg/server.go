package haproxycfg

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// bind reads "bind <addr>[,<addr>...] [options]" (configuration manual
// §5.1 "Bind options").
func (p *parser) bind(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'bind' needs an address")
		return
	}
	var addrs []string
	for _, a := range strings.Split(words[1], ",") {
		more, err := bindAddrs(a)
		if err != nil {
			p.errorf("'bind': %v", err)
			return
		}
		addrs = append(addrs, more...)
	}
	b := Bind{Line: p.line}
	args := words[2:]
	for len(args) > 0 {
		opt := args[0]
		value := func() (string, bool) {
			if len(args) < 2 {
				p.errorf("'bind': %q needs a value", opt)
				return "", false
			}
			args = args[1:]
			return args[0], true
		}
		var ok = true
		var v string
		switch opt {
		case "ssl":
			b.SSL = true
		case "accept-proxy":
			b.AcceptProxy = true
		case "ws":
			b.WebSocket = true
		case "crt":
			if v, ok = value(); ok {
				b.Certs = append(b.Certs, v)
			}
		case "ca-file":
			if v, ok = value(); ok {
				b.CAFile = v
			}
		case "verify":
			if v, ok = value(); ok {
				if v != "none" && v != "optional" && v != "required" {
					p.errorf("'bind': verify takes none, optional or required")
					return
				}
				b.Verify = v
			}
		case "alpn":
			if v, ok = value(); ok {
				b.ALPN = strings.Split(v, ",")
			}
		case "name", "tfo", "v4v6", "v6only", "transparent", "defer-accept":
			if opt == "name" {
				_, ok = value()
			}
		default:
			p.errorf("'bind': unsupported option %q (supported: ssl, crt, ca-file, verify, alpn, accept-proxy, ws, name)", opt)
			return
		}
		if !ok {
			return
		}
		args = args[1:]
	}
	if len(b.Certs) > 0 && !b.SSL || b.SSL && len(b.Certs) == 0 {
		p.errorf("'bind': 'ssl' and 'crt' go together")
		return
	}
	for _, a := range addrs {
		b.Addr = a
		sec.fe.Binds = append(sec.fe.Binds, b)
	}
}

// bindAddrs turns one HAProxy bind address into the addresses net.Listen
// takes: "*:1883" and ":1883" listen on every address, "ipv4@" and
// "ipv6@" prefixes are dropped, and a port range gives one address per
// port. Port 0 (any free port) is accepted, for tests.
func bindAddrs(s string) ([]string, error) {
	for _, prefix := range []string{"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"} {
		s = strings.TrimPrefix(s, prefix)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return nil, fmt.Errorf("address %q has no port (unix sockets and abstract namespaces are not supported)", s)
	}
	host, ports := s[:i], s[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		host = ""
	}
	if host != "" && strings.Contains(host, "/") {
		return nil, fmt.Errorf("address %q: unsupported host", s)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	first, err := parseCount(lo, 65535)
	if err != nil {
		return nil, fmt.Errorf("address %q: port: %v", s, err)
	}
	last := first
	if isRange {
		if last, err = parseCount(hi, 65535); err != nil || last < first || first == 0 {
			return nil, fmt.Errorf("address %q: invalid port range", s)
		}
	}
	var out []string
	for port := first; port <= last; port++ {
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out, nil
}

// server reads "server <name> <addr> [options]" (configuration manual
// §5.2 "Server and default-server options"), starting from the section's
// default-server settings.
func (p *parser) server(sec *section, words []string) {
	if len(words) < 3 {
		p.errorf("'server' needs a name and an address")
		return
	}
	srv := sec.set.defaultServer
	srv.Name, srv.Line = words[1], p.line
	host, port, err := net.SplitHostPort(words[2])
	if err == nil && host == "" {
		err = errors.New("missing host")
	}
	if err == nil {
		var n int
		if n, err = parseCount(port, 65535); err == nil && n == 0 {
			err = errors.New("port 0")
		}
	}
	if err != nil {
		p.errorf("server %s: address %q must be host:port (%v)", words[1], words[2], err)
		return
	}
	srv.Addr = words[2]
	for _, other := range sec.be.Servers {
		if other.Name == srv.Name {
			p.errorf("server %s is already defined at line %d", srv.Name, other.Line)
			return
		}
	}
	if p.serverOptions(&srv, words[3:], false) {
		sec.be.Servers = append(sec.be.Servers, &srv)
	}
}

// defaultServer reads "default-server [options]".
func (p *parser) defaultServer(sec *section, words []string) {
	srv := sec.set.defaultServer
	if p.serverOptions(&srv, words[1:], true) {
		sec.set.defaultServer = srv
	}
}

// serverOptions applies options to srv and reports whether all were
// valid.
func (p *parser) serverOptions(srv *Server, args []string, isDefault bool) bool {
	where := "server " + srv.Name
	if isDefault {
		where = "default-server"
	}
	for len(args) > 0 {
		opt := args[0]
		if takesValue[opt] && len(args) < 2 {
			p.errorf("%s: %q needs a value", where, opt)
			return false
		}
		var err error
		switch opt {
		case "check":
			srv.Check = true
		case "no-check":
			srv.Check = false
		case "backup":
			srv.Backup = true
		case "disabled":
			srv.Disabled = true
		case "enabled":
			srv.Disabled = false
		case "send-proxy":
			srv.SendProxy = "v1"
		case "send-proxy-v2":
			srv.SendProxy = "v2"
		case "send-proxy-v2-ssl":
			srv.SendProxy, srv.SendProxySSL = "v2", true
		case "send-proxy-v2-ssl-cn":
			srv.SendProxy, srv.SendProxySSL, srv.SendProxySSLCN = "v2", true, true
		case "check-send-proxy":
			srv.CheckSendProxy = true
		case "proxy-v2-options":
			srv.ProxyV2Options = args[1]
		case "port":
			srv.CheckPort, err = parseCount(args[1], 65535)
		case "inter":
			srv.Inter, err = parseTime(args[1])
		case "fastinter":
			srv.FastInter, err = parseTime(args[1])
		case "downinter":
			srv.DownInter, err = parseTime(args[1])
		case "rise":
			srv.Rise, err = parseCount(args[1], 1<<20)
		case "fall":
			srv.Fall, err = parseCount(args[1], 1<<20)
		case "weight":
			srv.Weight, err = parseCount(args[1], 256)
		case "maxconn":
			srv.MaxConn, err = parseCount(args[1], 1<<31-1)
		case "source":
			err = checkSource(args[1])
			srv.Source = args[1]
		case "on-marked-down":
			if args[1] != "shutdown-sessions" {
				err = errors.New("only shutdown-sessions is supported")
			}
			srv.ShutdownSessionsOnDown = true
		case "on-marked-up":
			if args[1] != "shutdown-backup-sessions" {
				err = errors.New("only shutdown-backup-sessions is supported")
			}
			srv.ShutdownBackupSessionsOnUp = true
		case "init-addr", "resolve-prefer", "slowstart", "observe", "error-limit", "on-error":
			p.warnf("%s: %q ignored", where, opt)
		default:
			p.errorf("%s: unsupported option %q", where, opt)
			return false
		}
		if err != nil {
			p.errorf("%s: %s: %v", where, opt, err)
			return false
		}
		if takesValue[opt] {
			args = args[1:]
		}
		args = args[1:]
	}
	return true
}

// takesValue are the server options followed by a value.
var takesValue = map[string]bool{
	"port": true, "inter": true, "fastinter": true, "downinter": true, "rise": true,
	"fall": true, "weight": true, "maxconn": true, "source": true, "init-addr": true,
	"resolve-prefer": true, "slowstart": true, "observe": true, "error-limit": true, "on-error": true,
	"on-marked-down": true, "on-marked-up": true, "proxy-v2-options": true,
}

// checkSource validates "source <addr>[:<port>[-<port>]]".
func checkSource(s string) error {
	host, ports := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host, ports = s[:i], s[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if net.ParseIP(host) == nil {
		return fmt.Errorf("%q is not an IP address", host)
	}
	if ports == "" {
		return nil
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	first, err := parseCount(lo, 65535)
	if err != nil {
		return err
	}
	if isRange {
		last, err := parseCount(hi, 65535)
		if err != nil || last < first {
			return fmt.Errorf("invalid port range %q", ports)
		}
	}
	return nil
}
