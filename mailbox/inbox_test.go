package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// counterIDs returns a deterministic id source: prefix-1, prefix-2, ...
func counterIDs(prefix string) func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("%s-%d", prefix, n)
	}
}

var epoch = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return epoch }

func newInbox(t *testing.T, capacity int) *Inbox {
	t.Helper()
	ib, err := New(Config{Owner: "/root/worker", Capacity: capacity, NewID: counterIDs("m"), Now: fixedClock})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ib
}

func msg(author, text string) Message {
	return Message{Author: author, Content: []Part{Text(text)}}
}

func mustSend(t *testing.T, ib *Inbox, m Message) Message {
	t.Helper()
	got, err := ib.Send(m)
	if err != nil {
		t.Fatalf("Send(%s %q): %v", m.Author, m.Content, err)
	}
	return got
}

// texts returns the first text part of each message.
func texts(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content[0].Text
	}
	return out
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		wantCap int
	}{
		{"no owner", Config{}, true, 0},
		{"negative capacity", Config{Owner: "/root", Capacity: -1}, true, 0},
		{"defaults", Config{Owner: "/root"}, false, DefaultCapacity},
		{"capacity", Config{Owner: "/root", Capacity: 3}, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%+v) error = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if ib.Cap() != tt.wantCap || ib.Owner() != tt.cfg.Owner {
				t.Errorf("Cap, Owner = %d, %q, want %d, %q", ib.Cap(), ib.Owner(), tt.wantCap, tt.cfg.Owner)
			}
		})
	}
}

func TestDefaultIDAndClock(t *testing.T) {
	ib, err := New(Config{Owner: "/root"})
	if err != nil {
		t.Fatal(err)
	}
	a := mustSend(t, ib, msg("/root/a", "x"))
	b := mustSend(t, ib, msg("/root/a", "y"))
	if len(a.ID) != 32 || a.ID == b.ID {
		t.Errorf("default ids = %q, %q, want two distinct 32-hex ids", a.ID, b.ID)
	}
	if a.SentAt.IsZero() {
		t.Errorf("SentAt = zero, want the time of Send")
	}
}

func TestSendFillsFields(t *testing.T) {
	ib := newInbox(t, 0)
	got := mustSend(t, ib, Message{Author: "/root", Content: []Part{Text("hi")}, TriggerTurn: true, Seq: 99})
	want := Message{ID: "m-1", Author: "/root", Recipient: "/root/worker", Content: []Part{Text("hi")},
		TriggerTurn: true, SentAt: epoch, Seq: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Send = %+v, want %+v", got, want)
	}
	// Given id, recipient and time are kept.
	at := epoch.Add(time.Hour)
	got = mustSend(t, ib, Message{ID: "own", Author: "/root", Recipient: "/root/worker", Content: []Part{Sealed("c")}, SentAt: at})
	if got.ID != "own" || !got.SentAt.Equal(at) || got.Seq != 2 {
		t.Errorf("Send kept ID, SentAt, Seq = %q, %v, %d, want own, %v, 2", got.ID, got.SentAt, got.Seq, at)
	}
	taken := ib.Take()
	if len(taken) != 2 || !reflect.DeepEqual(taken[0], want) {
		t.Errorf("Take()[0] = %+v, want %+v", taken, want)
	}
}

func TestSendInvalid(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"no author", Message{Content: []Part{Text("x")}}},
		{"no content", Message{Author: "/root"}},
		{"other recipient", Message{Author: "/root", Recipient: "/root/other", Content: []Part{Text("x")}}},
		{"unknown part type", Message{Author: "/root", Content: []Part{{Type: "image", Text: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := newInbox(t, 0)
			_, err := ib.Send(tt.m)
			var se *SendError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &se) {
				t.Fatalf("Send(%+v) = %v, want a *SendError wrapping ErrInvalid", tt.m, err)
			}
			if ib.Len() != 0 {
				t.Errorf("Len() = %d after a refused send, want 0", ib.Len())
			}
		})
	}
}

