package haproxycfg

import (
	"slices"
	"time"
)

// settings are what a defaults section passes on to the proxy sections
// after it (configuration manual §4 "Proxies").
type settings struct {
	mode           string
	maxConn        int
	balance        string
	balanceArgs    []string
	hashType       string
	retries        int
	redispatch     bool
	allBackups     bool
	dontLogNormal  bool
	httpchk        bool      // option httpchk
	check          HTTPCheck // its request and expectation
	inspectDelay   time.Duration
	defaultBackend string
	defaultServer  Server
	timeouts       map[string]time.Duration
}

// builtinDefaults are HAProxy's settings before any defaults section.
func builtinDefaults() settings {
	return settings{
		mode:          "tcp",
		retries:       3,
		defaultServer: Server{Weight: 1},
		check:         HTTPCheck{Method: "GET", URI: "/"},
		timeouts:      map[string]time.Duration{},
	}
}

// clone returns a copy that shares nothing mutable with s.
func (s settings) clone() settings {
	c := s
	c.balanceArgs = slices.Clone(s.balanceArgs)
	c.timeouts = make(map[string]time.Duration, len(s.timeouts))
	for k, v := range s.timeouts {
		c.timeouts[k] = v
	}
	c.check.ExpectStatus = slices.Clone(s.check.ExpectStatus)
	return c
}

func (s settings) applyFrontend(fe *Frontend) {
	fe.Mode = s.mode
	fe.MaxConn = s.maxConn
	fe.InspectDelay = s.inspectDelay
	fe.DefaultBackend = s.defaultBackend
	fe.ClientTimeout = s.timeouts["client"]
	fe.TunnelTimeout = s.timeouts["tunnel"]
	fe.DontLogNormal = s.dontLogNormal
}

func (s settings) applyBackend(be *Backend) {
	be.Mode = s.mode
	be.Balance = s.balance
	if be.Balance == "" {
		be.Balance = "roundrobin"
	}
	be.BalanceArgs = s.balanceArgs
	be.HashType = s.hashType
	if s.httpchk {
		hc := s.check
		hc.ExpectStatus = slices.Clone(s.check.ExpectStatus)
		be.HTTPCheck = &hc
	}
	be.ConnectTimeout = s.timeouts["connect"]
	be.ServerTimeout = s.timeouts["server"]
	be.CheckTimeout = s.timeouts["check"]
	be.QueueTimeout = s.timeouts["queue"]
	be.TunnelTimeout = s.timeouts["tunnel"]
	be.Retries = s.retries
	be.Redispatch = s.redispatch
	be.AllBackups = s.allBackups
}
