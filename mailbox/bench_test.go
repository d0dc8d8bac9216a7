package mailbox

import (
	"errors"
	"runtime"
	"testing"
)

// BenchmarkHandoff compares handing messages from one goroutine to another
// through an Inbox (Send; Wait, Take, Ack) with a bare buffered channel of
// the same capacity, in the same run (SPEC §8: at most 3× the channel). Each
// op is one message sent and received; the timer covers the receiver
// draining the last one. Messages carry their ID and SentAt so the measure is
// the hand-off, not the injected id source. A full inbox makes the sender
// yield and retry, as a full channel blocks it.
func BenchmarkHandoff(b *testing.B) {
	const capacity = DefaultCapacity
	m := Message{ID: "amsg_1", Author: "/root", Recipient: "/root/worker", Content: []Part{Text("payload")}, SentAt: epoch}

	b.Run("chan", func(b *testing.B) {
		ch := make(chan Message, capacity)
		done := make(chan int)
		go func() {
			n := 0
			for range ch {
				n++
			}
			done <- n
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ch <- m
		}
		close(ch)
		if n := <-done; n != b.N {
			b.Fatalf("received %d, want %d", n, b.N)
		}
	})

	b.Run("inbox", func(b *testing.B) {
		ib, err := New(Config{Owner: "/root/worker", Capacity: capacity})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan int)
		go func() {
			n := 0
			var buf []Message
			for ib.Wait(b.Context()) == nil {
				batch := ib.TakeAppend(buf[:0])
				if err := ib.Ack(batch...); err != nil {
					b.Error(err)
					break
				}
				n += len(batch)
				clear(batch)
				buf = batch
			}
			done <- n
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			for {
				_, err := ib.Send(m)
				if err == nil {
					break
				}
				if !errors.Is(err, ErrFull) {
					b.Fatal(err)
				}
				runtime.Gosched()
			}
		}
		ib.Close()
		if n := <-done; n != b.N {
			b.Fatalf("received %d, want %d", n, b.N)
		}
	})
}

// BenchmarkHandoffOneByOne is the unbatched case: the sender waits for each
// message to be received before sending the next (a reply on a plain
// channel, the same for both), so every op pays a full wake-up of a blocked
// receiver.
func BenchmarkHandoffOneByOne(b *testing.B) {
	const capacity = DefaultCapacity
	m := Message{ID: "amsg_1", Author: "/root", Recipient: "/root/worker", Content: []Part{Text("payload")}, SentAt: epoch}

	b.Run("chan", func(b *testing.B) {
		ch := make(chan Message, capacity)
		got := make(chan struct{})
		go func() {
			for range ch {
				got <- struct{}{}
			}
			close(got)
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			ch <- m
			<-got
		}
		close(ch)
		<-got
	})

	b.Run("inbox", func(b *testing.B) {
		ib, err := New(Config{Owner: "/root/worker", Capacity: capacity})
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan struct{})
		go func() {
			var buf []Message
			for ib.Wait(b.Context()) == nil {
				batch := ib.TakeAppend(buf[:0])
				if err := ib.Ack(batch...); err != nil {
					b.Error(err)
					break
				}
				for range batch {
					got <- struct{}{}
				}
				clear(batch)
				buf = batch
			}
			close(got)
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := ib.Send(m); err != nil {
				b.Fatal(err)
			}
			<-got
		}
		ib.Close()
		<-got
	})
}
