package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/haproxyrun"
)

// TestShippedHAProxyConfig: haproxy.cfg next to this program is the blog's
// configuration with loopback addresses, for haproxy-like -f. It is the
// file internal/haproxyrun's end-to-end test runs (readiness 503 takes a
// node out, 200 brings it back), and it passes the -c check.
func TestShippedHAProxyConfig(t *testing.T) {
	shipped, err := os.ReadFile("haproxy.cfg")
	require.NoError(t, err)
	tested, err := os.ReadFile("../../internal/haproxyrun/testdata/hivemq-health.cfg")
	require.NoError(t, err)
	assert.Equal(t, string(tested), string(shipped))
	var out strings.Builder
	assert.Equal(t, 0, haproxyrun.Check("haproxy.cfg", &out), out.String())
}
