// Package mosquitto runs real Mosquitto brokers as child processes in tests.
//
// A test that calls [Start] is skipped when the mosquitto executable is not
// on PATH. Each broker gets its own configuration file in t.TempDir(), a free
// loopback port, and a t.Cleanup that stops it; it is started, signalled and
// waited for by its own process ID only.
//
//	func TestAgainstMosquitto(t *testing.T) {
//		b := mosquitto.Start(t, mosquitto.Config{})
//		dial(b.Addr())   // 127.0.0.1:port
//		b.Kill()         // SIGKILL, as a crash
//		b.Restart()      // same port, same configuration
//	}
//
// Mosquitto has no clustering: several brokers are independent processes.
package mosquitto

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// StartTimeout bounds how long Start and Restart wait for the broker to
// accept connections, and Stop for it to exit.
const StartTimeout = 10 * time.Second

// bindAttempts is how often Start picks a new port when another process
// took the one it chose before mosquitto could bind it.
const bindAttempts = 3

// Config describes one broker. The zero value is an anonymous broker without
// persistence.
type Config struct {
	// DenyAnonymous turns allow_anonymous off, so that clients must log in
	// with a user of PasswordFile. Default: anonymous clients are allowed.
	DenyAnonymous bool
	// PasswordFile is a Mosquitto password file (see [WritePasswordFile]).
	// Empty means none.
	PasswordFile string
	// Persistence turns on Mosquitto's persistence: the database is saved
	// on Stop (not on Kill) and loaded by Restart.
	Persistence bool
	// PersistenceDir is where the database is kept. Empty means a directory
	// in t.TempDir().
	PersistenceDir string
	// ExtraConfig lines are appended to the configuration file as they are.
	ExtraConfig []string
}

// Broker is a running (or stopped) mosquitto process. Its methods must be
// called from the test's goroutine.
type Broker struct {
	t          testing.TB
	executable string
	configPath string
	port       int
	output     *testnet.Buffer // stdout and stderr of every run

	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has been waited for
}

// Start starts a broker with cfg, waits until it has bound its port and
// accepts connections, and registers a t.Cleanup that stops it. It skips the test when mosquitto is
// not installed and fails it when the broker does not come up.
func Start(t testing.TB, cfg Config) *Broker {
	t.Helper()
	executable, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto: the mosquitto broker is not on PATH; install it (e.g. apt-get install mosquitto) to run this test")
	}
	b := &Broker{
		t:          t,
		executable: executable,
		configPath: filepath.Join(t.TempDir(), "mosquitto.conf"),
		output:     new(testnet.Buffer),
	}
	t.Cleanup(b.cleanup)
	if cfg.Persistence && cfg.PersistenceDir == "" {
		cfg.PersistenceDir = t.TempDir()
	}

	for attempt := 1; ; attempt++ {
		b.port = freePort(t)
		if err := os.WriteFile(b.configPath, configFile(cfg, b.port), 0o600); err != nil {
			t.Fatalf("mosquitto: %v", err)
		}
		err := b.run()
		if err == nil {
			return b
		}
		if !errors.Is(err, errPortTaken) || attempt == bindAttempts {
			t.Fatalf("%v\n%s", err, b.output)
		}
	}
}

// Addr returns the broker's address, 127.0.0.1:port. It does not change
// across Kill, Stop and Restart.
func (b *Broker) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
}

// Kill sends SIGKILL and waits for the process to end: clients see their
// connections drop without DISCONNECT, and nothing is saved. Killing a
// stopped broker does nothing.
func (b *Broker) Kill() {
	b.t.Helper()
	b.signal(syscall.SIGKILL)
}

// Stop sends SIGTERM and waits for mosquitto to shut down cleanly, saving
// its database when persistence is on. Stopping a stopped broker does
// nothing.
func (b *Broker) Stop() {
	b.t.Helper()
	b.signal(syscall.SIGTERM)
}

// Restart stops the broker if it runs and starts it again with the same
// port and configuration.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	if err := b.run(); err != nil {
		b.t.Fatalf("restart: %v\n%s", err, b.output)
	}
}

// Output returns what mosquitto has logged so far, over all its runs.
func (b *Broker) Output() string { return b.output.String() }

func (b *Broker) cleanup() {
	b.Kill()
	if b.t.Failed() {
		b.t.Logf("mosquitto output:\n%s", b.output)
	}
}

var errPortTaken = errors.New("mosquitto: port already in use")

// runningMessage is what mosquitto logs once all its listeners are bound.
// A successful dial alone proves nothing: another process may hold the port.
const runningMessage = " running"

// run starts the process and waits until it has bound its port and accepts
// connections.
func (b *Broker) run() error {
	cmd := exec.Command(b.executable, "-c", b.configPath)
	cmd.Stdout = b.output
	cmd.Stderr = b.output
	mark := b.output.Len()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mosquitto: %w", err)
	}
	exited := make(chan struct{})
	go waitProcess(cmd, exited)
	b.cmd, b.exited = cmd, exited

	deadline := time.Now().Add(StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b.cmd = nil
			if strings.Contains(b.output.StringFrom(mark), "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("mosquitto: exited before accepting connections: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if !strings.Contains(b.output.StringFrom(mark), runningMessage) {
			continue
		}
		if conn, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
			conn.Close()
			return nil
		}
	}
	b.signal(syscall.SIGKILL)
	return fmt.Errorf("mosquitto: no connection accepted on %s within %v", b.Addr(), StartTimeout)
}

func waitProcess(cmd *exec.Cmd, exited chan<- struct{}) {
	_ = cmd.Wait() // the exit status is read from cmd.ProcessState
	close(exited)
}

// signal sends sig to the process, if it runs, and waits for it to exit.
func (b *Broker) signal(sig syscall.Signal) {
	b.t.Helper()
	if b.cmd == nil {
		return
	}
	if err := b.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.t.Errorf("mosquitto: signal %v: %v", sig, err)
	}
	select {
	case <-b.exited:
	case <-time.After(StartTimeout):
		b.t.Errorf("mosquitto: pid %d did not exit within %v of %v; killing it", b.cmd.Process.Pid, StartTimeout, sig)
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

// freePort returns a loopback port that was free a moment ago. Another
// process may take it before mosquitto binds it; Start then retries.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mosquitto: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func configFile(cfg Config, port int) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "listener %d 127.0.0.1\n", port)
	fmt.Fprintf(&buf, "allow_anonymous %t\n", !cfg.DenyAnonymous)
	// Start waits for the start-up messages on stderr; both settings add to
	// any that ExtraConfig makes.
	buf.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would switch to the "mosquitto" user, which
		// cannot read the test's temporary directory.
		buf.WriteString("user root\n")
	}
	if cfg.PasswordFile != "" {
		fmt.Fprintf(&buf, "password_file %s\n", cfg.PasswordFile)
	}
	if cfg.Persistence {
		buf.WriteString("persistence true\n")
		fmt.Fprintf(&buf, "persistence_location %s%c\n", filepath.Clean(cfg.PersistenceDir), filepath.Separator)
	}
	for _, line := range cfg.ExtraConfig {
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
