package mosquitto

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// WritePasswordFile writes a Mosquitto password file for users (name to
// password) in t.TempDir() and returns its path, for Config.PasswordFile.
// The passwords are hashed by mosquitto_passwd; the test is skipped when it
// is not on PATH.
func WritePasswordFile(t testing.TB, users map[string]string) string {
	t.Helper()
	executable, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto: mosquitto_passwd is not on PATH; install mosquitto to run this test")
	}
	var plain strings.Builder
	for _, name := range slices.Sorted(maps.Keys(users)) {
		plain.WriteString(name + ":" + users[name] + "\n")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(plain.String()), 0o600); err != nil {
		t.Fatalf("mosquitto: %v", err)
	}
	// -U hashes a file of plain "user:password" lines in place.
	if out, err := exec.Command(executable, "-U", path).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto: mosquitto_passwd -U: %v\n%s", err, out)
	}
	return path
}
