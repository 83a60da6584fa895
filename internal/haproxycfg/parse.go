package haproxycfg

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// DefaultStatsURI is HAProxy's statistics URI when "stats uri" is not set.
const DefaultStatsURI = "/haproxy?stats"

// ParseFile reads and parses the configuration file at path.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse parses a configuration read from r; name is the file name used in
// diagnostics. When the configuration has problems, the error is an
// Errors listing all of them and the Config is nil.
func Parse(name string, r io.Reader) (*Config, error) {
	p := &parser{file: name, cfg: &Config{}, defaults: builtinDefaults()}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		p.line = line
		words, err := splitWords(sc.Text())
		if err != nil {
			p.errorf("%v", err)
			continue
		}
		if len(words) > 0 {
			p.directive(words)
		}
	}
	if err := sc.Err(); err != nil {
		p.line++
		p.errorf("reading: %v", err)
	}
	p.endSection()
	p.resolve()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.cfg, nil
}

// parser holds the state of one Parse.
type parser struct {
	file     string
	line     int
	cfg      *Config
	errs     Errors
	defaults settings // the current defaults section
	sec      *section // the section being read, nil before the first
}

// section is the proxy section being read.
type section struct {
	kind string // "global", "defaults", "frontend", "backend" or "listen"
	name string
	line int
	set  settings
	fe   *Frontend
	be   *Backend
	acls map[string][]*ACL
}

func (s *section) frontend() bool { return s.kind == "frontend" || s.kind == "listen" }
func (s *section) backend() bool  { return s.kind == "backend" || s.kind == "listen" }

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, Diagnostic{File: p.file, Line: p.line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, Diagnostic{File: p.file, Line: p.line, Message: fmt.Sprintf(format, args...)})
}