func TestAcceptanceOrderAndSeq(t *testing.T) {
	ib := newInbox(t, 0)
	sends := []struct{ author, text string }{
		{"/root", "r1"}, {"/root/a", "a1"}, {"/root", "r2"}, {"/root/b", "b1"}, {"/root/a", "a2"}, {"/root", "r3"},
	}
	for _, s := range sends {
		mustSend(t, ib, msg(s.author, s.text))
	}
	if ib.Len() != len(sends) {
		t.Fatalf("Len() = %d, want %d", ib.Len(), len(sends))
	}
	got := ib.Take()
	wantSeq := map[string]uint64{"r1": 1, "a1": 1, "r2": 2, "b1": 1, "a2": 2, "r3": 3}
	for i, m := range got {
		if m.Content[0].Text != sends[i].text {
			t.Errorf("Take()[%d] = %q, want %q (acceptance order)", i, m.Content[0].Text, sends[i].text)
		}
		if m.Seq != wantSeq[sends[i].text] {
			t.Errorf("Seq of %q = %d, want %d", sends[i].text, m.Seq, wantSeq[sends[i].text])
		}
	}
	if ib.Len() != 0 || ib.InFlight() != len(sends) {
		t.Errorf("Len, InFlight = %d, %d, want 0, %d", ib.Len(), ib.InFlight(), len(sends))
	}
	if again := ib.Take(); again != nil {
		t.Errorf("second Take() = %v, want nil", again)
	}
}

func TestFullPolicy(t *testing.T) {
	ib := newInbox(t, 3)
	for i := range 3 {
		mustSend(t, ib, msg("/root", fmt.Sprint(i)))
	}
	_, err := ib.Send(msg("/root", "overflow"))
	var se *SendError
	if !errors.Is(err, ErrFull) || !errors.As(err, &se) || se.Author != "/root" || se.Recipient != "/root/worker" {
		t.Fatalf("Send to a full inbox = %v, want *SendError{/root, /root/worker} wrapping ErrFull", err)
	}
	// Taken but unacknowledged mail still counts.
	taken := ib.Take()
	if _, err := ib.Send(msg("/root", "overflow")); !errors.Is(err, ErrFull) {
		t.Fatalf("Send with 3 in flight = %v, want ErrFull", err)
	}
	if err := ib.Ack(taken[0]); err != nil {
		t.Fatal(err)
	}
	m := mustSend(t, ib, msg("/root", "after ack"))
	if m.Seq != 4 {
		t.Errorf("Seq after refused sends = %d, want 4 (refused sends take no number)", m.Seq)
	}
	// Nothing held was dropped.
	if got, want := texts(ib.Unacked()), []string{"1", "2", "after ack"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unacked() = %q, want %q", got, want)
	}
}

// TestConcurrentSenders: every accepted message is delivered exactly once,
// each sender's messages in its order with consecutive sequence numbers.
func TestConcurrentSenders(t *testing.T) {
	const senders, perSender = 50, 200
	base := runtime.NumGoroutine()
	defer checkGoroutines(t, base)
	ib, err := New(Config{Owner: "/root", Capacity: 64, NewID: counterIDs("m"), Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			author := fmt.Sprintf("/root/s%d", s)
			for i := 0; i < perSender; {
				_, err := ib.Send(msg(author, fmt.Sprint(i)))
				switch {
				case err == nil:
					i++
				case errors.Is(err, ErrFull) && ctx.Err() == nil:
					runtime.Gosched() // backpressure: the sender decides; here, retry
				default:
					t.Errorf("Send: %v", err)
					return
				}
			}
		})
	}
	received := make(chan []Message)
	go func() {
		var all []Message
		defer func() { received <- all }()
		defer stop() // senders give up if the receiver does
		for len(all) < senders*perSender {
			if err := ib.Wait(ctx); err != nil {
				t.Errorf("Wait: %v", err)
				return
			}
			batch := ib.Take()
			if err := ib.Ack(batch...); err != nil {
				t.Errorf("Ack: %v", err)
				return
			}
			all = append(all, batch...)
		}
	}()
	wg.Wait()
	all := <-received
	if len(all) != senders*perSender {
		t.Fatalf("received %d messages, want %d", len(all), senders*perSender)
	}
	next := map[string]int{}
	ids := map[string]bool{}
	for _, m := range all {
		if ids[m.ID] {
			t.Fatalf("message %s delivered twice", m.ID)
		}
		ids[m.ID] = true
		i := next[m.Author]
		if m.Content[0].Text != fmt.Sprint(i) || m.Seq != uint64(i+1) {
			t.Fatalf("from %s got %q seq %d, want %d seq %d", m.Author, m.Content[0].Text, m.Seq, i, i+1)
		}
		next[m.Author] = i + 1
	}
	if ib.Len() != 0 || ib.InFlight() != 0 || len(ib.Unacked()) != 0 {
		t.Errorf("inbox not empty after draining: Len %d, InFlight %d", ib.Len(), ib.InFlight())
	}
}

func TestWaitWakesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib := newInbox(t, 0)
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		woke := make(chan error)
		go func() { woke <- ib.Wait(ctx) }()
		synctest.Wait() // the waiter is durably blocked
		select {
		case err := <-woke:
			t.Fatalf("Wait returned %v before any mail", err)
		default:
		}
		mustSend(t, ib, msg("/root", "wake up"))
		synctest.Wait()
		select {
		case err := <-woke:
			if err != nil {
				t.Fatalf("Wait = %v, want nil", err)
			}
		default:
			cancel()
			<-woke
			t.Fatal("Wait still blocked after Send")
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("waiter woke after %v of fake time, want at once", d)
		}
	})
}

func TestChangedClosesOnEachChange(t *testing.T) {
	ib := newInbox(t, 0)
	changes := []struct {
		name string
		do   func()
	}{
		{"send", func() { mustSend(t, ib, msg("/root", "x")) }},
		{"requeue", func() { ib.Take(); ib.Requeue() }},
		{"restore", func() {
			if _, err := ib.Restore([]Message{{ID: "old", Author: "/root", Content: []Part{Text("o")}, Seq: 7}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"close", func() { ib.Close() }},
	}
	for _, c := range changes {
		ch := ib.Changed()
		select {
		case <-ch:
			t.Fatalf("before %s: Changed() already closed", c.name)
		default:
		}
		c.do()
		select {
		case <-ch:
		default:
			t.Fatalf("after %s: Changed() not closed", c.name)
		}
	}
	select {
	case <-ib.Changed():
	default:
		t.Fatal("Changed() after Close is not closed")
	}
}

func TestChangedNotClosedWithoutChange(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, msg("/root", "x"))
	ch := ib.Changed()
	ib.Take()
	ib.Requeue() // returns one message: a change
	ch2 := ib.Changed()
	if err := ib.Ack(); err != nil { // nothing to ack: no change
		t.Fatal(err)
	}
	ib.Take()
	select {
	case <-ch:
	default:
		t.Error("Changed() not closed by Requeue of one message")
	}
	select {
	case <-ch2:
		t.Error("Changed() closed by Take, which is not an arrival")
	default:
	}
}

func TestWaitContext(t *testing.T) {
	ib := newInbox(t, 0)
	cause := errors.New("turn interrupted")
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(cause)
	if err := ib.Wait(ctx); !errors.Is(err, cause) {
		t.Errorf("Wait(cancelled) = %v, want %v", err, cause)
	}
	mustSend(t, ib, msg("/root", "x"))
	if err := ib.Wait(ctx); err != nil {
		t.Errorf("Wait(cancelled) with mail waiting = %v, want nil", err)
	}
}

func TestClose(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, msg("/root", "kept"))
	if err := ib.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := ib.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}
	_, err := ib.Send(msg("/root", "late"))
	if !errors.Is(err, ErrClosed) || err.Error() != "send /root -> /root/worker: mailbox: closed" {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := ib.Restore([]Message{msg("/root", "r")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Restore after Close = %v, want ErrClosed", err)
	}
	// Held mail is still drained.
	if err := ib.Wait(t.Context()); err != nil {
		t.Errorf("Wait after Close with mail waiting = %v, want nil", err)
	}
	got := ib.Take()
	if len(got) != 1 || got[0].Content[0].Text != "kept" {
		t.Fatalf("Take after Close = %v, want the kept message", got)
	}
	if n := ib.Requeue(); n != 1 { // must not panic on the closed channel
		t.Errorf("Requeue after Close = %d, want 1", n)
	}
	ib.Take()
	if err := ib.Ack(got...); err != nil {
		t.Errorf("Ack after Close = %v", err)
	}
	if err := ib.Wait(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close, empty = %v, want ErrClosed", err)
	}
}

func TestCloseWakesWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib := newInbox(t, 0)
		woke := make(chan error)
		go func() { woke <- ib.Wait(t.Context()) }()
		synctest.Wait()
		ib.Close()
		if err := <-woke; !errors.Is(err, ErrClosed) {
			t.Errorf("Wait across Close = %v, want ErrClosed", err)
		}
	})
}

