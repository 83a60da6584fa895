package haproxycfg

import (
	"errors"
)

// errBadArgs marks a directive whose problem has been reported already.
var errBadArgs = errors.New("bad arguments")

// Where a proxy directive may appear (configuration manual §4.1, "Proxy
// keywords matrix").
const (
	inDefaults = 1 << iota
	inFrontend
	inBackend
)

// proxyKeyword is one directive of the proxy sections.
type proxyKeyword struct {
	where int
	// sectionOnly directives cannot be inherited: written in the wrong
	// section they are errors, not ignored with a warning.
	sectionOnly bool
	handle      func(p *parser, sec *section, words []string)
}

// proxyKeywords are the directives of the defaults, frontend, backend and
// listen sections, by their first word ("option", "timeout",
// "tcp-request", "http-check" and "stats" dispatch on their second word).
var proxyKeywords map[string]proxyKeyword

func init() {
	proxyKeywords = map[string]proxyKeyword{
		"mode":            {inDefaults | inFrontend | inBackend, false, (*parser).mode},
		"maxconn":         {inDefaults | inFrontend, false, (*parser).maxConn},
		"balance":         {inDefaults | inBackend, false, (*parser).balance},
		"hash-type":       {inDefaults | inBackend, false, (*parser).hashType},
		"retries":         {inDefaults | inBackend, false, (*parser).retries},
		"option":          {inDefaults | inFrontend | inBackend, false, (*parser).option},
		"timeout":         {inDefaults | inFrontend | inBackend, false, (*parser).timeout},
		"http-check":      {inDefaults | inBackend, false, (*parser).httpCheck},
		"tcp-request":     {inDefaults | inFrontend, false, (*parser).tcpRequest},
		"default_backend": {inDefaults | inFrontend, false, (*parser).defaultBackend},
		"default-server":  {inDefaults | inBackend, false, (*parser).defaultServer},
		"acl":             {inFrontend | inBackend, true, (*parser).acl},
		"use_backend":     {inFrontend, true, (*parser).useBackend},
		"bind":            {inFrontend, true, (*parser).bind},
		"server":          {inBackend, true, (*parser).server},
		"stick-table":     {inBackend, true, (*parser).stickTable},
		"stick":           {inBackend, true, (*parser).stick},
		"stats":           {inFrontend, true, (*parser).stats},
	}
}

// harmlessProxy are proxy directives and options with no effect on an
// MQTT proxy: accepted with a warning.
var harmlessProxy = map[string]bool{
	"log": true, "description": true, "log-format": true, "log-tag": true,
	"option tcplog": true, "option dontlognull": true, "option httplog": true,
	"option logasap": true, "option log-separate-errors": true, "option tcpka": true,
	"option clitcpka": true, "option srvtcpka": true, "option splice-auto": true,
	"option splice-request": true, "option splice-response": true,
	"option log-health-checks": true, "option socket-stats": true, "option contstats": true,
	"timeout http-request": true, "timeout http-keep-alive": true, "timeout client-fin": true,
	"timeout server-fin": true, "timeout tarpit": true,
}

func sectionWord(sec *section) int {
	switch sec.kind {
	case "defaults":
		return inDefaults
	case "frontend":
		return inFrontend
	case "backend":
		return inBackend
	}
	return inFrontend | inBackend
}

// proxyDirective handles a line of a defaults, frontend, backend or
// listen section.
func (p *parser) proxyDirective(words []string) {
	kw := words[0]
	full := kw
	if len(words) > 1 {
		full += " " + words[1]
	}
	if harmlessProxy[kw] || harmlessProxy[full] {
		p.warnf("%q ignored: it has no effect here (mqttlb logs every connection's end on stderr)", full)
		return
	}
	k, ok := proxyKeywords[kw]
	if !ok {
		p.errorf("unknown directive %q", kw)
		return
	}
	here := sectionWord(p.sec)
	if k.where&here == 0 {
		if k.sectionOnly || p.sec.kind == "defaults" {
			p.errorf("'%s' is not allowed in a %s section", kw, p.sec.kind)
			return
		}
		// An inherited setting written where it does nothing, as HAProxy
		// warns about it.
		p.warnf("'%s' ignored: a %s section has no use for it", kw, p.sec.kind)
		return
	}
	k.handle(p, p.sec, words)
}

func (p *parser) mode(sec *section, words []string) {
	if len(words) != 2 || words[1] != "tcp" && words[1] != "http" {
		p.errorf("'mode' takes 'tcp' or 'http' (mqttlb proxies MQTT over TCP; http serves the statistics page)")
		return
	}
	sec.set.mode = words[1]
}

func (p *parser) maxConn(sec *section, words []string) {
	if n, err := p.oneCount(words, 1<<31-1); err == nil {
		sec.set.maxConn = n
	}
}

func (p *parser) balance(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'balance' needs an algorithm")
		return
	}
	sec.set.balance, sec.set.balanceArgs = words[1], joinSample(words[2:])
}

