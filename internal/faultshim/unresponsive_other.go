//go:build !linux

package faultshim

import "testing"

// Unresponsive skips the test: it relies on Linux dropping SYNs to a
// listener whose accept queue is full.
func Unresponsive(t testing.TB) string {
	t.Helper()
	t.Skip("faultshim: Unresponsive needs Linux's full-accept-queue behaviour")
	return ""
}