func TestRedeliveryOfUnacked(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, Message{Author: "/root", Content: []Part{Text("a")}, TriggerTurn: true})
	mustSend(t, ib, msg("/root", "b"))
	mustSend(t, ib, msg("/root", "c"))
	taken := ib.Take()
	if ib.HasTrigger() {
		t.Error("HasTrigger() = true with the trigger mail in flight, want false")
	}
	if err := ib.Ack(taken[0]); err != nil { // a recorded, b and c not
		t.Fatal(err)
	}
	mustSend(t, ib, msg("/root", "d"))
	if n := ib.Requeue(); n != 2 {
		t.Errorf("Requeue() = %d, want 2", n)
	}
	if got, want := texts(ib.Take()), []string{"b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Take after Requeue = %q, want %q", got, want)
	}
	// Requeue restores the trigger count.
	ib2 := newInbox(t, 0)
	mustSend(t, ib2, Message{Author: "/root", Content: []Part{Text("t")}, TriggerTurn: true})
	ib2.Take()
	ib2.Requeue()
	if !ib2.HasTrigger() {
		t.Error("HasTrigger() after requeueing trigger mail = false, want true")
	}
}

func TestHasTrigger(t *testing.T) {
	ib := newInbox(t, 0)
	if ib.HasTrigger() {
		t.Fatal("HasTrigger() on an empty inbox = true")
	}
	mustSend(t, ib, msg("/root", "plain"))
	if ib.HasTrigger() {
		t.Fatal("HasTrigger() with only non-trigger mail = true")
	}
	mustSend(t, ib, Message{Author: "/root", Content: []Part{Text("go")}, TriggerTurn: true})
	if !ib.HasTrigger() {
		t.Fatal("HasTrigger() with trigger mail waiting = false")
	}
	ib.Take()
	if ib.HasTrigger() {
		t.Fatal("HasTrigger() after Take = true")
	}
}

func TestAckMismatch(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, msg("/root", "a"))
	mustSend(t, ib, msg("/root", "b"))
	taken := ib.Take()
	tests := []struct {
		name string
		msgs []Message
	}{
		{"out of order", []Message{taken[1]}},
		{"second wrong", []Message{taken[0], taken[0]}},
		{"unknown", []Message{{ID: "nope", Author: "/root", Seq: 1}}},
		{"more than in flight", []Message{taken[0], taken[1], taken[1]}},
	}
	for _, tt := range tests {
		if err := ib.Ack(tt.msgs...); !errors.Is(err, ErrNotInFlight) {
			t.Errorf("%s: Ack = %v, want ErrNotInFlight", tt.name, err)
		}
		if ib.InFlight() != 2 {
			t.Fatalf("%s: InFlight() = %d after a refused Ack, want 2", tt.name, ib.InFlight())
		}
	}
	if err := ib.Ack(taken...); err != nil {
		t.Fatalf("Ack(in order) = %v", err)
	}
	if err := ib.Ack(taken[0]); !errors.Is(err, ErrNotInFlight) {
		t.Errorf("Ack twice = %v, want ErrNotInFlight", err)
	}
}