// sectionKeywords start a new section.
var sectionKeywords = map[string]bool{"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true}

// ignoredSections are HAProxy sections with no meaning for an MQTT proxy;
// their contents are skipped with one warning.
var ignoredSections = map[string]bool{"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true, "http-errors": true, "ring": true, "cache": true}

// directive handles one non-empty line.
func (p *parser) directive(words []string) {
	kw := words[0]
	switch {
	case sectionKeywords[kw]:
		p.endSection()
		p.startSection(words)
		return
	case ignoredSections[kw]:
		p.endSection()
		p.warnf("section %q ignored: it has no effect on an MQTT proxy", kw)
		p.sec = &section{kind: "ignored"}
		return
	}
	switch {
	case p.sec == nil:
		p.errorf("%q outside of a section (global, defaults, frontend, backend or listen)", kw)
	case p.sec.kind == "ignored":
	case p.sec.kind == "global":
		p.globalDirective(words)
	default:
		p.proxyDirective(words)
	}
}

// startSection opens a section from its header line.
func (p *parser) startSection(words []string) {
	kind := words[0]
	sec := &section{kind: kind, line: p.line, acls: map[string][]*ACL{}}
	p.sec = sec
	switch kind {
	case "global":
		if len(words) > 1 {
			p.errorf("'global' takes no argument")
		}
		return
	case "defaults":
		// A new defaults section starts from the built-in defaults
		// ("defaults" without a name resets every setting).
		sec.set = builtinDefaults()
		if len(words) > 2 {
			p.errorf("'defaults' takes at most a name")
		}
		return
	}
	if len(words) < 2 {
		p.errorf("'%s' needs a name", kind)
		sec.name = "?"
	} else {
		sec.name = words[1]
	}
	sec.set = p.defaults.clone()
	if sec.frontend() {
		sec.fe = &Frontend{Name: sec.name, File: p.file, Line: p.line, Listen: kind == "listen"}
	}
	if sec.backend() {
		sec.be = &Backend{Name: sec.name, File: p.file, Line: p.line}
	}
	// HAProxy 1.x allowed the listening address on the section line
	// ("listen stats :1936"); it is still found in guides.
	if len(words) > 2 {
		if !sec.frontend() {
			p.errorf("'backend' takes only a name")
			return
		}
		p.bind(sec, append([]string{"bind"}, words[2:]...))
	}
}

// endSection finishes the proxy section being read.
func (p *parser) endSection() {
	sec := p.sec
	if sec == nil {
		return
	}
	p.sec = nil
	if sec.kind == "defaults" {
		p.defaults = sec.set
		return
	}
	if sec.fe != nil {
		sec.set.applyFrontend(sec.fe)
		// A listen section serves its own servers unless it names
		// another backend itself; an inherited default_backend does not
		// count.
		if sec.fe.Listen && (sec.fe.DefaultBackend == "" || sec.fe.DefaultBackend == p.defaults.defaultBackend) {
			sec.fe.DefaultBackend = sec.name
		}
		if sec.fe.Stats != nil && sec.fe.Stats.URI == "" {
			sec.fe.Stats.URI = DefaultStatsURI
		}
		for _, other := range p.cfg.Frontends {
			if other.Name == sec.name {
				p.errs = append(p.errs, Diagnostic{p.file, sec.line, fmt.Sprintf("frontend %q is already defined at line %d", sec.name, other.Line)})
			}
		}
		p.cfg.Frontends = append(p.cfg.Frontends, sec.fe)
	}
	if sec.be != nil {
		sec.set.applyBackend(sec.be)
		for _, other := range p.cfg.Backends {
			if other.Name == sec.name {
				p.errs = append(p.errs, Diagnostic{p.file, sec.line, fmt.Sprintf("backend %q is already defined at line %d", sec.name, other.Line)})
			}
		}
		// A listen section that only serves statistics has no servers
		// and needs none.
		if sec.kind == "listen" && len(sec.be.Servers) == 0 && sec.fe.Stats != nil {
			sec.fe.DefaultBackend = ""
		} else {
			p.cfg.Backends = append(p.cfg.Backends, sec.be)
		}
	}
}

// resolve checks the references between sections once all are read.
func (p *parser) resolve() {
	for _, fe := range p.cfg.Frontends {
		at := func(line int, format string, args ...any) {
			p.errs = append(p.errs, Diagnostic{p.file, line, fmt.Sprintf(format, args...)})
		}
		if len(fe.Binds) == 0 {
			at(fe.Line, "frontend %q has no 'bind'", fe.Name)
		}
		if fe.Stats != nil {
			continue
		}
		if fe.Mode == "http" {
			at(fe.Line, "frontend %q: mode http serves only the statistics page here (add 'stats enable' or use 'mode tcp')", fe.Name)
		}
		if fe.DefaultBackend != "" && p.cfg.Backend(fe.DefaultBackend) == nil {
			at(fe.Line, "frontend %q: default_backend %q does not exist", fe.Name, fe.DefaultBackend)
		}
		for _, u := range fe.UseBackends {
			if p.cfg.Backend(u.Backend) == nil {
				at(u.Line, "use_backend: backend %q does not exist", u.Backend)
			}
		}
		if fe.DefaultBackend == "" && len(fe.UseBackends) == 0 {
			at(fe.Line, "frontend %q has no backend (add 'default_backend' or 'use_backend')", fe.Name)
		}
	}
	for _, be := range p.cfg.Backends {
		if be.StickOn != "" && be.StickTable == nil {
			p.errs = append(p.errs, Diagnostic{p.file, be.Line, fmt.Sprintf("backend %q: 'stick on' needs a 'stick-table' in the same backend", be.Name)})
		}
	}
	sortDiagnostics(p.errs)
}

// sortDiagnostics orders diagnostics by line, keeping the order of those
// on one line.
func sortDiagnostics(d []Diagnostic) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].Line < d[j-1].Line; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// globalDirective handles a line of the global section.
func (p *parser) globalDirective(words []string) {
	kw := words[0]
	switch {
	case kw == "maxconn":
		if n, err := p.oneCount(words, 1<<31-1); err == nil {
			p.cfg.Global.MaxConn = n
		}
	case kw == "spread-checks":
		if n, err := p.oneCount(words, 50); err == nil {
			p.cfg.Global.SpreadChecks = n
		}
	case harmlessGlobal[kw] || strings.HasPrefix(kw, "tune.") || strings.HasPrefix(kw, "ssl-default-"):
		p.warnf("%q ignored: it has no effect here", kw)
	default:
		p.errorf("unknown global directive %q", kw)
	}
}

// harmlessGlobal are global directives with no effect on an MQTT proxy.
var harmlessGlobal = map[string]bool{
	"log": true, "daemon": true, "user": true, "group": true, "uid": true, "gid": true,
	"chroot": true, "pidfile": true, "nbthread": true, "nbproc": true, "stats": true,
	"ca-base": true, "crt-base": true, "master-worker": true, "quiet": true,
	"log-send-hostname": true, "log-tag": true, "node": true, "description": true,
	"hard-stop-after": true, "maxsslconn": true, "ulimit-n": true, "cpu-map": true,
	"expose-experimental-directives": true, "insecure-fork-wanted": true,
}

// oneCount reads the single numeric argument of a directive.
func (p *parser) oneCount(words []string, limit int) (int, error) {
	if len(words) != 2 {
		p.errorf("'%s' takes one number", words[0])
		return 0, errBadArgs
	}
	n, err := parseCount(words[1], limit)
	if err != nil {
		p.errorf("'%s': %v", words[0], err)
	}
	return n, err
}
