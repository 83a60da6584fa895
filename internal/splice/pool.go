package splice

import "sync"

// bufferSize is the size of the pooled relay buffers. 32 KiB holds a 16 KiB
// MQTT PUBLISH with room to spare, so large messages move in one read and
// one write, and 1 KiB messages are batched when they queue up.
const bufferSize = 32 << 10

type buffer [bufferSize]byte

// buffers holds relay buffers between bursts. A relay takes one only when
// bytes are ready to move and returns it as soon as they have moved, so an
// idle connection holds none. Pointers to arrays keep Get and Put free of
// allocations.
var buffers = sync.Pool{New: func() any { return new(buffer) }}

func getBuffer() *buffer  { return buffers.Get().(*buffer) }
func putBuffer(b *buffer) { buffers.Put(b) }
