package haproxycfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to the parser: it never panics, gives
// either a configuration or Errors, and every diagnostic points at a line
// of the input.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../haproxyrun/testdata/*.cfg")
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("frontend f\n  bind :1\n  use_backend b if ! { src 10.0.0.0/8 } || x\nbackend b\n  server s 127.0.0.1:1\n")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse("f.cfg", strings.NewReader(text))
		lines := strings.Count(text, "\n") + 2
		if err != nil {
			var diags Errors
			if !errors.As(err, &diags) || len(diags) == 0 || cfg != nil {
				t.Fatalf("error %v with config %v", err, cfg)
			}
			for _, d := range diags {
				if d.Line < 1 || d.Line > lines {
					t.Fatalf("diagnostic at line %d of a %d-line input: %s", d.Line, lines, d)
				}
			}
			return
		}
		for _, w := range cfg.Warnings {
			if w.Line < 1 || w.Line > lines {
				t.Fatalf("warning at line %d of a %d-line input: %s", w.Line, lines, w)
			}
		}
	})
}
