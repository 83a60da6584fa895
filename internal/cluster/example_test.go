package cluster_test

import (
	"fmt"
	"log/slog"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttlb/mqttlb/internal/cluster"
)

// Three joined brokers: a message published on node1 reaches a subscriber on
// node3.
func Example() {
	c, err := cluster.Start(cluster.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	connect := func(addr, id string) mqtt3.Client {
		client := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id))
		client.Connect().Wait()
		return client
	}
	sub := connect(c.Nodes()[2].Addr(), "subscriber")
	defer sub.Disconnect(0)
	received := make(chan string, 1)
	sub.Subscribe("demo/greeting", 1, func(_ mqtt3.Client, m mqtt3.Message) {
		received <- fmt.Sprintf("%s got %q on %s", "node3", m.Payload(), m.Topic())
	}).Wait()

	pub := connect(c.Nodes()[0].Addr(), "publisher")
	defer pub.Disconnect(0)
	pub.Publish("demo/greeting", 1, false, "hello from node1").Wait()

	fmt.Println(<-received)
	// Output: node3 got "hello from node1" on demo/greeting
}
