package mqttlb_test

import (
	"errors"
	"fmt"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// A health monitor's events mark backends down and up, with the failed
// probe's error for the statistics; ShutdownSessionsOnDown then also
// closes a down backend's connections, spread over ShutdownWindow. The
// wiring with package health:
//
//	mon.OnEvent = func(ev health.Event) {
//		if ev.New == health.Up {
//			pool.MarkUp(ev.Addr)
//		} else {
//			pool.MarkDown(ev.Addr, ev.Err)
//		}
//	}
//	go mon.Run(ctx, pool.Addrs(), pool.SetHealthy)
func ExamplePool_MarkDown() {
	pool := &mqttlb.Pool{Name: "hivemq", ShutdownSessionsOnDown: true}
	pool.SetBackends([]*balance.Backend{
		{Name: "node1", Addr: "10.0.0.1:1883"},
		{Name: "node2", Addr: "10.0.0.2:1883"},
	})
	pool.MarkDown("10.0.0.2:1883", errors.New("readiness answered 503"))
	pool.SetState("node1", mqttlb.StateDrain)

	for _, st := range pool.BackendStatuses() {
		fmt.Printf("%s state=%v down=%t err=%v\n", st.Backend.ID(), st.State, st.Down, st.Err)
	}
	_, err := pool.Pick(balance.ConnInfo{ClientID: "sensor-1"})
	fmt.Println(err)
	// Output:
	// node1 state=drain down=false err=<nil>
	// node2 state=ready down=true err=readiness answered 503
	// balance: no backend available
}
