package haproxycfg

import (
	"errors"
	"strconv"
	"strings"
)

// stickTable reads "stick-table type string len N size N expire T".
func (p *parser) stickTable(sec *section, words []string) {
	t := &StickTable{Line: p.line, Size: 0}
	args := words[1:]
	for len(args) > 0 {
		if len(args) < 2 {
			p.errorf("'stick-table': %q needs a value", args[0])
			return
		}
		var err error
		switch args[0] {
		case "type":
			t.Type = args[1]
			if t.Type != "string" {
				err = errors.New("type " + t.Type + " is not supported: mqttlb sticks on client IDs (type string)")
			}
		case "len":
			t.Len, err = parseCount(args[1], 1<<16)
		case "size":
			t.Size, err = parseSize(args[1])
		case "expire":
			t.Expire, err = parseTime(args[1])
		case "peers", "store", "nopurge", "srvkey", "write-to":
			err = errors.New(args[0] + " is not supported")
		default:
			err = errors.New("unknown argument " + strconv.Quote(args[0]))
		}
		if err != nil {
			p.errorf("'stick-table': %v", err)
			return
		}
		args = args[2:]
	}
	if t.Type == "" || t.Size == 0 {
		p.errorf("'stick-table' needs 'type string' and 'size'")
		return
	}
	if t.Len > 0 {
		p.warnf("stick-table len %d: mqttlb keeps whole client IDs; HAProxy would cut them to %d bytes, so IDs sharing their first %d bytes stick together there but not here", t.Len, t.Len, t.Len)
	}
	sec.be.StickTable = t
}

func (p *parser) stick(sec *section, words []string) {
	if len(words) < 3 || words[1] != "on" {
		p.errorf("'stick' supports 'stick on <sample>' only")
		return
	}
	f, n, err := takeFetch(words[2:])
	if err == nil && f != FetchClientID {
		err = errors.New("mqttlb sticks on the client ID only: req.payload(0,0),mqtt_field_value(connect,client_identifier)")
	}
	if err != nil {
		p.errorf("'stick on': %v", err)
		return
	}
	if rest := words[2+n:]; len(rest) > 0 {
		p.errorf("'stick on': table and conditions are not supported (got %q)", strings.Join(rest, " "))
		return
	}
	sec.be.StickOn = f
}
