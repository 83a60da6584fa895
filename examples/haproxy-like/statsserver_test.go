package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/mqttlb/stats"
)

func TestStatsHandlerPaths(t *testing.T) {
	pool := &mqttlb.Pool{Name: "brokers"}
	pool.SetBackends([]*balance.Backend{{Name: "node1", Addr: "127.0.0.1:1"}})
	proxy := &mqttlb.Proxy{Default: pool}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	fetch := func(t *testing.T, base, method, path string, form url.Values) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("ops", "secret")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	t.Run("without admin", func(t *testing.T) {
		srv := httptest.NewServer(statsHandler(proxy, statsConfig{}, quiet))
		defer srv.Close()
		status, page := fetch(t, srv.URL, http.MethodGet, "/stats", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, page, `data-backend="node1"`)
		status, _ = fetch(t, srv.URL, http.MethodGet, "/", nil)
		assert.Equal(t, http.StatusFound, status)
		status, doc := fetch(t, srv.URL, http.MethodGet, "/stats.json", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, doc, `"name": "node1"`)
		status, metrics := fetch(t, srv.URL, http.MethodGet, "/metrics", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, metrics, `mqttlb_backend_status{backend="node1",pool="brokers",status="UP"} 1`)
		status, _ = fetch(t, srv.URL, http.MethodPost, "/admin", url.Values{"action": {"state"}})
		assert.Equal(t, http.StatusNotFound, status, "no /admin without -admin-user")
	})
	t.Run("with admin", func(t *testing.T) {
		cfg := statsConfig{admin: stats.Auth{User: "ops", Password: "secret"}}
		srv := httptest.NewServer(statsHandler(proxy, cfg, quiet))
		defer srv.Close()
		status, answer := fetch(t, srv.URL, http.MethodPost, "/admin",
			url.Values{"action": {"state"}, "pool": {"brokers"}, "backend": {"node1"}, "state": {"drain"}})
		assert.Equal(t, http.StatusOK, status, answer)
		assert.Equal(t, mqttlb.StatusDrain, pool.Stats().Backends[0].Status)
	})
}
