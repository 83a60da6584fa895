//go:build race

package mqttlb

// raceEnabled: the race detector slows every goroutine several times and
// unevenly, so latency comparisons keep only a loose bound under it.
const raceEnabled = true
