//go:build !race

package mqttlb

const raceEnabled = false
