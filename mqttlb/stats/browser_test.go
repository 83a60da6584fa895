package stats

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium on url with the extra flags and returns
// its standard output.
func chromium(t *testing.T, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(),
	}, flags...)
	cmd := exec.CommandContext(ctx, chromiumPath, append(args, url)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return string(out)
}

// limitedBuffer keeps the first 8 KiB written to it: Chromium is chatty.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p[:min(len(p), 8<<10-len(l.b))]...)
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// TestBrowserSeesABrokerGoDown loads the stats page in headless Chromium:
// three backends UP; then, while the browser waits for the page's own
// refresh, a broker is killed and the pool marks it down, and the
// refreshed page shows it DOWN. The screenshots stay in a temporary
// directory as test artifacts; the test logs where.
func TestBrowserSeesABrokerGoDown(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless browser check needs Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	f := newFixture(t)
	page := &Page{Source: f.proxy, Refresh: time.Second}
	final := &Page{Source: f.proxy, Refresh: -1}
	// Once armed, the first load is answered at once and the next (the
	// page's own refresh) waits until the broker is down, so the browser
	// sees the change by refreshing. That page refreshes no more, so that
	// the browser's virtual time runs out and it dumps the page.
	var armed atomic.Bool
	var loads atomic.Int32
	firstServed, killed := make(chan struct{}), make(chan struct{})
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() {
			switch loads.Add(1) {
			case 1:
				page.ServeHTTP(w, r)
				close(firstServed)
				return
			case 2:
				select {
				case <-killed:
				case <-r.Context().Done():
					return
				}
			}
			final.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	}))

	artifacts, err := os.MkdirTemp("", "mqttlb-stats-browser-")
	require.NoError(t, err)
	t.Logf("screenshots in %s", artifacts)
	before := filepath.Join(artifacts, "stats-up.png")
	chromium(t, url, "--screenshot="+before, "--window-size=1400,500")
	assert.FileExists(t, before)
	dom := chromium(t, url, "--dump-dom")
	assert.Equal(t, map[string]string{"node1": "UP", "node2": "UP", "node3": "UP"}, pageRows(t, dom)["brokers"])

	victim := f.cluster.Nodes()[1]
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-firstServed:
		case <-done:
			return
		}
		assert.NoError(t, victim.Stop())
		f.pool.SetHealthy([]string{f.cluster.Nodes()[0].Addr(), f.cluster.Nodes()[2].Addr()})
		close(killed)
	})
	armed.Store(true)
	// Virtual time lets the page's one-second refresh happen without
	// waiting for it; the DOM is dumped when the budget is spent.
	dom = chromium(t, url, "--dump-dom", "--virtual-time-budget=3000")
	close(done)
	wg.Wait()
	assert.GreaterOrEqual(t, loads.Load(), int32(2), "the page refreshed itself")
	assert.Equal(t, map[string]string{"node1": "UP", "node2": "DOWN", "node3": "UP"}, pageRows(t, dom)["brokers"])
	armed.Store(false)

	after := filepath.Join(artifacts, "stats-down.png")
	chromium(t, url, "--screenshot="+after, "--window-size=1400,500")
	assert.FileExists(t, after)
}
