package haproxyrun

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
)

// Check is "haproxy -c -f path": it reads the file and builds what it
// wires without opening any socket, prints every problem as
// "file:line: message" (warnings too, marked as such) and returns the exit
// status: 0 for a file that runs, 1 otherwise.
func Check(path string, out io.Writer) int {
	cfg, err := haproxycfg.ParseFile(path)
	if err == nil {
		var p *plan
		p, err = buildPlan(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			for _, w := range p.warnings {
				fmt.Fprintf(out, "%s (warning)\n", w)
			}
			fmt.Fprintln(out, "Configuration file is valid")
			return 0
		}
	}
	var diags haproxycfg.Errors
	if errors.As(err, &diags) {
		for _, d := range diags {
			fmt.Fprintln(out, d)
		}
	} else {
		fmt.Fprintln(out, err)
	}
	return 1
}
