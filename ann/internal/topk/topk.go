// Package topk holds the bounded heaps the indexes use: a max-heap that keeps
// the k best (smallest) distances and a min-heap of candidates. They are
// typed (no container/heap interface calls) and reusable: Reset keeps the
// backing array so pooled heaps allocate nothing per query.
package topk

// Item is an internal id with its distance (smaller is better).
type Item struct {
	Dist float32
	ID   uint32
}

// Max is a max-heap on Dist: its top is the worst kept item.
type Max struct{ Items []Item }

// Reset empties the heap, keeping capacity.
func (h *Max) Reset() { h.Items = h.Items[:0] }

// Len returns the number of items.
func (h *Max) Len() int { return len(h.Items) }

// Top returns the item with the largest distance; the heap must be non-empty.
func (h *Max) Top() Item { return h.Items[0] }

// Push adds it.
func (h *Max) Push(it Item) {
	h.Items = append(h.Items, it)
	a := h.Items
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].Dist >= it.Dist {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = it
}

// Pop removes and returns the largest item.
func (h *Max) Pop() Item {
	a := h.Items
	top := a[0]
	last := a[len(a)-1]
	a = a[:len(a)-1]
	h.Items = a
	if len(a) > 0 {
		h.down(last)
	}
	return top
}

// ReplaceTop replaces the largest item by it (cheaper than Pop+Push).
func (h *Max) ReplaceTop(it Item) { h.down(it) }

func (h *Max) down(it Item) {
	a := h.Items
	n := len(a)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && a[c+1].Dist > a[c].Dist {
			c++
		}
		if a[c].Dist <= it.Dist {
			break
		}
		a[i] = a[c]
		i = c
	}
	a[i] = it
}

// PushBounded keeps the k smallest: it pushes it when the heap holds fewer
// than k items, or replaces the top when it is better. It reports whether it
// was kept.
func (h *Max) PushBounded(it Item, k int) bool {
	if len(h.Items) < k {
		h.Push(it)
		return true
	}
	if it.Dist < h.Items[0].Dist {
		h.down(it)
		return true
	}
	return false
}

// SortedAscending empties the heap into dst (appended) in ascending order.
func (h *Max) SortedAscending(dst []Item) []Item {
	n := len(h.Items)
	start := len(dst)
	for range n {
		dst = append(dst, Item{})
	}
	for i := n - 1; i >= 0; i-- {
		dst[start+i] = h.Pop()
	}
	return dst
}

// Min is a min-heap on Dist: its top is the best item.
type Min struct{ Items []Item }

// Reset empties the heap, keeping capacity.
func (h *Min) Reset() { h.Items = h.Items[:0] }

// Len returns the number of items.
func (h *Min) Len() int { return len(h.Items) }

// Top returns the item with the smallest distance; the heap must be non-empty.
func (h *Min) Top() Item { return h.Items[0] }

// Push adds it.
func (h *Min) Push(it Item) {
	h.Items = append(h.Items, it)
	a := h.Items
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].Dist <= it.Dist {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = it
}

// Pop removes and returns the smallest item.
func (h *Min) Pop() Item {
	a := h.Items
	top := a[0]
	last := a[len(a)-1]
	a = a[:len(a)-1]
	h.Items = a
	n := len(a)
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && a[c+1].Dist < a[c].Dist {
			c++
		}
		if a[c].Dist >= last.Dist {
			break
		}
		a[i] = a[c]
		i = c
	}
	a[i] = last
	return top
}

// Sort sorts a ascending by Dist, stably (equal distances keep their
// order). It is a binary insertion sort: the lists it gets (a node's
// neighbours, an IVF's centroids) are short, and it allocates nothing.
func Sort(a []Item) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		lo, hi := 0, i
		for lo < hi {
			m := (lo + hi) / 2
			if a[m].Dist <= v.Dist {
				lo = m + 1
			} else {
				hi = m
			}
		}
		copy(a[lo+1:i+1], a[lo:i])
		a[lo] = v
	}
}
