package agent

import (
	"sync"
	"sync/atomic"
)

// Subscription receives an agent's events. Events arrive on C in the order
// the agent emitted them. Delivery never blocks the agent: each subscription
// has a bounded buffer (Config.EventBuffer), and an event that finds it full
// is dropped for this subscriber and counted in Dropped. A subscriber that
// needs every event must keep up (drain C promptly); Turn.Wait reports turn
// results independently of subscriptions.
//
// C is closed after Close, or when the agent stops (after its last event).
type Subscription struct {
	c       chan Event
	hub     *hub
	dropped atomic.Uint64
	closed  bool // guarded by hub.mu
}

// C returns the channel of events.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped returns how many events were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C. Events still buffered remain
// readable. Close is idempotent.
func (s *Subscription) Close() {
	s.hub.remove(s)
}

// hub fans events out to subscriptions.
type hub struct {
	mu     sync.Mutex
	subs   []*Subscription
	n      atomic.Int32 // len(subs), read without the lock on the hot path
	buffer int
	done   bool
}

func (h *hub) subscribe() *Subscription {
	s := &Subscription{c: make(chan Event, h.buffer), hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		s.closed = true
		close(s.c)
		return s
	}
	h.subs = append(h.subs, s)
	h.n.Store(int32(len(h.subs)))
	return s
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	for i, x := range h.subs {
		if x == s {
			h.subs = append(h.subs[:i], h.subs[i+1:]...)
			break
		}
	}
	h.n.Store(int32(len(h.subs)))
}

// active reports whether anyone listens, so callers can skip building
// events nobody will see.
func (h *hub) active() bool { return h.n.Load() > 0 }

// emit delivers e to every subscription without blocking. The lock keeps the
// order of events the same for every subscriber when several goroutines of
// the agent (turn, tools) emit at once.
func (h *hub) emit(e Event) {
	if !h.active() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// close ends every subscription; later subscriptions are born closed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for _, s := range h.subs {
		s.closed = true
		close(s.c)
	}
	h.subs = nil
	h.n.Store(0)
}
