package haproxycfg

import "strings"

// stats reads the "stats" directives of a statistics page.
func (p *parser) stats(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'stats' needs a keyword")
		return
	}
	st := sec.fe.Stats
	if st == nil {
		st = &Stats{}
	}
	arg := func() (string, bool) {
		if len(words) != 3 {
			p.errorf("'stats %s' takes one argument", words[1])
			return "", false
		}
		return words[2], true
	}
	switch words[1] {
	case "enable":
	case "hide-version":
		st.HideVersion = true
	case "uri":
		v, ok := arg()
		if !ok {
			return
		}
		st.URI = v
	case "realm":
		v, ok := arg()
		if !ok {
			return
		}
		st.Realm = v
	case "refresh":
		v, ok := arg()
		if !ok {
			return
		}
		d, err := parseTime(v)
		if err != nil {
			p.errorf("'stats refresh': %v", err)
			return
		}
		st.Refresh = d
	case "auth":
		v, ok := arg()
		if !ok {
			return
		}
		user, pass, found := strings.Cut(v, ":")
		if !found || user == "" {
			p.errorf("'stats auth' takes user:password")
			return
		}
		st.Auth = append(st.Auth, Credential{User: user, Password: pass})
	case "admin", "show-legends", "show-node", "show-desc", "scope":
		p.warnf("'stats %s' ignored: the statistics page is read-only here", words[1])
	default:
		p.errorf("unknown 'stats %s'", words[1])
		return
	}
	if sec.set.mode != "http" && sec.fe.Stats == nil {
		p.warnf("'stats' in mode tcp: HAProxy ignores it; the page is served here anyway")
	}
	sec.fe.Stats = st
}