func TestUnackedRestoreAcrossRestart(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, msg("/root", "a"))
	mustSend(t, ib, Message{Author: "/root/b", Content: []Part{Sealed("ct")}, TriggerTurn: true})
	taken := ib.Take()
	mustSend(t, ib, msg("/root", "c"))
	if err := ib.Ack(taken[0]); err != nil {
		t.Fatal(err)
	}
	// "Crash": persist what is unacknowledged as JSON.
	data, err := json.Marshal(ib.Unacked())
	if err != nil {
		t.Fatal(err)
	}
	var saved []Message
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}

	next, err := New(Config{Owner: "/root/worker", NewID: counterIDs("n"), Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, next, msg("/root/z", "arrived during resume"))
	n, err := next.Restore(saved)
	if err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v, want 2, nil", n, err)
	}
	if n, _ := next.Restore(saved); n != 0 {
		t.Errorf("second Restore of the same mail = %d, want 0 (deduplicated by id)", n)
	}
	if !next.HasTrigger() {
		t.Error("HasTrigger() after restoring trigger mail = false")
	}
	got := next.Take()
	if want := []string{"m-2", "m-3", "n-1"}; !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("Take after Restore ids = %v, want %v (restored first, in order)", ids(got), want)
	}
	if !reflect.DeepEqual(got[:2], saved) {
		t.Errorf("restored messages = %+v, want %+v", got[:2], saved)
	}
	// Sequence numbers continue past the restored ones.
	if m := mustSend(t, next, msg("/root", "d")); m.Seq != 3 {
		t.Errorf("Seq after restoring /root's seq 2 = %d, want 3", m.Seq)
	}
}

func TestRestoreBehindInFlight(t *testing.T) {
	ib := newInbox(t, 0)
	mustSend(t, ib, msg("/root", "taken"))
	mustSend(t, ib, msg("/root", "waiting"))
	ib.Take()
	ib.Requeue()
	ib.Take()
	mustSend(t, ib, msg("/root", "new"))
	restored := []Message{{ID: "r1", Author: "/root/x", Content: []Part{Text("restored")}}, {ID: "r1", Author: "/root/x", Content: []Part{Text("dup")}}}
	if n, err := ib.Restore(restored); n != 1 || err != nil {
		t.Fatalf("Restore = %d, %v, want 1, nil", n, err)
	}
	if got, want := texts(ib.Unacked()), []string{"taken", "waiting", "restored", "new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unacked() = %q, want %q", got, want)
	}
	if ib.InFlight() != 2 {
		t.Errorf("InFlight() = %d, want 2", ib.InFlight())
	}
	if got := ib.Take(); len(got) != 2 || got[0].Seq != 1 || got[0].SentAt != epoch {
		t.Errorf("restored message = %+v, want Seq 1 and SentAt filled", got)
	}
}

