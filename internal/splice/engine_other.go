//go:build !linux

package splice

import "net"

// pollSession is empty where there is no event loop: every Session is
// relayed by goroutines.
type pollSession struct{}

// loop has no instances off Linux.
type loop struct{}

func (l *loop) stop() {}

// startPolled reports false: off Linux every pair is relayed by goroutines.
func (e *Engine) startPolled(*Session, net.Conn, net.Conn, Config, func(Result)) bool { return false }

// kill is never reached off Linux, where every Session has a relay.
func (s *Session) kill() {}
