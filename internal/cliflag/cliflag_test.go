package cliflag_test

import (
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cliflag"
)

func TestListCollectsRepeatedAndCommaSeparatedValues(t *testing.T) {
	var servers cliflag.List
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(&servers, "server", "")
	require.NoError(t, fs.Parse([]string{"-server", "a", "-server", " b , c,,", "-server", ""}))
	assert.Equal(t, cliflag.List{"a", "b", "c"}, servers)
	assert.Equal(t, "a,b,c", servers.String())
}

func ExampleList() {
	var binds cliflag.List
	fs := flag.NewFlagSet("example", flag.ExitOnError)
	fs.Var(&binds, "bind", "address, repeatable")
	fs.Parse([]string{"-bind", ":1883", "-bind", ":1884,:8883"})
	fmt.Println(binds)
	// Output: [:1883 :1884 :8883]
}
