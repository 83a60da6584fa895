package balance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestByName(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want Balancer
		err  error
	}{
		{"roundrobin", nil, RoundRobin{}, nil},
		{"static-rr", nil, StaticRR{}, nil},
		{"leastconn", nil, LeastConn{}, nil},
		{"first", nil, First{}, nil},
		{"source", nil, SourceHash{}, nil},
		{"random", nil, Random{Draws: 2}, nil},
		{"random(1)", nil, Random{Draws: 1}, nil},
		{"random(3)", nil, Random{Draws: 3}, nil},
		{"hash", nil, ClientIDHash{}, nil},
		{"hash", []string{clientIDSample}, ClientIDHash{}, nil},
		{"hash", []string{"src"}, SourceHash{}, nil},
		{"hash", []string{"req.payload(0,0),mqtt_field_value(connect,username)"}, nil, ErrAlgorithmArgument},
		{"random(0)", nil, nil, ErrAlgorithmArgument},
		{"random(x)", nil, nil, ErrAlgorithmArgument},
		{"random(2", nil, nil, ErrAlgorithmArgument},
		{"random", []string{"2"}, nil, ErrAlgorithmArgument},
		{"leastconn", []string{"x"}, nil, ErrAlgorithmArgument},
		{"first(1)", nil, nil, ErrAlgorithmArgument},
		{"uri", nil, nil, ErrUnknownAlgorithm},
		{"hdr(host)", nil, nil, ErrUnknownAlgorithm},
		{"RoundRobin", nil, nil, ErrUnknownAlgorithm},
		{"", nil, nil, ErrUnknownAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name+strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := ByName(tc.name, tc.args...)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
