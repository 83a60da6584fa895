package balance

// First sends every connection to the first backend, in configuration
// order, that is below its MaxConn, as HAProxy's "first" does: the next
// backend takes connections only once the ones before it are full. Weights
// are ignored, except that a backend of weight zero takes nothing. It packs
// connections onto as few backends as possible, so that the others can be
// scaled down; without a MaxConn on the backends it always picks the first.
//
// Pick reads at most every backend's counter once, takes no lock and does
// not allocate.
//
// The zero value is ready to use.
type First struct{}

// Build returns a Picker over the backends of info with a weight above zero.
func (First) Build(info BuildInfo) Picker {
	return buildOver(info.Backends, func(s snapshot) Picker { return &firstPicker{s} })
}

type firstPicker struct{ snapshot }

func (p *firstPicker) Pick(ConnInfo) (*Backend, error) { return p.firstWithRoom(0) }
