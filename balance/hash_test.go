package balance

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// place returns the backend ID each client ID is placed on.
func place(t *testing.T, p Picker, ids []string) map[string]string {
	t.Helper()
	placement := make(map[string]string, len(ids))
	for _, id := range ids {
		b, err := p.Pick(ConnInfo{ClientID: id})
		require.NoError(t, err)
		placement[id] = b.ID()
	}
	return placement
}

// skewedIDs returns n client IDs that share long prefixes and differ only
// in a few trailing characters, as fleets of devices often are named.
func skewedIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("plant-7/line-%d/sensor-%05d", i%3, i)
	}
	return ids
}

func TestClientIDHashMinimalDisruption(t *testing.T) {
	const clients = 10_000
	ids := skewedIDs(clients)
	five := newBackends(1, 1, 1, 1, 1)
	before := place(t, ClientIDHash{}.Build(BuildInfo{Backends: five}), ids)

	t.Run("remove one of five", func(t *testing.T) {
		removed := five[2].ID()
		after := place(t, ClientIDHash{}.Build(BuildInfo{Backends: slices.Delete(slices.Clone(five), 2, 3)}), ids)
		moved := 0
		for _, id := range ids {
			if after[id] != before[id] {
				moved++
				assert.Equal(t, removed, before[id], "client %s moved though its backend stayed", id)
			} else {
				assert.NotEqual(t, removed, after[id])
			}
		}
		// Expected 1/5 of the clients: 2,000, binomial sd 40.
		assert.InDelta(t, 0.20, float64(moved)/clients, 0.02)
	})
	t.Run("add a sixth", func(t *testing.T) {
		six := append(slices.Clone(five), &Backend{Addr: "10.0.0.6:1883", Name: "f"})
		after := place(t, ClientIDHash{}.Build(BuildInfo{Backends: six}), ids)
		moved := 0
		for _, id := range ids {
			if after[id] != before[id] {
				moved++
				assert.Equal(t, "f", after[id], "client %s moved to an old backend", id)
			}
		}
		// Expected 1/6 of the clients: 1,667, binomial sd 37.
		assert.InDelta(t, 1.0/6, float64(moved)/clients, 0.02)
	})
}

func TestClientIDHashIgnoresBackendOrder(t *testing.T) {
	ids := skewedIDs(2000)
	backends := newBackends(1, 2, 3, 1, 1)
	want := place(t, ClientIDHash{}.Build(BuildInfo{Backends: backends}), ids)
	reversed := slices.Clone(backends)
	slices.Reverse(reversed)
	assert.Equal(t, want, place(t, ClientIDHash{}.Build(BuildInfo{Backends: reversed}), ids))
}

// TestClientIDHashBoundedLoad connects 10,000 clients with look-alike IDs to
// 5 backends, then lets them disconnect and reconnect in a Zipf-distributed
// pattern (a few clients reconnect very often), and checks at every
// placement that the chosen backend holds no more than
// ceil((1 + LoadFactor) × its weighted share) of the open connections.
func TestClientIDHashBoundedLoad(t *testing.T) {
	const clients, events = 10_000, 50_000
	ids := skewedIDs(clients)
	cases := []struct {
		name       string
		loadFactor float64
		weights    []int
	}{
		{"default 0.25 equal weights", 0, []int{1, 1, 1, 1, 1}},
		{"tight 0.05 equal weights", 0.05, []int{1, 1, 1, 1, 1}},
		{"0.1 weights 1 1 2 2 4", 0.1, []int{1, 1, 2, 2, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends := newBackends(tc.weights...)
			bounded := ClientIDHash{LoadFactor: tc.loadFactor}.Build(BuildInfo{Backends: backends})
			unbounded := ClientIDHash{LoadFactor: -1}.Build(BuildInfo{Backends: backends})
			eps := cmpOr(tc.loadFactor, defaultLoadFactor)
			totalWeight := 0
			for _, b := range backends {
				totalWeight += b.EffectiveWeight()
			}
			open := 0
			limit := func(b *Backend) int64 {
				return int64(math.Ceil((1 + eps) * float64(open) * float64(b.EffectiveWeight()) / float64(totalWeight)))
			}
			on := make([]*Backend, clients)
			spills := 0
			connect := func(i int) {
				b, err := bounded.Pick(ConnInfo{ClientID: ids[i]})
				require.NoError(t, err)
				if preferred, _ := unbounded.Pick(ConnInfo{ClientID: ids[i]}); preferred != b {
					spills++
				}
				b.Acquire()
				on[i] = b
				open++
				require.LessOrEqualf(t, b.Active(), limit(b), "backend %s after placing %s with %d open", b, ids[i], open)
			}
			for i := range clients {
				connect(i)
				// While connections only arrive, the bound holds for all.
				for _, b := range backends {
					require.LessOrEqual(t, b.Active(), limit(b))
				}
			}
			zipf := rand.NewZipf(rand.New(rand.NewPCG(7, 7)), 1.2, 1, clients-1)
			for range events {
				i := int(zipf.Uint64())
				if on[i] != nil {
					on[i].Release()
					on[i] = nil
					open--
				}
				if i%2 == 0 || open < clients/2 { // half of them come right back
					connect(i)
				}
			}
			assert.Positive(t, spills, "the bound never changed a placement, so the test shows nothing")
			for i, b := range on {
				if b != nil {
					b.Release()
					on[i] = nil
				}
			}
		})
	}
}

