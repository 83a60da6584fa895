package mosquitto

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

func TestConfigFile(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"zero value", Config{}, []string{"listener 1883 127.0.0.1", "allow_anonymous true"}},
		{"deny anonymous", Config{DenyAnonymous: true, PasswordFile: "/p/passwd"},
			[]string{"allow_anonymous false", "password_file /p/passwd"}},
		{"persistence", Config{Persistence: true, PersistenceDir: "/data"},
			[]string{"persistence true", "persistence_location /data/"}},
		{"extra lines", Config{ExtraConfig: []string{"max_keepalive 30", "log_type all"}},
			[]string{"max_keepalive 30", "log_type all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(string(configFile(tt.cfg, 1883)), "\n")
			for _, want := range tt.want {
				assert.Contains(t, lines, want)
			}
		})
	}
}

// TestRunReportsTakenPort checks the condition on which Start picks another
// port: mosquitto exits because its port is taken.
func TestRunReportsTakenPort(t *testing.T) {
	executable, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto: the mosquitto broker is not on PATH")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	b := &Broker{
		t:          t,
		executable: executable,
		configPath: filepath.Join(t.TempDir(), "mosquitto.conf"),
		port:       taken.Addr().(*net.TCPAddr).Port,
		output:     new(testnet.Buffer),
	}
	require.NoError(t, os.WriteFile(b.configPath, configFile(Config{}, b.port), 0o600))
	assert.ErrorIs(t, b.run(), errPortTaken)
	assert.Nil(t, b.cmd, "no process left")
}
