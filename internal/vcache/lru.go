package vcache

import "github.com/flagcache/flagcache"

// lru is the LRU list of one shard, not safe for concurrent use (the
// shard's lock guards it). A hit moves its entry to the front only once
// the entry may have drifted out of the front quarter of the list: fewer
// than size/4 moves to the front since its own mean it is still in that
// quarter, where eviction is furthest away. So a hot flag's hits write
// nothing to the list, where every hit of an exact LRU rewrote six
// pointers in three nodes (memcached bumps an item at most once a minute
// for the same reason). An entry is evicted only after it went unread
// while crossing the other three quarters.
type lru[E any] struct {
	size  int
	items map[flagcache.ID]*node[E]
	root  node[E] // root.next is the newest node, root.prev the oldest
	moves uint64  // moves to the front, additions included
}

type node[E any] struct {
	prev, next *node[E]
	id         flagcache.ID
	value      E
	moved      uint64 // lru.moves when it last went to the front
}

func newLRU[E any](size int) *lru[E] {
	l := &lru[E]{size: max(size, 1), items: make(map[flagcache.ID]*node[E])}
	l.root.next, l.root.prev = &l.root, &l.root
	return l
}

// get returns id's value, moving it to the front if it may have left the
// front quarter.
func (l *lru[E]) get(id flagcache.ID) (E, bool) {
	n, ok := l.items[id]
	if !ok {
		var zero E
		return zero, false
	}
	if l.moves-n.moved >= uint64(l.size/4) {
		l.toFront(n)
	}
	return n.value, true
}

// peek returns id's value without moving it.
func (l *lru[E]) peek(id flagcache.ID) (E, bool) {
	if n, ok := l.items[id]; ok {
		return n.value, true
	}
	var zero E
	return zero, false
}

// add sets id's value at the front, evicting the oldest entry past size.
func (l *lru[E]) add(id flagcache.ID, v E) {
	if n, ok := l.items[id]; ok {
		n.value = v
		l.toFront(n)
		return
	}
	n := &node[E]{id: id, value: v}
	l.items[id] = n
	l.link(n)
	l.moves++
	n.moved = l.moves
	if len(l.items) > l.size {
		l.remove(l.root.prev.id)
	}
}

// remove drops id's entry, if any.
func (l *lru[E]) remove(id flagcache.ID) {
	n, ok := l.items[id]
	if !ok {
		return
	}
	delete(l.items, id)
	l.unlink(n)
}

// purge drops every entry.
func (l *lru[E]) purge() {
	clear(l.items)
	l.root.next, l.root.prev = &l.root, &l.root
}

func (l *lru[E]) len() int { return len(l.items) }

// entries returns the ids and values, newest first.
func (l *lru[E]) entries() ([]flagcache.ID, []E) {
	ids, vs := make([]flagcache.ID, 0, len(l.items)), make([]E, 0, len(l.items))
	for n := l.root.next; n != &l.root; n = n.next {
		ids, vs = append(ids, n.id), append(vs, n.value)
	}
	return ids, vs
}

// toFront moves n to the front and stamps it with the move.
func (l *lru[E]) toFront(n *node[E]) {
	if l.root.next != n {
		l.unlink(n)
		l.link(n)
	}
	l.moves++
	n.moved = l.moves
}

// link puts n at the front.
func (l *lru[E]) link(n *node[E]) {
	n.prev, n.next = &l.root, l.root.next
	l.root.next.prev = n
	l.root.next = n
}

func (l *lru[E]) unlink(n *node[E]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}
