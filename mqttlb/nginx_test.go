package mqttlb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// nginxStreamModule is where Debian's libnginx-mod-stream puts the module.
const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// startNginxProxyProtocol runs nginx as a child process with a stream
// server that reads a PROXY header ("listen ... proxy_protocol"), logs
// $proxy_protocol_addr and forwards to upstream. It returns nginx's
// address and the path of its access log. Everything nginx writes stays in
// a temporary directory; the process is stopped by its PID at cleanup.
func startNginxProxyProtocol(t *testing.T, upstream string) (addr, accessLog string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("nginx not installed (apt-get install nginx-light libnginx-mod-stream): %v", err)
	}
	version, _ := exec.Command(bin, "-V").CombinedOutput()
	loadModule := ""
	switch {
	case bytes.Contains(version, []byte("--with-stream=dynamic")):
		if _, err := os.Stat(nginxStreamModule); err != nil {
			t.Skipf("nginx has a dynamic stream module but %s is missing (apt-get install libnginx-mod-stream)", nginxStreamModule)
		}
		loadModule = "load_module " + nginxStreamModule + ";"
	case !bytes.Contains(version, []byte("--with-stream")):
		t.Skip("nginx was built without the stream module")
	}

	dir := t.TempDir()
	port := freeLoopbackPort(t)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	accessLog = filepath.Join(dir, "access.log")
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
stream {
	log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr';
	access_log %[3]s pp;
	server {
		listen %[4]s proxy_protocol;
		proxy_pass %[5]s;
	}
}
`, loadModule, dir, accessLog, addr, upstream)
	confFile := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(confFile, []byte(conf), 0o600))

	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop; SIGKILL if it lingers.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			// An empty connection; nginx logs it with an empty address.
			c.Close()
			return addr, accessLog
		}
		select {
		case err := <-exited:
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), errLog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10 s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeLoopbackPort returns a port that was free a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSendProxyV2ToNginx: nginx, a real PROXY protocol reader, sits between
// the proxy (send-proxy-v2) and a broker. A client bound to 127.0.0.7
// publishes and receives through both; nginx's log shows 127.0.0.7, not the
// proxy's own address.
func TestSendProxyV2ToNginx(t *testing.T) {
	c := startCluster(t, 1)
	nginxAddr, accessLog := startNginxProxyProtocol(t, c.Addrs()[0])

	pool := &Pool{Name: "nginx", ProxyProtocol: &proxyproto.Options{Version: 2}}
	pool.SetBackends(backendsFor(nginxAddr))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})

	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}, Timeout: 5 * time.Second}
	conn, err := dialer.Dial("tcp", addr)
	require.NoError(t, err)
	clientPort := conn.LocalAddr().(*net.TCPAddr).Port

	received := make(chan *paho.Publish, 1)
	client := paho.NewClient(paho.ClientConfig{ClientID: "behind-nginx", Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { received <- pr.Packet; return true, nil },
		}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ack, err := client.Connect(ctx, &paho.Connect{ClientID: "behind-nginx", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Equal(t, byte(0), ack.ReasonCode)
	_, err = client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "nginx/echo", QoS: 1}}})
	require.NoError(t, err)
	_, err = client.Publish(ctx, &paho.Publish{Topic: "nginx/echo", QoS: 1, Payload: []byte("through nginx")})
	require.NoError(t, err)
	select {
	case m := <-received:
		assert.Equal(t, "through nginx", string(m.Payload))
	case <-ctx.Done():
		t.Fatal("no message back through the proxy and nginx")
	}
	require.NoError(t, client.Disconnect(&paho.Disconnect{}))
	<-client.Done()

	// nginx writes the line when the session ends.
	want := fmt.Sprintf("127.0.0.7 %d 127.0.0.1", clientPort)
	var log []byte
	testnet.WaitFor(t, 10*time.Second, func() bool {
		log, _ = os.ReadFile(accessLog)
		return strings.Contains(string(log), "127.0.0.7")
	}, "nginx to log the session")
	assert.Contains(t, string(log), want, "nginx saw the client's address and port through the PROXY header")
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 1 }, "the proxy's connection end")
	assert.Equal(t, "127.0.0.7", events.all()[0].Remote.Addr().String())
}
