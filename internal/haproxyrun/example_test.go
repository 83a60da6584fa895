package haproxyrun_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mqttlb/mqttlb/internal/haproxyrun"
)

func ExampleCheck() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(path, []byte(`frontend mqtt
  bind *:1883
  default_backend brokers
backend brokers
  balance uri
  server node1 10.0.0.1:1883 check
`), 0o600)
	var out strings.Builder
	status := haproxyrun.Check(path, &out)
	fmt.Print(strings.ReplaceAll(out.String(), dir+string(filepath.Separator), ""))
	fmt.Println("exit status", status)
	// Output:
	// haproxy.cfg:4: backend "brokers": balance: unknown algorithm "uri": it balances on HTTP data, which MQTT connections do not carry
	// exit status 1
}