func TestRestoreInvalid(t *testing.T) {
	ib := newInbox(t, 0)
	_, err := ib.Restore([]Message{msg("/root", "ok"), {Author: "/root"}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Restore with a message without content = %v, want ErrInvalid", err)
	}
	if len(ib.Unacked()) != 0 {
		t.Errorf("a refused Restore added %d messages, want 0", len(ib.Unacked()))
	}
}

func TestRestoreBeyondCapacity(t *testing.T) {
	ib := newInbox(t, 2)
	var saved []Message
	for i := range 5 {
		saved = append(saved, Message{ID: fmt.Sprint(i), Author: "/root", Content: []Part{Text(fmt.Sprint(i))}, Seq: uint64(i + 1)})
	}
	if n, err := ib.Restore(saved); n != 5 || err != nil {
		t.Fatalf("Restore(5) into capacity 2 = %d, %v, want 5, nil", n, err)
	}
	if _, err := ib.Send(msg("/root", "x")); !errors.Is(err, ErrFull) {
		t.Errorf("Send over restored mail = %v, want ErrFull", err)
	}
	if got := ib.Take(); len(got) != 5 {
		t.Errorf("Take() = %d messages, want 5", len(got))
	}
}

func TestRingWrapsAround(t *testing.T) {
	ib := newInbox(t, 8)
	var want []string
	for round := range 20 {
		for i := range 5 {
			mustSend(t, ib, msg("/root", fmt.Sprintf("%d.%d", round, i)))
		}
		got := ib.Take()
		if err := ib.Ack(got[:3]...); err != nil {
			t.Fatal(err)
		}
		ib.Requeue()
		got = ib.Take()
		if err := ib.Ack(got...); err != nil {
			t.Fatal(err)
		}
		for i := 3; i < 5; i++ {
			want = append(want, fmt.Sprintf("%d.%d", round, i))
		}
		if round == 0 && !reflect.DeepEqual(texts(got), want) {
			t.Fatalf("round 0: Take after partial ack = %q, want %q", texts(got), want)
		}
	}
	if ib.Len() != 0 || ib.InFlight() != 0 {
		t.Errorf("Len, InFlight = %d, %d, want 0, 0", ib.Len(), ib.InFlight())
	}
}

func ids(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// checkGoroutines fails t if goroutines started by the test outlive it. The
// inbox starts none; this catches a test (or future change) that leaks one.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	for range 10000 {
		if runtime.NumGoroutine() <= base {
			return
		}
		runtime.Gosched()
	}
	t.Errorf("%d goroutines left, want at most %d", runtime.NumGoroutine(), base)
}

// TestWaitManyWaiters: one arrival wakes every goroutine blocked in Wait,
// and waiters that find nothing go back to sleep instead of spinning.
func TestWaitManyWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib := newInbox(t, 0)
		const waiters = 5
		woke := make(chan error, waiters) // never blocks a waiter
		for range waiters {
			go func() { woke <- ib.Wait(t.Context()) }()
		}
		synctest.Wait()
		mustSend(t, ib, msg("/root", "for everyone"))
		synctest.Wait()
		for i := range waiters {
			select {
			case err := <-woke:
				if err != nil {
					t.Fatalf("waiter %d: Wait = %v", i, err)
				}
			default:
				t.Fatalf("%d of %d waiters still blocked after one arrival", waiters-i, waiters)
			}
		}

		// Mail taken before the waiters look: they sleep again, durably.
		ib.Take()
		for range waiters {
			go func() { woke <- ib.Wait(t.Context()) }()
		}
		synctest.Wait()
		mustSend(t, ib, msg("/root", "gone at once"))
		ib.Take()
		synctest.Wait() // returns only if no waiter spins
		if len(woke) != 0 {
			t.Fatalf("%d waiters returned with nothing waiting", len(woke))
		}
		ib.Close()
		for range waiters {
			if err := <-woke; !errors.Is(err, ErrClosed) {
				t.Errorf("Wait across Close = %v, want ErrClosed", err)
			}
		}
	})
}

// TestWaitCancelledAmongWaiters: a waiter leaving by its context does not
// swallow the wake-up of the others.
func TestWaitCancelledAmongWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ib := newInbox(t, 0)
		ctx, cancel := context.WithCancel(t.Context())
		left := make(chan error, 1)
		go func() { left <- ib.Wait(ctx) }()
		stay := make(chan error, 1)
		go func() { stay <- ib.Wait(t.Context()) }()
		synctest.Wait()
		cancel()
		mustSend(t, ib, msg("/root", "x"))
		synctest.Wait()
		if err := <-left; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: Wait = %v", err)
		}
		select {
		case err := <-stay:
			if err != nil {
				t.Errorf("Wait = %v, want nil", err)
			}
		default:
			t.Fatal("the remaining waiter was not woken")
		}
	})
}
