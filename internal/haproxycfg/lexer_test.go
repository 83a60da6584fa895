package haproxycfg

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"   # only a comment", nil, nil},
		{"  bind *:1883  ", []string{"bind", "*:1883"}, nil},
		{"\tserver s1 10.0.0.1:1883\tcheck", []string{"server", "s1", "10.0.0.1:1883", "check"}, nil},
		{`stats realm Haproxy\ Statistics`, []string{"stats", "realm", "Haproxy Statistics"}, nil},
		{`stats realm "Strictly Private" # comment`, []string{"stats", "realm", "Strictly Private"}, nil},
		{`stats auth 'a:b#c'`, []string{"stats", "auth", "a:b#c"}, nil},
		{`x "a\"b"`, []string{"x", `a"b`}, nil},
		{`x 'a\b'`, []string{"x", `a\b`}, nil},
		{`x pre"quoted"post`, []string{"x", "prequotedpost"}, nil},
		{`x a\#b #c`, []string{"x", "a#b"}, nil},
		{"mode tcp#comment", []string{"mode", "tcp"}, nil},
		{`x "unterminated`, nil, errUnterminatedQuote},
		{`x trailing\`, nil, errTrailingBackslash},
		{`x "${HOME}"`, nil, errUnsupportedEnvExpr},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := splitWords(tt.line)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10000", 10 * time.Second, true}, // bare numbers are milliseconds
		{"240s", 240 * time.Second, true},
		{"30m", 30 * time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"100us", 100 * time.Microsecond, true},
		{"2h", 2 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"0", 0, true},
		{"", 0, false},
		{"s", 0, false},
		{"1.5s", 0, false},
		{"-1s", 0, false},
		{"10 s", 0, false},
		{"10x", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in)
			if !tt.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"100k", 102400, true},
		{"1m", 1 << 20, true},
		{"2g", 0, false}, // above 2^31-1
		{"1g", 1 << 30, true},
		{"5000", 5000, true},
		{"k", 0, false},
		{"", 0, false},
		{"1.5k", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if !tt.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
