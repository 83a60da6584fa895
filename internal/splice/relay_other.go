//go:build !unix

package splice

// initRaw leaves every source on the portable read path: without unix
// descriptors there is no buffer-free wait.
func (d *direction) initRaw() {}

func (d *direction) readRaw() ([]byte, error) { panic("splice: no raw reads on this platform") }