// joinSample joins the words of a sample expression written with spaces
// after its commas, and leaves other words as they are.
func joinSample(words []string) []string {
	if len(words) == 0 {
		return nil
	}
	if f, n, err := takeFetch(words); err == nil {
		return append([]string{string(f)}, words[n:]...)
	}
	return words
}

func (p *parser) hashType(sec *section, words []string) {
	if len(words) < 2 || words[1] != "consistent" && words[1] != "map-based" {
		p.errorf("'hash-type' takes 'consistent' or 'map-based' [function]")
		return
	}
	if words[1] == "map-based" {
		p.warnf("hash-type map-based: mqttlb always hashes consistently (adding or removing a server moves only its share)")
	}
	sec.set.hashType = words[1]
}

func (p *parser) retries(sec *section, words []string) {
	if n, err := p.oneCount(words, 100); err == nil {
		sec.set.retries = n
	}
}

func (p *parser) option(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'option' needs a name")
		return
	}
	switch words[1] {
	case "redispatch":
		sec.set.redispatch = true
	case "allbackups":
		sec.set.allBackups = true
	case "dontlog-normal":
		if sec.kind == "backend" {
			p.warnf("'option dontlog-normal' ignored: connections are logged by their frontend")
			return
		}
		sec.set.dontLogNormal = true
	case "httpchk":
		if sec.kind == "frontend" {
			p.warnf("'option httpchk' ignored: a frontend section has no use for it")
			return
		}
		sec.set.httpchk = true
		switch args := words[2:]; len(args) {
		case 0:
		case 1:
			sec.set.check.URI = args[0]
		case 2, 3:
			sec.set.check.Method, sec.set.check.URI = args[0], args[1]
		default:
			p.errorf("'option httpchk' takes [<method>] [<uri>] [<version>]")
		}
	default:
		p.errorf("unknown option %q", words[1])
	}
}

// timeoutWhere says which sections each timeout applies to.
var timeoutWhere = map[string]int{
	"connect": inDefaults | inBackend,
	"server":  inDefaults | inBackend,
	"check":   inDefaults | inBackend,
	"queue":   inDefaults | inBackend,
	"tunnel":  inDefaults | inBackend,
	"client":  inDefaults | inFrontend,
}

func (p *parser) timeout(sec *section, words []string) {
	if len(words) != 3 {
		p.errorf("'timeout' takes a name and a time")
		return
	}
	where, ok := timeoutWhere[words[1]]
	if !ok {
		p.errorf("unknown timeout %q (supported: connect, client, server, check, tunnel, queue)", words[1])
		return
	}
	d, err := parseTime(words[2])
	if err != nil {
		p.errorf("'timeout %s': %v", words[1], err)
		return
	}
	if where&sectionWord(sec) == 0 {
		p.warnf("'timeout %s' ignored: a %s section has no use for it", words[1], sec.kind)
		return
	}
	sec.set.timeouts[words[1]] = d
}

func (p *parser) tcpRequest(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'tcp-request' needs 'inspect-delay' or 'content'")
		return
	}
	switch words[1] {
	case "inspect-delay":
		if len(words) != 3 {
			p.errorf("'tcp-request inspect-delay' takes a time")
			return
		}
		d, err := parseTime(words[2])
		if err != nil {
			p.errorf("'tcp-request inspect-delay': %v", err)
			return
		}
		sec.set.inspectDelay = d
	case "content":
		if sec.fe == nil {
			p.errorf("'tcp-request content' is not allowed in a %s section", sec.kind)
			return
		}
		if len(words) < 3 || words[2] != "accept" && words[2] != "reject" {
			p.errorf("'tcp-request content' supports the actions 'accept' and 'reject'")
			return
		}
		rule := ContentRule{Action: words[2], Line: p.line}
		if len(words) > 3 {
			c, err := parseCondition(words[3:], sec.acls)
			if err != nil {
				p.errorf("'tcp-request content %s': %v", words[2], err)
				return
			}
			rule.Cond = c
		}
		sec.fe.ContentRules = append(sec.fe.ContentRules, rule)
	default:
		p.errorf("'tcp-request %s' is not supported (supported: inspect-delay, content)", words[1])
	}
}

func (p *parser) defaultBackend(sec *section, words []string) {
	if len(words) != 2 {
		p.errorf("'default_backend' takes a backend name")
		return
	}
	sec.set.defaultBackend = words[1]
}

func (p *parser) acl(sec *section, words []string) {
	if len(words) < 3 {
		p.errorf("'acl' needs a name and an expression")
		return
	}
	a, err := parseACL(words[1], words[2:])
	if err != nil {
		p.errorf("acl %q: %v", words[1], err)
		return
	}
	sec.acls[words[1]] = append(sec.acls[words[1]], a)
}

func (p *parser) useBackend(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'use_backend' needs a backend name")
		return
	}
	u := UseBackend{Backend: words[1], Line: p.line}
	if len(words) > 2 {
		c, err := parseCondition(words[2:], sec.acls)
		if err != nil {
			p.errorf("'use_backend %s': %v", words[1], err)
			return
		}
		u.Cond = c
	}
	sec.fe.UseBackends = append(sec.fe.UseBackends, u)
}
