package haproxycfg

import (
	"errors"
	"strconv"
	"strings"
)

// httpCheck reads "http-check send" and "http-check expect"
// (configuration manual §4.2): the request and the expected answer of
// "option httpchk".
func (p *parser) httpCheck(sec *section, words []string) {
	if len(words) < 2 {
		p.errorf("'http-check' needs 'send' or 'expect'")
		return
	}
	hc := &sec.set.check
	switch words[1] {
	case "send":
		args := words[2:]
		for len(args) > 0 {
			if len(args) < 2 {
				p.errorf("'http-check send': %q needs a value", args[0])
				return
			}
			switch args[0] {
			case "meth":
				hc.Method = args[1]
			case "uri":
				hc.URI = args[1]
			case "ver":
			case "hdr":
				if len(args) < 3 {
					p.errorf("'http-check send': hdr needs a name and a value")
					return
				}
				p.warnf("'http-check send hdr' ignored: the check sends Host and Connection only")
				args = args[1:]
			default:
				p.errorf("'http-check send': unsupported argument %q (supported: meth, uri, ver, hdr)", args[0])
				return
			}
			args = args[2:]
		}
	case "expect":
		p.expect(hc, words[2:])
	default:
		p.errorf("'http-check %s' is not supported (supported: send, expect)", words[1])
	}
}

// expect reads "http-check expect status <codes>" or "string <text>".
func (p *parser) expect(hc *HTTPCheck, args []string) {
	if len(args) != 2 {
		p.errorf("'http-check expect' takes 'status <codes>' or 'string <text>'")
		return
	}
	switch args[0] {
	case "status":
		codes, err := parseStatuses(args[1])
		if err != nil {
			p.errorf("'http-check expect status': %v", err)
			return
		}
		hc.ExpectStatus = codes
	case "string":
		hc.ExpectString = args[1]
	default:
		p.errorf("'http-check expect %s' is not supported (supported: status, string)", args[0])
	}
}

// parseStatuses reads a status list such as "200", "200,204" or "200-299".
func parseStatuses(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(lo)
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(hi)
		}
		if errA != nil || errB != nil || a < 100 || b > 599 || a > b {
			return nil, errors.New("invalid status " + strconv.Quote(part) + " (100 to 599, or a range like 200-399)")
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}
