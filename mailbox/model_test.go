package mailbox

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// model is the obvious, slow implementation of an inbox's queue that the
// real one (a ring with an in-flight prefix) must agree with.
type model struct {
	held     []Message
	inflight int
	seq      map[string]uint64
	closed   bool
}

func (m *model) waiting() []Message { return m.held[m.inflight:] }

func (m *model) hasTrigger() bool {
	for _, x := range m.waiting() {
		if x.TriggerTurn {
			return true
		}
	}
	return false
}

// FuzzInboxModel drives an inbox and the model with the same operations,
// one per input byte, and compares every observable after each.
func FuzzInboxModel(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 0, 3, 1, 2, 2})
	f.Add([]byte{0, 8, 0, 16, 0, 1, 4, 0, 5, 1, 2, 2, 2, 6, 0, 1, 3, 7})
	f.Add([]byte("some longer sequence of operations to wrap the ring around"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		const capacity = 5
		ib, err := New(Config{Owner: "/r", Capacity: capacity, NewID: counterIDs("m"), Now: fixedClock})
		if err != nil {
			t.Fatal(err)
		}
		mod := &model{seq: map[string]uint64{}}
		restored := 0
		for step, op := range ops {
			author := fmt.Sprintf("/a%d", op>>4&3)
			switch op & 7 {
			case 0, 4: // send
				m := Message{Author: author, Content: []Part{Text(fmt.Sprint(step))}, TriggerTurn: op&8 != 0}
				got, err := ib.Send(m)
				switch {
				case mod.closed:
					if !errors.Is(err, ErrClosed) {
						t.Fatalf("step %d: Send after Close = %v, want ErrClosed", step, err)
					}
				case len(mod.held) >= capacity:
					if !errors.Is(err, ErrFull) {
						t.Fatalf("step %d: Send to full = %v, want ErrFull", step, err)
					}
				default:
					if err != nil {
						t.Fatalf("step %d: Send = %v", step, err)
					}
					mod.seq[author]++
					m.ID, m.Recipient, m.SentAt, m.Seq = got.ID, "/r", epoch, mod.seq[author]
					if !reflect.DeepEqual(got, m) {
						t.Fatalf("step %d: Send = %+v, want %+v", step, got, m)
					}
					mod.held = append(mod.held, m)
				}
			case 1: // take
				got := ib.Take()
				want := mod.waiting()
				if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
					t.Fatalf("step %d: Take = %v, want %v", step, ids(got), ids(want))
				}
				mod.inflight = len(mod.held)
			case 2, 5: // ack some of the in-flight prefix
				k := min(int(op>>3)%3+1, mod.inflight)
				if err := ib.Ack(mod.held[:k]...); err != nil {
					t.Fatalf("step %d: Ack(%d of %d in flight) = %v", step, k, mod.inflight, err)
				}
				mod.held = mod.held[k:]
				mod.inflight -= k
			case 3: // requeue
				if n := ib.Requeue(); n != mod.inflight {
					t.Fatalf("step %d: Requeue = %d, want %d", step, n, mod.inflight)
				}
				mod.inflight = 0
			case 6: // restore one fresh message and one already held
				restored++
				m := Message{ID: fmt.Sprintf("r-%d", restored), Author: author, Recipient: "/r",
					Content: []Part{Sealed("old")}, SentAt: epoch, Seq: mod.seq[author] + 3}
				batch := []Message{m}
				if len(mod.held) > 0 {
					batch = append(batch, mod.held[0])
				}
				n, err := ib.Restore(batch)
				if mod.closed {
					if !errors.Is(err, ErrClosed) {
						t.Fatalf("step %d: Restore after Close = %v, want ErrClosed", step, err)
					}
					continue
				}
				if err != nil || n != 1 {
					t.Fatalf("step %d: Restore = %d, %v, want 1, nil", step, n, err)
				}
				mod.seq[author] = m.Seq
				mod.held = append(mod.held[:mod.inflight], append([]Message{m}, mod.held[mod.inflight:]...)...)
			case 7:
				if op&0x80 != 0 {
					ib.Close()
					mod.closed = true
				}
			}
			if got, want := ib.Len(), len(mod.waiting()); got != want {
				t.Fatalf("step %d: Len = %d, want %d", step, got, want)
			}
			if got := ib.InFlight(); got != mod.inflight {
				t.Fatalf("step %d: InFlight = %d, want %d", step, got, mod.inflight)
			}
			if got, want := ib.HasTrigger(), mod.hasTrigger(); got != want {
				t.Fatalf("step %d: HasTrigger = %v, want %v", step, got, want)
			}
			if got := ib.Unacked(); len(got) != len(mod.held) || (len(got) > 0 && !reflect.DeepEqual(got, mod.held)) {
				t.Fatalf("step %d: Unacked = %v, want %v", step, ids(got), ids(mod.held))
			}
		}
	})
}
