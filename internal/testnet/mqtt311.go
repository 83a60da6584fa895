package testnet

import (
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// Connect311 connects a paho.mqtt.golang (MQTT 3.1.1) client made from
// opts within 5 seconds, failing the test otherwise, and disconnects it
// when the test ends.
func Connect311(t testing.TB, opts *paho311.ClientOptions) paho311.Client {
	t.Helper()
	c := paho311.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second), "connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
