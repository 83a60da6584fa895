//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// setReusePort refuses: the program's -reuseport relies on Linux's
// SO_REUSEPORT, which spreads connections over the listening processes.
func setReusePort(string, string, syscall.RawConn) error {
	return errors.New("-reuseport needs Linux")
}
