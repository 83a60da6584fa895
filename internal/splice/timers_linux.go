//go:build linux

package splice

// timerHeap is a min-heap of sessions by idleAt. Each session with an idle
// timeout sits in it once, at s.heapIndex, so an idle connection costs one
// slot instead of a runtime timer.
type timerHeap []*Session

func (h *timerHeap) push(s *Session) {
	s.heapIndex = int32(len(*h))
	*h = append(*h, s)
	h.up(len(*h) - 1)
}

// remove takes the session at index i out of the heap.
func (h *timerHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	old[i].heapIndex = -1
	if i != last {
		old[i] = old[last]
		old[i].heapIndex = int32(i)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		h.fix(i)
	}
}

// fix restores the heap order after the idleAt at index i changed.
func (h *timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].idleAt <= h[i].idleAt {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts index i towards the leaves and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if right := child + 1; right < len(h) && h[right].idleAt < h[child].idleAt {
			child = right
		}
		if h[i].idleAt <= h[child].idleAt {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = int32(i)
	h[j].heapIndex = int32(j)
}
