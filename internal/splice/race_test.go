//go:build race

package splice

// raceEnabled: under the race detector sync.Pool drops items at random, so
// pooled buffers are sometimes allocated afresh.
const raceEnabled = true
