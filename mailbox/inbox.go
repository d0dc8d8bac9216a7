package mailbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultCapacity is the capacity of an inbox whose Config.Capacity is zero.
// At about 112 bytes per held message the queue of a full inbox stays under
// 32 KiB, inside the 64 KiB budget of an idle agent.
const DefaultCapacity = 256

var (
	// ErrClosed is returned by Send, Restore and Wait once the inbox is
	// closed.
	ErrClosed = errors.New("mailbox: closed")
	// ErrFull is returned by Send when the inbox already holds Capacity
	// unacknowledged messages. The message was not accepted; nothing held
	// was dropped.
	ErrFull = errors.New("mailbox: full")
	// ErrInvalid is wrapped by errors about a malformed message or content
	// part.
	ErrInvalid = errors.New("mailbox: invalid message")
	// ErrNotInFlight is wrapped by Ack when a message is not the next one
	// taken and not yet acknowledged.
	ErrNotInFlight = errors.New("mailbox: not in flight")
)

// SendError reports a Send that was refused, shaped like fs.PathError.
type SendError struct {
	Author    string
	Recipient string
	Err       error
}

func (e *SendError) Error() string {
	return "send " + e.Author + " -> " + e.Recipient + ": " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// Config configures an Inbox.
type Config struct {
	// Owner is the agent path of the recipient. Required.
	Owner string
	// Capacity bounds the messages held (waiting plus taken but not yet
	// acknowledged); Send beyond it fails with ErrFull. Zero means
	// DefaultCapacity; negative is an error.
	Capacity int
	// NewID mints the ID of a message sent without one. Zero means 128
	// random bits from crypto/rand in hex; inject a UUIDv7 source (as
	// control does) for sortable ids, or a counter in tests.
	NewID func() string
	// Now stamps SentAt of a message sent without one. Zero means time.Now.
	Now func() time.Time
}

// Inbox is the mailbox of one agent: a bounded FIFO of messages with
// take/acknowledge delivery. All methods are safe for concurrent use. See the
// package documentation for ordering, backpressure and ownership.
type Inbox struct {
	owner    string
	capacity int
	newID    func() string
	now      func() time.Time

	mu sync.Mutex
	// ring holds the n unacknowledged messages from head, in acceptance
	// order; the first inflight of them have been taken.
	ring     []Message
	head     int
	n        int
	inflight int
	triggers int               // messages with TriggerTurn among the waiting ones
	seq      map[string]uint64 // last Seq given per author
	notify   chan struct{}     // closed on the next change; nil when no one asked
	// bell wakes goroutines blocked in Wait without allocating a channel
	// per change. It holds at most one token (hence the size 1): a change
	// rings it when someone sleeps and records in toWake how many sleepers
	// it must reach; each woken sleeper passes the token on until toWake
	// is spent, so concurrent Waits all see the change and a token never
	// bounces between sleepers forever. Closed by Close.
	bell     chan struct{}
	sleepers int // goroutines in Wait's select
	toWake   int // sleepers the last change has yet to wake
	closed   bool
}

// New returns an empty inbox. It starts no goroutine.
func New(cfg Config) (*Inbox, error) {
	if cfg.Owner == "" {
		return nil, errors.New("mailbox: config: no owner")
	}
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("mailbox: config: negative capacity %d", cfg.Capacity)
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Inbox{
		owner:    cfg.Owner,
		capacity: cfg.Capacity,
		newID:    cfg.NewID,
		now:      cfg.Now,
		seq:      map[string]uint64{},
	}, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// Owner returns the agent path the inbox receives for.
func (ib *Inbox) Owner() string { return ib.owner }

// Cap returns the capacity.
func (ib *Inbox) Cap() int { return ib.capacity }

// Send accepts m and returns it as accepted (ID, Recipient, SentAt filled,
// Seq assigned). It never blocks on the recipient: it fails at once with a
// *SendError wrapping ErrFull when the inbox is full, ErrClosed after Close,
// or ErrInvalid for a message without author or content, with an unknown
// part type or addressed to another agent. The inbox keeps m.Content as
// given: do not change the parts after Send.
func (ib *Inbox) Send(m Message) (Message, error) {
	if err := m.validate(ib.owner); err != nil {
		return Message{}, ib.sendError(m, err)
	}
	m.Recipient = ib.owner
	// User functions run outside the lock.
	if m.ID == "" {
		m.ID = ib.newID()
	}
	if m.SentAt.IsZero() {
		m.SentAt = ib.now().Round(0) // no monotonic reading: equal after a JSON round trip
	}
	ib.mu.Lock()
	switch {
	case ib.closed:
		ib.mu.Unlock()
		return Message{}, ib.sendError(m, ErrClosed)
	case ib.n >= ib.capacity:
		ib.mu.Unlock()
		return Message{}, ib.sendError(m, fmt.Errorf("%w (capacity %d)", ErrFull, ib.capacity))
	}
	s := ib.seq[m.Author] + 1
	ib.seq[m.Author] = s
	m.Seq = s
	ib.push(m)
	if m.TriggerTurn {
		ib.triggers++
	}
	ib.wake()
	ib.mu.Unlock()
	return m, nil
}

func (ib *Inbox) sendError(m Message, err error) error {
	r := m.Recipient
	if r == "" {
		r = ib.owner
	}
	return &SendError{Author: m.Author, Recipient: r, Err: err}
}

// Len returns the number of messages waiting to be taken.
func (ib *Inbox) Len() int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.n - ib.inflight
}

// InFlight returns the number of messages taken and not yet acknowledged.
func (ib *Inbox) InFlight() int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.inflight
}

