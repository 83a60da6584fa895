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

// fdChildEnv makes the test binary run fdExhaustionChild instead of the
// tests (see TestMain): the descriptor limit is lowered in that child
// process only.
const fdChildEnv = "MQTTLB_FD_EXHAUSTION_CHILD"
