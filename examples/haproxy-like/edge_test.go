package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cliflag"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// serverPEM writes a server certificate for 127.0.0.1 with its key in
// one PEM file, as HAProxy's crt files hold them, and returns the pool
// that trusts it.
func serverPEM(t *testing.T) (file string, pool *x509.CertPool) {
	t.Helper()
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "haproxy-like")
	file = filepath.Join(pki.Dir, "server-crt.pem")
	require.NoError(t, os.WriteFile(file, append(srv.CertPEM, srv.KeyPEM...), 0o600))
	return file, pki.Pool
}

func TestEdgeFlagsProxyOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   edgeFlags
		want    *proxyproto.Options
		wantErr bool
	}{
		{"none", edgeFlags{}, nil, false},
		{"send-proxy-v2", edgeFlags{sendProxyV2: true}, &proxyproto.Options{Version: 2}, false},
		{"with the CN for EMQX", edgeFlags{sendProxyV2: true, proxyV2Options: "ssl,cert-cn"},
			&proxyproto.Options{Version: 2, SSL: true, CertCN: true}, false},
		{"unknown option", edgeFlags{sendProxyV2: true, proxyV2Options: "ssl,bogus"}, nil, true},
		{"options without send-proxy-v2", edgeFlags{proxyV2Options: "ssl"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.proxyOptions()
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestEdgeFlagsListeners opens a plain and a TLS listener behind
// -accept-proxy and checks that each reads the header, and the TLS one
// then terminates TLS offering ALPN "mqtt".
func TestEdgeFlagsListeners(t *testing.T) {
	certFile, roots := serverPEM(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &edgeFlags{tlsBinds: cliflag.List{"127.0.0.1:0"}, cert: certFile, acceptProxy: true}
	listeners, err := f.listenAll([]string{"127.0.0.1:0"}, logger)
	require.NoError(t, err)
	defer closeAll(listeners)
	require.Len(t, listeners, 2)

	src := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40000}
	dst := &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 8883}
	for i, useTLS := range []bool{false, true} {
		ln := listeners[i]
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		_, err = pires.HeaderProxyFromAddrs(2, src, dst).WriteTo(conn)
		require.NoError(t, err)
		var client net.Conn = conn
		if useTLS {
			client = tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"mqtt"}})
		}
		server := <-accepted
		require.NotNil(t, server)
		defer server.Close()
		go client.Write([]byte("MQTT"))
		server.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		_, err = io.ReadFull(server, buf)
		require.NoError(t, err)
		assert.Equal(t, "MQTT", string(buf))
		assert.Equal(t, src.String(), server.RemoteAddr().String(), "the address from the PROXY header")
		if useTLS {
			assert.Equal(t, "mqtt", server.(*tls.Conn).ConnectionState().NegotiatedProtocol)
		}
	}
}

func TestEdgeFlagsErrors(t *testing.T) {
	certFile, _ := serverPEM(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		flags edgeFlags
	}{
		{"-bind-tls without -tls-cert", edgeFlags{tlsBinds: cliflag.List{"127.0.0.1:0"}}},
		{"bad -tls-verify", edgeFlags{tlsBinds: cliflag.List{"127.0.0.1:0"}, cert: certFile, verify: "maybe"}},
		{"-tls-verify required without -tls-ca", edgeFlags{tlsBinds: cliflag.List{"127.0.0.1:0"}, cert: certFile, verify: "required"}},
		{"a bad address closes the listeners opened before it", edgeFlags{tlsBinds: cliflag.List{"127.0.0.1:0", "256.0.0.1:1"}, cert: certFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listeners, err := tc.flags.listenAll(nil, logger)
			assert.Error(t, err)
			assert.Empty(t, listeners)
		})
	}
}
