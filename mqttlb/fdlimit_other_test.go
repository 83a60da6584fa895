//go:build !unix

package mqttlb

// fdExhaustionChild is the child half of TestAcceptBacksOffAtTheDescriptorLimit,
// which needs Unix descriptor limits.
func fdExhaustionChild() int { return 2 }
