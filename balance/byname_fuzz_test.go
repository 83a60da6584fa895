package balance

import (
	"errors"
	"testing"
)

// FuzzByName checks that any configuration words give either a Balancer or
// an error wrapping one of the package's sentinels, and never a panic.
func FuzzByName(f *testing.F) {
	for _, seed := range []struct{ name, arg string }{
		{"roundrobin", ""}, {"random(2)", ""}, {"random(", ""}, {"random()", ""},
		{"random(-1)", ""}, {"hash", clientIDSample}, {"hash", "src"}, {"hdr(x)", ""},
		{"((", ")"}, {"random(99999999999999999999)", ""},
	} {
		f.Add(seed.name, seed.arg)
	}
	f.Fuzz(func(t *testing.T, name, arg string) {
		var args []string
		if arg != "" {
			args = []string{arg}
		}
		b, err := ByName(name, args...)
		switch {
		case err == nil && b == nil:
			t.Fatalf("ByName(%q, %q): no Balancer and no error", name, args)
		case err != nil && !errors.Is(err, ErrUnknownAlgorithm) && !errors.Is(err, ErrAlgorithmArgument):
			t.Fatalf("ByName(%q, %q): error %v wraps no sentinel", name, args, err)
		case err != nil && b != nil:
			t.Fatalf("ByName(%q, %q): both a Balancer and error %v", name, args, err)
		}
	})
}
