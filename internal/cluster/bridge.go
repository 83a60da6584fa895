package cluster

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// bridge is the mochi-mqtt hook that joins a node to its peers.
//
// A message that a client publishes (or a will that the node sends) is
// injected into every running peer through the peer's inline client, as if
// it had been published there: each broker then delivers it to its own
// subscribers with their QoS and retain-as-published choices, and stores it
// when it is retained. Messages arriving through an inline client are never
// forwarded again, so each message crosses each link once and cannot loop.
//
// Forwarding is synchronous, in the publishing client's goroutine, before
// the node acknowledges the PUBLISH: the order of one publisher's messages is
// kept on every node, and once a QoS 1 or 2 publish is acknowledged every
// running node has stored it (if retained) and queued it for its
// subscribers.
type bridge struct {
	mqtt.HookBase
	node *Node
}

func (b *bridge) ID() string { return "cluster-bridge" }

func (b *bridge) Provides(hook byte) bool {
	switch hook {
	case mqtt.OnPublish, mqtt.OnWillSent, mqtt.OnSessionEstablish:
		return true
	}
	return false
}

// OnPublish forwards a message that a client of this node publishes. mochi
// calls it only for a new message, not for the retransmission of a QoS 2
// PUBLISH it has already received [MQTT-4.3.3-10].
func (b *bridge) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	b.forward(cl, pk)
	return pk, nil
}

// OnWillSent forwards a will that this node published for one of its
// clients.
func (b *bridge) OnWillSent(cl *mqtt.Client, pk packets.Packet) { b.forward(cl, pk) }

func (b *bridge) forward(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	// Topic aliases belong to the publisher's connection [MQTT-3.3.2-10];
	// mochi has already resolved the topic name.
	pk.Properties.TopicAlias = 0
	pk.Properties.TopicAliasFlag = false
	// The inline client acknowledges nothing, but QoS 1 and 2 packets need a
	// non-zero packet identifier to pass validation [MQTT-2.2.1-3]; wills
	// have none.
	pk.PacketID = uint16(pk.FixedHeader.Qos)
	for peer, inst := range b.node.runningPeers {
		if err := inst.server.InjectPacket(inst.inline, pk); err != nil {
			b.node.log.Warn("cluster forward failed", "to", peer.name, "topic", pk.TopicName, "error", err)
		}
	}
}

// OnSessionEstablish keeps a client ID connected to one node at a time: a
// client connecting here takes over the session of the same ID on any other
// node [MQTT-3.1.4-3], as it would inside one broker.
func (b *bridge) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	for _, inst := range b.node.runningPeers {
		old, ok := inst.server.Clients.Get(cl.ID)
		if !ok || old.Net.Inline {
			continue
		}
		if old.Properties.ProtocolVersion == 5 {
			// The error only repeats the reason code given (MQTT 5.0 §3.14.2.1).
			_ = inst.server.DisconnectClient(old, packets.ErrSessionTakenOver)
		} else {
			old.Stop(packets.ErrSessionTakenOver) // MQTT 3.1.1 has no DISCONNECT from the server
		}
		inst.server.UnsubscribeClient(old)
		inst.server.Clients.Delete(old.ID)
	}
}

// copyRetained gives a starting node the retained messages of the first
// running peer. Messages already present were forwarded after the node came
// up and are newer, so they are kept.
func (n *Node) copyRetained(dst *mqtt.Server) {
	for _, inst := range n.runningPeers {
		for topic, pk := range inst.server.Topics.Retained.GetAll() {
			if strings.HasPrefix(topic, mqtt.SysPrefix) {
				continue // each broker publishes its own $SYS tree
			}
			if _, ok := dst.Topics.Retained.Get(topic); !ok {
				dst.Topics.RetainMessage(pk)
			}
		}
		return
	}
}
