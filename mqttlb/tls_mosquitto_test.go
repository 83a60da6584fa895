package mqttlb

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// TestTLSMosquittoClientsThroughProxy runs mosquitto_sub and mosquitto_pub
// over TLS (verify required, client certificates from the test CA) through
// the proxy to plain-TCP brokers, and checks that mosquitto_pub without a
// certificate is turned away.
func TestTLSMosquittoClientsThroughProxy(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install mosquitto-clients): %v", tool, err)
		}
	}
	pki := testnet.NewPKI(t)
	subCert, pubCert := pki.Client(t, "mosquitto-sub"), pki.Client(t, "mosquitto-pub")
	addr, events := tlsProxyToCluster(t, pki, ClientAuthRequired)
	_, port, _ := strings.Cut(addr, ":")
	// The server certificate names localhost, which the clients verify.
	common := []string{"-h", "localhost", "-p", port, "--cafile", pki.CAFile, "-q", "1"}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	topic, message := "tls/mosquitto", "hello over TLS through mqttlb"

	t.Run("without a client certificate", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "mosquitto_pub",
			append(common, "-t", topic, "-m", "refused")...).CombinedOutput()
		assert.Error(t, err, "mosquitto_pub must fail without a certificate: %s", out)
	})

	t.Run("with client certificates", func(t *testing.T) {
		cliPubSub(t, ctx,
			append(slices.Clone(common), "--cert", subCert.CertFile, "--key", subCert.KeyFile, "-t", topic, "-C", "1", "-W", "15"),
			append(slices.Clone(common), "--cert", pubCert.CertFile, "--key", pubCert.KeyFile, "-t", topic, "-m", message),
			message)
	})

	testnet.WaitFor(t, 5*time.Second, func() bool {
		for _, ev := range events.all() {
			if RefusalReason(ev.Err) == "tls_handshake" {
				return true
			}
		}
		return false
	}, "the certificate-less mosquitto_pub to be refused in the handshake")
}
