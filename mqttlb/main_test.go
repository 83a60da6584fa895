package mqttlb

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(fdChildEnv) != "" {
		os.Exit(fdExhaustionChild())
	}
	goleak.VerifyTestMain(m)
}
