package stats

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/mqttlb/mqttlb/mqttlb"
)

// DefaultRefresh is the page's auto-refresh interval when Page.Refresh is 0
// (HAProxy "stats refresh").
const DefaultRefresh = 10 * time.Second

// Page serves the HTML stats page: the proxy's totals, a table of routes
// and a table per pool with a row per backend, coloured by status (UP
// green, DRAIN blue, MAINT grey, DOWN red), in the spirit of HAProxy's
// "stats uri".
type Page struct {
	// Source gives the statistics. Required.
	Source Source
	// Title heads the page; empty means "mqttlb statistics".
	Title string
	// Refresh is how often the browser reloads the page; 0 means
	// DefaultRefresh, negative means never.
	Refresh time.Duration
	// Auth protects the page; the zero value does not.
	Auth Auth
	// HideVersion leaves the program's version off the page (HAProxy
	// "stats hide-version").
	HideVersion bool
	// Version is the version shown; empty means the main module's version
	// from the build information.
	Version string
}

//go:embed page.html.tmpl
var pageFS embed.FS

var pageTemplate = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"ago":   ago,
	"ms":    func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
}).ParseFS(pageFS, "page.html.tmpl"))

// pageData is what the template renders.
type pageData struct {
	Title          string
	RefreshSeconds int
	Version        string
	Now            time.Time
	mqttlb.Stats
}

// ServeHTTP answers GET and HEAD with the page.
func (pg *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowRead(w, r) || !pg.Auth.allow(w, r) {
		return
	}
	d := pageData{Title: pg.Title, Stats: pg.Source.Stats()}
	d.Now = d.Stats.Time
	if d.Title == "" {
		d.Title = "mqttlb statistics"
	}
	switch {
	case pg.Refresh == 0:
		d.RefreshSeconds = int(DefaultRefresh / time.Second)
	case pg.Refresh > 0:
		d.RefreshSeconds = max(1, int(pg.Refresh/time.Second))
	}
	if !pg.HideVersion {
		d.Version = pg.Version
		if d.Version == "" {
			d.Version = buildVersion()
		}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		http.Error(w, "500 "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// humanBytes prints a byte count with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ago prints the time from t to now, to the second.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String()
}
