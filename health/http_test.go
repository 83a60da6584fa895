package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hiveMQReadiness answers like HiveMQ's /api/v1/health/readiness: 200 with
// a JSON document while the node is UP or DEGRADED, 503 when it is DOWN.
func hiveMQReadiness(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/health/readiness" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if status == "DOWN" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, `{"status":%q,"components":{"cluster":{"status":%q}}}`, status, status)
	}
}

// serverAddr returns the host:port of an httptest server.
func serverAddr(s *httptest.Server) string {
	return s.Listener.Addr().String()
}

func TestHTTPResponses(t *testing.T) {
	readiness := HTTP{Path: "/api/v1/health/readiness"}
	expectUP := readiness
	expectUP.ExpectBody = `"status":"UP"`
	tests := []struct {
		name    string
		handler http.Handler
		check   HTTP
		wantErr error
	}{
		{"HiveMQ UP", hiveMQReadiness("UP"), readiness, nil},
		{"HiveMQ DEGRADED", hiveMQReadiness("DEGRADED"), readiness, nil},
		{"HiveMQ DOWN", hiveMQReadiness("DOWN"), readiness, ErrStatus},
		{"expected string present", hiveMQReadiness("UP"), expectUP, nil},
		{"expected string absent", hiveMQReadiness("DEGRADED"), expectUP, ErrBody},
		{"wrong path is a 404", hiveMQReadiness("UP"), HTTP{Path: "/health"}, ErrStatus},
		{"redirect is healthy and not followed", redirectToBroken(t), HTTP{}, nil},
		{"redirect not in ExpectStatus", redirectToBroken(t), HTTP{ExpectStatus: []int{200}}, ErrStatus},
		{"ExpectStatus accepts a 503", hiveMQReadiness("DOWN"), HTTP{Path: "/api/v1/health/readiness", ExpectStatus: []int{503}}, nil},
		{"informational 1xx final 204", statusHandler(http.StatusNoContent), HTTP{}, nil},
		{"500", statusHandler(http.StatusInternalServerError), HTTP{}, ErrStatus},
		{"body larger than the read bound is healthy", largeBody(4 * MaxBodySize), HTTP{}, nil},
		{"expected string beyond the read bound", largeBody(4 * MaxBodySize), HTTP{ExpectBody: "END"}, ErrBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			err := tt.check.Check(t.Context(), serverAddr(srv))
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestHTTPStatusErrorNamesTheStatus(t *testing.T) {
	srv := httptest.NewServer(hiveMQReadiness("DOWN"))
	defer srv.Close()
	err := HTTP{Path: "/api/v1/health/readiness"}.Check(t.Context(), serverAddr(srv))
	assert.ErrorContains(t, err, "503 Service Unavailable")
	assert.ErrorContains(t, err, "/api/v1/health/readiness")
}

// redirectToBroken redirects to a path that fails the test if requested.
func redirectToBroken(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/broken", http.StatusFound)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect was followed")
		w.WriteHeader(http.StatusInternalServerError)
	})
	return mux
}

func statusHandler(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
}

// largeBody answers 200 with size bytes of filler followed by "END".
func largeBody(size int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", size) + "END"))
	})
}

func TestHTTPEndlessBodyIsReadOnlyToTheBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, HTTP{}.Check(ctx, serverAddr(srv)))
	// Reading on to the end would last until the deadline.
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestHTTPSendsTheConfiguredRequest(t *testing.T) {
	var got atomic.Pointer[http.Request]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r)
	}))
	defer srv.Close()

	check := HTTP{Method: http.MethodHead, Path: "/ready?verbose=1", Host: "broker.example"}
	require.NoError(t, check.Check(t.Context(), serverAddr(srv)))
	r := got.Load()
	require.NotNil(t, r)
	assert.Equal(t, http.MethodHead, r.Method)
	assert.Equal(t, "/ready?verbose=1", r.RequestURI)
	assert.Equal(t, "broker.example", r.Host)
	assert.True(t, r.Close, "Connection: close")
	assert.Equal(t, "mqttlb-health", r.UserAgent())

	require.NoError(t, HTTP{}.Check(t.Context(), serverAddr(srv)))
	r = got.Load()
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/", r.RequestURI)
	assert.Equal(t, serverAddr(srv), r.Host)
}

func TestHTTPPortOverride(t *testing.T) {
	srv := httptest.NewServer(hiveMQReadiness("UP"))
	defer srv.Close()
	_, portText, err := net.SplitHostPort(serverAddr(srv))
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)

	// The backend is its MQTT address; the readiness endpoint has its own port.
	check := HTTP{Port: port, Path: "/api/v1/health/readiness"}
	assert.NoError(t, check.Check(t.Context(), "127.0.0.1:1883"))
}

func TestHTTPStalls(t *testing.T) {
	tests := []struct {
		name  string
		stall func(w http.ResponseWriter)
	}{
		{"no response", func(http.ResponseWriter) {}},
		{"body that never finishes", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"status":`))
			w.(http.Flusher).Flush()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.stall(w)
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			defer close(release)

			t.Run("Timeout", func(t *testing.T) {
				err := HTTP{Timeout: 100 * time.Millisecond}.Check(t.Context(), serverAddr(srv))
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
			t.Run("context deadline", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				err := HTTP{}.Check(ctx, serverAddr(srv))
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
			t.Run("context canceled", func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(50*time.Millisecond, cancel)
				assert.Error(t, HTTP{}.Check(ctx, serverAddr(srv)))
			})
		})
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(hiveMQReadiness("UP"))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failing cases log handshake errors
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	readiness := HTTP{Path: "/api/v1/health/readiness"}

	t.Run("verified", func(t *testing.T) {
		check := readiness
		check.TLS = &tls.Config{RootCAs: roots}
		assert.NoError(t, check.Check(t.Context(), serverAddr(srv)))
	})
	t.Run("server name from Host", func(t *testing.T) {
		check := readiness
		check.TLS = &tls.Config{RootCAs: roots}
		check.Host = "example.com" // a name in httptest's certificate
		assert.NoError(t, check.Check(t.Context(), serverAddr(srv)))
	})
	t.Run("unknown authority", func(t *testing.T) {
		check := readiness
		check.TLS = &tls.Config{}
		assert.ErrorContains(t, check.Check(t.Context(), serverAddr(srv)), "TLS handshake")
	})
	t.Run("plain HTTP to a TLS port", func(t *testing.T) {
		assert.Error(t, readiness.Check(t.Context(), serverAddr(srv)))
	})
}

func TestHTTPConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		check HTTP
	}{
		{"relative path", HTTP{Path: "ready"}},
		{"bad method", HTTP{Method: "GE T"}},
		{"bad port", HTTP{Port: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, tt.check.Check(t.Context(), "127.0.0.1:1"))
		})
	}
}
