package proxyproto_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/mqttlb/mqttlb/proxyproto"
)

// A proxy writes the header to the broker before the client's CONNECT.
// Here the broker side of a net.Pipe reads it back.
func Example() {
	proxySide, brokerSide := net.Pipe()
	defer brokerSide.Close()

	conn := proxyproto.ConnInfo{
		Source:      netip.MustParseAddrPort("192.0.2.1:56324"),
		Destination: netip.MustParseAddrPort("198.51.100.7:1883"),
		// TLS: &state when the client connected over TLS.
	}
	done := make(chan error, 1)
	go func() {
		defer proxySide.Close()
		buf, err := proxyproto.EMQX.AppendHeader(make([]byte, 0, 256), conn)
		if err == nil {
			_, err = proxySide.Write(buf)
		}
		done <- err
	}()

	header := make([]byte, 28)
	if _, err := io.ReadFull(brokerSide, header); err != nil {
		fmt.Println(err)
	}
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	fmt.Println(hex.EncodeToString(header))
	// Output:
	// 0d0a0d0a000d0a515549540a2111000cc0000201c6336407dc04075b
}

// The client certificate's CN travels inside the SSL TLV, followed here by a
// CRC32C over the whole header.
func ExampleHeader_AppendBinary() {
	h := proxyproto.ProxyHeader(
		netip.MustParseAddrPort("192.0.2.1:56324"),
		netip.MustParseAddrPort("198.51.100.7:1883"),
		proxyproto.SSL(proxyproto.SSLInfo{
			Client:  proxyproto.ClientSSL | proxyproto.ClientCertConn | proxyproto.ClientCertSess,
			Version: "TLSv1.3",
			CN:      "device-42",
		}),
		proxyproto.CRC32C(),
	)
	buf, err := h.AppendBinary(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hex.EncodeToString(buf[:28]), "fixed part and addresses")
	fmt.Println(hex.EncodeToString(buf[28:36]), "SSL TLV: type, length, client, verify")
	fmt.Println(hex.EncodeToString(buf[36:46]), "VERSION sub-TLV")
	fmt.Println(hex.EncodeToString(buf[46:58]), "CN sub-TLV")
	fmt.Println(hex.EncodeToString(buf[58:]), "CRC32C TLV")
	// Output:
	// 0d0a0d0a000d0a515549540a21110031c0000201c6336407dc04075b fixed part and addresses
	// 20001b0700000000 SSL TLV: type, length, client, verify
	// 210007544c5376312e33 VERSION sub-TLV
	// 2200096465766963652d3432 CN sub-TLV
	// 03000444a8a09c CRC32C TLV
}

// Health checks send a LOCAL header: the broker keeps the real endpoints.
func ExampleHeader_WriteTo() {
	proxySide, brokerSide := net.Pipe()
	defer brokerSide.Close()
	done := make(chan error, 1)
	go func() {
		defer proxySide.Close()
		h := proxyproto.LocalHeader()
		_, err := h.WriteTo(proxySide)
		done <- err
	}()
	got, err := io.ReadAll(brokerSide)
	if err != nil {
		fmt.Println(err)
	}
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	fmt.Println(hex.EncodeToString(got))
	// Output:
	// 0d0a0d0a000d0a515549540a20000000
}

func ExampleHeader_AppendV1() {
	h := proxyproto.ProxyHeader(
		netip.MustParseAddrPort("192.0.2.1:56324"),
		netip.MustParseAddrPort("[2001:db8::2]:8883"),
	)
	line, _ := h.AppendV1(nil)
	fmt.Printf("%q\n", line)
	local := proxyproto.LocalHeader()
	line, _ = local.AppendV1(nil)
	fmt.Printf("%q\n", line)
	// Output:
	// "PROXY TCP6 ::ffff:c000:201 2001:db8::2 56324 8883\r\n"
	// "PROXY UNKNOWN\r\n"
}

// An HAProxy server line "send-proxy-v2 proxy-v2-options cert-cn,crc32c".
func ExampleOptions_SetV2Options() {
	var o proxyproto.Options
	o.SetKeyword("send-proxy-v2")
	if err := o.SetV2Options("cert-cn,crc32c"); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%+v\n", o)
	// Output:
	// {Version:2 SSL:true CertCN:true SSLCipher:false CertSig:false CertKey:false Authority:false CRC32C:true UniqueID:false}
}
