package splice_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mqttlb/mqttlb/internal/splice"
)

func ExampleRelay() {
	device, proxyClientSide := net.Pipe()
	proxyBackendSide, broker := net.Pipe()
	go func() {
		// A broker that answers one PINGREQ with a PINGRESP and goes away.
		ping := make([]byte, 2)
		io.ReadFull(broker, ping)
		broker.Write([]byte{0xD0, 0x00})
		broker.Close()
	}()
	done := make(chan splice.Result, 1)
	go func() {
		done <- splice.Relay(proxyClientSide, proxyBackendSide, splice.Config{ClientIdle: 90 * time.Second})
	}()

	device.Write([]byte{0xC0, 0x00})
	answer, _ := io.ReadAll(device) // ends when the relay closes the device's connection
	res := <-done
	fmt.Printf("device got % x; up %d, down %d; %s\n", answer, res.Up, res.Down, res.End)
	// Output: device got d0 00; up 2, down 2; backend closed
}

func ExampleEngine() {
	broker, _ := net.Listen("tcp", "127.0.0.1:0")
	defer broker.Close()
	front, _ := net.Listen("tcp", "127.0.0.1:0")
	defer front.Close()

	var engine splice.Engine
	ended := make(chan splice.Result, 1)
	go func() {
		client, _ := front.Accept()
		backend, _ := net.Dial("tcp", broker.Addr().String())
		engine.Start(client, backend, splice.Config{}, func(res splice.Result) { ended <- res })
	}()

	device, _ := net.Dial("tcp", front.Addr().String())
	defer device.Close()
	brokerSide, _ := broker.Accept()
	defer brokerSide.Close()
	device.Write([]byte{0xC0, 0x00})
	got := make([]byte, 2)
	io.ReadFull(brokerSide, got)
	fmt.Printf("broker got % x\n", got)

	engine.Close()
	res := <-ended
	fmt.Printf("up %d; %s\n", res.Up, res.End)
	// Output:
	// broker got c0 00
	// up 2; killed
}