// HasTrigger reports whether a waiting message has TriggerTurn set: the
// signal for an idle agent to start a turn.
func (ib *Inbox) HasTrigger() bool {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.triggers > 0
}

// Changed returns a channel closed at the next change: a message accepted,
// restored or requeued, or Close. Each change needs a fresh call. To wait
// without missing mail, call Changed first, then check Len, then receive.
// After Close it returns a closed channel.
func (ib *Inbox) Changed() <-chan struct{} {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.changedLocked()
}

func (ib *Inbox) changedLocked() chan struct{} {
	if ib.notify == nil {
		ib.notify = make(chan struct{})
		if ib.closed {
			close(ib.notify)
		}
	}
	return ib.notify
}

// wake signals a change to whoever holds the current Changed channel. After
// Close the channel handed out stays closed, so wake does nothing.
func (ib *Inbox) wake() {
	if ib.closed {
		return
	}
	if ib.notify != nil {
		close(ib.notify)
		ib.notify = nil
	}
	if ib.sleepers > 0 {
		ib.toWake = ib.sleepers
		ib.ringBell()
	}
}

// ringBell puts a token in the bell. Callers hold mu and have checked that the
// inbox is not closed.
func (ib *Inbox) ringBell() {
	select {
	case ib.bell <- struct{}{}:
	default: // a token is already there
	}
}