func cmpOr(v, fallback float64) float64 {
	if v == 0 {
		return fallback
	}
	return v
}

// placementsEnv makes TestClientIDHashReplicaAgreement print placements
// instead of checking them: the test runs its own binary with it set, as a
// second proxy replica would be a second process.
const placementsEnv = "BALANCE_TEST_PRINT_PLACEMENTS"

func TestClientIDHashReplicaAgreement(t *testing.T) {
	ids := skewedIDs(10_000)
	backends := newBackends(1, 2, 3, 1, 1)
	if os.Getenv(placementsEnv) != "" {
		// The other replica lists the same backends in another order.
		slices.Reverse(backends)
		for id, backend := range place(t, ClientIDHash{}.Build(BuildInfo{Backends: backends}), ids) {
			fmt.Printf("placement %s %s\n", id, backend)
		}
		return
	}
	want := place(t, ClientIDHash{}.Build(BuildInfo{Backends: backends}), ids)

	cmd := exec.Command(os.Args[0], "-test.run=^TestClientIDHashReplicaAgreement$", "-test.count=1")
	cmd.Env = append(os.Environ(), placementsEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "replica process: %s", stderr.String())
	got := make(map[string]string)
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "placement "); ok {
			id, backend, _ := strings.Cut(rest, " ")
			got[id] = backend
		}
	}
	require.NoError(t, lines.Err())
	require.Len(t, got, len(ids))
	assert.Equal(t, want, got)
}

func TestHashWithoutKeyFallsBackToLeastConn(t *testing.T) {
	cases := []struct {
		name     string
		balancer Balancer
		info     ConnInfo
	}{
		{"client ID hash, empty ID", ClientIDHash{}, ConnInfo{RemoteAddr: netip.MustParseAddrPort("10.1.2.3:5000")}},
		{"source hash, no address", SourceHash{}, ConnInfo{ClientID: "sensor-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends := newBackends(1, 1, 1)
			backends[0].Acquire()
			backends[2].Acquire()
			defer backends[0].Release()
			defer backends[2].Release()
			p := tc.balancer.Build(BuildInfo{Backends: backends})
			for range 10 {
				b, err := p.Pick(tc.info)
				require.NoError(t, err)
				assert.Same(t, backends[1], b)
			}
		})
	}
}

func TestSourceHashKeysOnAddressOnly(t *testing.T) {
	p := SourceHash{}.Build(BuildInfo{Backends: newBackends(1, 1, 1, 1, 1, 1, 1, 1)})
	pick := func(addrPort string) *Backend {
		b, err := p.Pick(ConnInfo{RemoteAddr: netip.MustParseAddrPort(addrPort), ClientID: addrPort})
		require.NoError(t, err)
		return b
	}
	first := pick("192.0.2.7:40000")
	assert.Same(t, first, pick("192.0.2.7:40001"), "another port")
	assert.Same(t, first, pick("[::ffff:192.0.2.7]:40002"), "IPv4-mapped IPv6")
	spread := make(map[*Backend]bool)
	for i := range 64 {
		spread[pick(fmt.Sprintf("192.0.2.%d:1", i))] = true
	}
	assert.Len(t, spread, 8, "64 addresses reach every backend")
}

func TestNegLog2MatchesMath(t *testing.T) {
	table := log2Table()
	rng := rand.New(rand.NewPCG(3, 4))
	values := []uint64{0, 1, 2, 3, 1 << 32, 1<<63 - 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}
	for range 10_000 {
		values = append(values, rng.Uint64()>>rng.UintN(64))
	}
	for _, h := range values {
		want := 64 - math.Log2(float64(max(h, 1)))
		got := float64(negLog2(table, h)) / (1 << log2FracBits)
		require.InDeltaf(t, want, got, 1.0/(1<<21), "h=%d", h)
	}
}
