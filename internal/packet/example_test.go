package packet_test

import (
	"errors"
	"fmt"

	"github.com/mqttlb/mqttlb/internal/packet"
)

func ExampleDecodeConnect() {
	// A 3.1.1 CONNECT arriving in two reads, the first ending inside it.
	wire := packet.AppendConnect(nil, &packet.ConnectSpec{
		ClientID: "sensor-42", CleanStart: true, KeepAlive: 60,
		UsernameFlag: true, Username: "device", PasswordFlag: true, Password: []byte("hunter2"),
	})
	for _, received := range [][]byte{wire[:7], wire} {
		c, n, err := packet.DecodeConnect(received)
		if errors.Is(err, packet.ErrNeedMore) {
			fmt.Printf("%d bytes: need more\n", len(received))
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d bytes: %v\n", n, c)
	}

	// Bytes that are not MQTT are refused at once, without an answer.
	_, _, err := packet.DecodeConnect([]byte("GET / HTTP/1.1\r\n"))
	var perr *packet.Error
	if errors.As(err, &perr) {
		_, _, answer := perr.Refusal()
		fmt.Printf("%v (answer: %t)\n", err, answer)
	}
	// Output:
	// 7 bytes: need more
	// 40 bytes: CONNECT{MQTT 3.1.1 client="sensor-42" clean=true keepalive=60 user="device" password=<redacted>}
	// packet: not MQTT: [MQTT-3.1.0-1] first byte 0x47 is not a CONNECT (answer: false)
}

func ExampleAppendConnack() {
	// Refuse an MQTT 5 client while a backend is drained, pointing it to
	// another server; a 3.1.1 client gets the return code only.
	props := &packet.ConnackProps{ReasonString: "draining", ServerReference: "10.0.0.2:1883"}
	buf := make([]byte, 0, 64)
	buf = packet.AppendConnack(buf, packet.V5, false, packet.ConnackUseAnotherServer, props)
	fmt.Printf("% x\n", buf)
	fmt.Printf("% x\n", packet.AppendConnack(nil, packet.V311, false, packet.ReturnServerUnavailable, props))

	ack, _, _ := packet.DecodeConnack(buf, packet.V5)
	reference, _ := ack.Properties.ServerReference()
	fmt.Printf("code 0x%X, server %s\n", ack.Code, reference)
	// Output:
	// 20 1e 00 9c 1b 1f 00 08 64 72 61 69 6e 69 6e 67 1c 00 0d 31 30 2e 30 2e 30 2e 32 3a 31 38 38 33
	// 20 02 00 03
	// code 0x9C, server 10.0.0.2:1883
}
