package stats

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// pageRows parses a stats page and returns, per pool, each backend row's
// status as the status cell shows it, after checking that the row's class
// carries the same status (the colour).
func pageRows(t *testing.T, page string) map[string]map[string]string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	rows := map[string]map[string]string{}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "tr" || !hasClass(n, "backend") {
			continue
		}
		pool, backend := attr(n, "data-pool"), attr(n, "data-backend")
		var status string
		for td := range n.Descendants() {
			if td.Type == html.ElementNode && td.Data == "td" && hasClass(td, "status") {
				status = strings.Fields(text(td))[0]
			}
		}
		assert.True(t, hasClass(n, status), "row %s/%s is coloured as %s", pool, backend, status)
		if rows[pool] == nil {
			rows[pool] = map[string]string{}
		}
		rows[pool][backend] = status
	}
	return rows
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// metaRefresh returns the content of the page's refresh meta tag, "" if
// none.
func metaRefresh(t *testing.T, page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "meta" && attr(n, "http-equiv") == "refresh" {
			return attr(n, "content")
		}
	}
	return ""
}

// fourStates is a proxy whose pool "brokers" has a backend in each
// status, and a second pool behind a route.
func fourStates() *mqttlb.Proxy {
	pool := &mqttlb.Pool{Name: "brokers"}
	pool.SetBackends([]*balance.Backend{
		{Name: "node1", Addr: "127.0.0.1:1"}, {Name: "node2", Addr: "127.0.0.1:2"},
		{Name: "node3", Addr: "127.0.0.1:3"}, {Name: "node4", Addr: "127.0.0.1:4"},
	})
	pool.SetState("node2", mqttlb.StateDrain)
	pool.SetState("node3", mqttlb.StateMaint)
	pool.SetHealthy([]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"})
	pool.RecordCheck("127.0.0.1:4", errConnRefused, 2*time.Millisecond)
	other := &mqttlb.Pool{Name: "other"}
	other.SetBackends([]*balance.Backend{{Addr: "127.0.0.1:5", Backup: true}})
	return &mqttlb.Proxy{Default: pool, Routes: []mqttlb.Route{{Name: "special", Match: mqttlb.Username("x"), Pool: other}}}
}

type testError string

func (e testError) Error() string { return string(e) }

const errConnRefused = testError("connection refused")

func TestPageShowsEveryBackendAndState(t *testing.T) {
	p := fourStates()
	url := serve(t, &Page{Source: p, Version: "v1.2.3"})
	resp, page := get(t, url, "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, map[string]map[string]string{
		"other":   {"127.0.0.1:5": "UP"},
		"brokers": {"node1": "UP", "node2": "DRAIN", "node3": "MAINT", "node4": "DOWN"},
	}, pageRows(t, page))
	assert.Equal(t, "10", metaRefresh(t, page), "DefaultRefresh")
	assert.Contains(t, page, "v1.2.3")
	assert.Contains(t, page, "connection refused", "the last check's error")
	assert.Contains(t, page, `data-route="special"`)
	assert.Contains(t, page, `data-route="default"`)
}

func TestPageOptions(t *testing.T) {
	p := fourStates()
	for _, tc := range []struct {
		name    string
		page    Page
		refresh string
		version bool
	}{
		{"refresh 3s", Page{Refresh: 3 * time.Second, Version: "v9"}, "3", true},
		{"refresh under a second", Page{Refresh: time.Millisecond, Version: "v9"}, "1", true},
		{"no refresh", Page{Refresh: -1, Version: "v9"}, "", true},
		{"hide version", Page{HideVersion: true, Version: "v9"}, "10", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.page.Source = p
			_, page := get(t, serve(t, &tc.page), "", "")
			assert.Equal(t, tc.refresh, metaRefresh(t, page))
			assert.Equal(t, tc.version, strings.Contains(page, "v9"))
		})
	}
}

func TestAuth(t *testing.T) {
	p := fourStates()
	auth := Auth{User: "admin", Password: "s3cret", Realm: "MQTT stats"}
	for _, tc := range []struct {
		name    string
		handler http.Handler
	}{
		{"page", &Page{Source: p, Auth: auth}},
		{"json", &JSON{Source: p, Auth: auth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, tc.handler)
			resp, _ := get(t, url, "", "")
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `Basic realm="MQTT stats", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))
			resp, _ = get(t, url, "admin", "wrong")
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			resp, _ = get(t, url, "other", "s3cret")
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			resp, _ = get(t, url, "admin", "s3cret")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			resp, _ = post(t, url, nil, "admin", "s3cret")
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		})
	}
	resp, _ := get(t, serve(t, &Page{Source: p, Auth: Auth{User: "a"}}), "", "")
	assert.Equal(t, `Basic realm="mqttlb", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"), "DefaultRealm")
}
