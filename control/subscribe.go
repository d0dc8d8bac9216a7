package control

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// Subscription receives the events of every agent of a tree (each event's
// header names its thread). Delivery never blocks agents: an event that
// finds the buffer (Config.EventBuffer) full is dropped for this subscriber
// and counted. C is closed by Close or when the runtime closes.
type Subscription struct {
	c       chan agent.Event
	t       *tree
	dropped atomic.Uint64
	closed  bool // guarded by t.subMu
}

// C returns the channel of events.
func (s *Subscription) C() <-chan agent.Event { return s.c }

// Dropped returns how many events were dropped.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription. It is idempotent.
func (s *Subscription) Close() {
	s.t.subMu.Lock()
	defer s.t.subMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	s.t.subs = slices.DeleteFunc(s.t.subs, func(x *Subscription) bool { return x == s })
}

// Subscribe returns a subscription to the events of the tree of thread id,
// from now on. It fails with ErrNotFound for a thread that is not live.
func (rt *Runtime) Subscribe(id rollout.ThreadID) (*Subscription, error) {
	n, err := rt.lookup(id)
	if err != nil {
		return nil, err
	}
	t := n.tree
	s := &Subscription{c: make(chan agent.Event, rt.cfg.EventBuffer), t: t}
	t.subMu.Lock()
	defer t.subMu.Unlock()
	t.subs = append(t.subs, s)
	return s, nil
}

func (t *tree) publish(ev agent.Event) {
	t.subMu.Lock()
	defer t.subMu.Unlock()
	for _, s := range t.subs {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

func (t *tree) closeSubs() {
	t.subMu.Lock()
	subs := t.subs
	t.subs = nil
	for _, s := range subs {
		s.closed = true
		close(s.c)
	}
	t.subMu.Unlock()
}

// memIndex keeps spawn edges in memory (Config.Index unset).
type memIndex struct {
	mu    sync.Mutex
	edges []Edge
}

func newMemIndex() *memIndex { return &memIndex{} }

func (m *memIndex) UpsertEdge(_ context.Context, parent, child rollout.ThreadID, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.edges {
		if m.edges[i].Child == child {
			m.edges[i] = Edge{Parent: parent, Child: child, Status: status}
			return nil
		}
	}
	m.edges = append(m.edges, Edge{Parent: parent, Child: child, Status: status})
	return nil
}

func (m *memIndex) SetEdgeStatus(_ context.Context, child rollout.ThreadID, status string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.edges {
		if m.edges[i].Child == child {
			m.edges[i].Status = status
		}
	}
	return nil
}

func (m *memIndex) ChildEdges(_ context.Context, parent rollout.ThreadID) ([]Edge, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Edge
	for _, e := range m.edges {
		if e.Parent == parent {
			out = append(out, e)
		}
	}
	return out, nil
}