// Wait blocks until a message is waiting to be taken and returns nil (at
// once if one already is). It returns ErrClosed when the inbox is closed
// with nothing waiting, or the cause of ctx when ctx is done first.
func (ib *Inbox) Wait(ctx context.Context) error {
	for {
		ib.mu.Lock()
		if ib.n > ib.inflight {
			ib.mu.Unlock()
			return nil
		}
		if ib.closed {
			ib.mu.Unlock()
			return ErrClosed
		}
		if ib.bell == nil {
			ib.bell = make(chan struct{}, 1)
		}
		bell := ib.bell
		ib.sleepers++
		ib.mu.Unlock()
		var err error
		select {
		case <-bell:
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
		ib.mu.Lock()
		ib.sleepers--
		if err == nil && ib.toWake > 0 {
			ib.toWake--
		}
		ib.toWake = min(ib.toWake, ib.sleepers)
		if err == nil && ib.toWake > 0 && !ib.closed {
			ib.ringBell() // pass the change on to the next sleeper
		}
		ib.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Take hands out every waiting message, in acceptance order, and marks them
// in flight. They stay held (and count against the capacity) until Ack;
// Requeue or a restart with Unacked/Restore delivers them again. Take
// returns nil when nothing is waiting. It works after Close so the owner can
// drain.
func (ib *Inbox) Take() []Message { return ib.TakeAppend(nil) }

// TakeAppend is Take appending to dst, so a receiver can reuse one buffer
// (clear it before reuse so acknowledged content can be collected).
func (ib *Inbox) TakeAppend(dst []Message) []Message {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	w := ib.n - ib.inflight
	if w == 0 {
		return dst
	}
	dst = slices.Grow(dst, w)
	for i := range w {
		dst = append(dst, *ib.at(ib.inflight + i))
	}
	ib.inflight = ib.n
	ib.triggers = 0
	return dst
}

// Ack acknowledges delivery of msgs, which must be the oldest messages in
// flight, in order (the agent acks each one once it is durably appended to
// its rollout). Acknowledged messages are released for good. On a mismatch
// Ack returns an error wrapping ErrNotInFlight and acknowledges nothing.
func (ib *Inbox) Ack(msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if len(msgs) > ib.inflight {
		return fmt.Errorf("%w: acknowledging %d messages, %d in flight", ErrNotInFlight, len(msgs), ib.inflight)
	}
	for i := range msgs {
		m, h := &msgs[i], ib.at(i)
		if m.ID != h.ID || m.Author != h.Author || m.Seq != h.Seq {
			return fmt.Errorf("%w: message %s (from %s, seq %d) is not next in flight (expected %s from %s, seq %d)",
				ErrNotInFlight, m.ID, m.Author, m.Seq, h.ID, h.Author, h.Seq)
		}
	}
	for i := range msgs {
		*ib.at(i) = Message{} // release the content
	}
	ib.head = (ib.head + len(msgs)) % len(ib.ring)
	ib.n -= len(msgs)
	ib.inflight -= len(msgs)
	if ib.n == 0 {
		ib.head = 0
	}
	return nil
}

// Requeue returns every message in flight to the waiting queue, ahead of
// those that arrived since, and reports how many. The next Take hands them
// out again. Use it when taken mail could not be recorded (an interrupted
// turn).
func (ib *Inbox) Requeue() int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	k := ib.inflight
	for i := range k {
		if ib.at(i).TriggerTurn {
			ib.triggers++
		}
	}
	ib.inflight = 0
	if k > 0 {
		ib.wake()
	}
	return k
}

// Unacked returns a copy of every message held (in flight, then waiting), in
// delivery order: what a restart must redeliver. Persist it and pass it to
// Restore of the next inbox.
func (ib *Inbox) Unacked() []Message {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	out := make([]Message, ib.n)
	for i := range out {
		out[i] = *ib.at(i)
	}
	return out
}

// Restore puts back messages accepted earlier (typically by the inbox of a
// previous run, from Unacked) and reports how many it added. They wait ahead
// of mail accepted by this inbox, behind any in flight, in the order given.
// A message whose ID is already held, or repeated in msgs, is skipped, so
// redelivery is idempotent. Seq values are kept and the per-author
// counters move past them; a message without ID, SentAt or Seq gets one as
// in Send. Restore ignores the capacity: it never drops mail. It fails with
// ErrClosed after Close and with ErrInvalid (adding nothing) when a message
// is malformed.
func (ib *Inbox) Restore(msgs []Message) (int, error) {
	for i := range msgs {
		if err := msgs[i].validate(ib.owner); err != nil {
			return 0, fmt.Errorf("restore message %d: %w", i, err)
		}
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if ib.closed {
		return 0, ErrClosed
	}
	held := make(map[string]bool, ib.n+len(msgs))
	for i := range ib.n {
		held[ib.at(i).ID] = true
	}
	var add []Message
	for _, m := range msgs {
		if m.ID != "" && held[m.ID] {
			continue
		}
		m.Recipient = ib.owner
		if m.ID == "" {
			m.ID = ib.newID()
		}
		if m.SentAt.IsZero() {
			m.SentAt = ib.now().Round(0)
		}
		held[m.ID] = true
		if m.Seq > ib.seq[m.Author] {
			ib.seq[m.Author] = m.Seq
		}
		add = append(add, m)
	}
	for i := range add {
		if add[i].Seq == 0 {
			ib.seq[add[i].Author]++
			add[i].Seq = ib.seq[add[i].Author]
		}
		if add[i].TriggerTurn {
			ib.triggers++
		}
	}
	if len(add) == 0 {
		return 0, nil
	}
	ring := make([]Message, max(ib.n+len(add), len(ib.ring)))
	k := 0
	for i := range ib.inflight {
		ring[k] = *ib.at(i)
		k++
	}
	k += copy(ring[k:], add)
	for i := ib.inflight; i < ib.n; i++ {
		ring[k] = *ib.at(i)
		k++
	}
	ib.ring, ib.head, ib.n = ring, 0, k
	ib.wake()
	return len(add), nil
}

// Close stops accepting mail: Send and Restore fail with ErrClosed, waiters
// wake. Messages held stay available to Take, Ack, Requeue and Unacked so
// the owner can drain or persist them. Close is idempotent and returns nil.
func (ib *Inbox) Close() error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if ib.closed {
		return nil
	}
	ib.wake()
	ib.closed = true
	if ib.bell != nil {
		close(ib.bell)
	}
	return nil
}

// at returns the i-th held message (0 is the oldest). Callers hold mu.
func (ib *Inbox) at(i int) *Message {
	return &ib.ring[(ib.head+i)%len(ib.ring)]
}

// push appends m, growing the ring up to the capacity. Callers hold mu.
func (ib *Inbox) push(m Message) {
	if ib.n == len(ib.ring) {
		size := min(max(2*len(ib.ring), 8), max(ib.capacity, ib.n+1))
		ring := make([]Message, size)
		for i := range ib.n {
			ring[i] = *ib.at(i)
		}
		ib.ring, ib.head = ring, 0
	}
	ib.ring[(ib.head+ib.n)%len(ib.ring)] = m
	ib.n++
}
