package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// writeCompactedThread writes a ~64 MB root rollout under home: turns of
// about 10 KB, a windowless compaction (replacement history: one message)
// every 500 turns and one at the end, so the live history is one item.
func writeCompactedThread(b *testing.B, home string) rollout.ThreadID {
	b.Helper()
	id := rollout.ThreadID("0194a1b2-0000-7000-8000-0000000000fd")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { start = start.Add(time.Millisecond); return start }
	meta := &rollout.SessionMeta{ID: id, SessionID: id, Timestamp: "2025-01-01T00:00:00.000Z", Cwd: "/w", Originator: "troupe",
		CLIVersion: "0", Source: []byte(`"exec"`), HistoryMode: rollout.HistoryModePaginated}
	path := rollout.SessionPath(home, start, id)
	r, err := rollout.NewRecorder(rollout.RecorderConfig{Path: path, Meta: meta, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ev := func(p rollout.EventPayload) *rollout.EventMsg {
		e, err := rollout.NewEvent(p)
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	text := strings.Repeat("lorem ipsum dolor sit amet <b> & ", 150)
	compact := func() {
		c := &rollout.Compacted{Message: "summary", ReplacementHistory: []rollout.ResponseItem{*rollout.NewMessage(rollout.RoleUser, rollout.SummaryPrefix+"\nsummary")}}
		if err := r.Append(c); err != nil {
			b.Fatal(err)
		}
	}
	for i := 1; ; i++ {
		turn := fmt.Sprintf("turn-%08d", i)
		msg := "done"
		err := r.Append(ev(rollout.TurnStarted{TurnID: turn}), rollout.NewMessage(rollout.RoleUser, "question "+turn),
			&rollout.TurnContext{TurnID: turn, Cwd: "/w", Model: "m"},
			rollout.NewFunctionCall("call_"+turn, "exec_command", `{"cmd":"echo hi"}`), rollout.NewFunctionCallOutput("call_"+turn, text),
			rollout.NewMessage(rollout.RoleAssistant, text),
			ev(rollout.TokenCount{Info: &rollout.TokenCountInfo{}}), ev(rollout.TurnComplete{TurnID: turn, LastAgentMessage: &msg}))
		if err != nil {
			b.Fatal(err)
		}
		if i%500 == 0 {
			compact()
		}
		if i%256 == 0 {
			if err := r.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			if st, err := os.Stat(path); err != nil {
				b.Fatal(err)
			} else if st.Size() >= 64<<20 {
				break
			}
		}
	}
	compact()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	return id
}

// collectThread is loadThread's former path, the baseline: every item the
// reconstruction reads is held, then rollout.ReconstructHistory runs.
func collectThread(path string) (*rollout.History, error) {
	var items []rollout.Item
	for it, err := range rollout.Read(path, rollout.ReadOptions{DropRaw: true}) {
		if err != nil {
			var ce *rollout.CorruptError
			if errors.As(err, &ce) {
				continue
			}
			return nil, err
		}
		if ev, ok := it.Payload.(*rollout.EventMsg); ok && !(ev.Is(rollout.EventTurnStarted) || ev.Is(rollout.EventTurnComplete) ||
			ev.Is(rollout.EventTurnAborted) || ev.Is(rollout.EventUserMessage) || ev.Is(rollout.EventThreadRolledBack) || ev.Is(rollout.EventTokenCount)) {
			continue
		}
		items = append(items, it)
	}
	return rollout.ReconstructHistory(items)
}

// peakHeap runs f and returns the peak HeapAlloc sampled while it ran.
func peakHeap(f func()) uint64 {
	runtime.GC()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var ms runtime.MemStats
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	peak := <-done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return max(peak, ms.HeapAlloc)
}

// BenchmarkLoadThread measures the peak heap of loadThread (resume of one
// thread) on a ~64 MB rollout compacted every 500 turns whose live history
// is one item, against its former read-and-hold path in the same run
// (interleaved): MB, per file byte, and the ratio.
func BenchmarkLoadThread(b *testing.B) {
	home := b.TempDir()
	id := writeCompactedThread(b, home)
	path, err := rollout.FindThread(home, id, false)
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	rt, err := Open(context.Background(), Config{Home: home, Model: modeltest.New(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	var sPeak, cPeak uint64
	for n := range b.N {
		for k := range 2 {
			var items int
			if (n+k)%2 == 0 {
				sPeak = max(sPeak, peakHeap(func() {
					ts, err := rt.loadThread(id)
					if err != nil {
						b.Fatal(err)
					}
					items = len(ts.hist.Items)
				}))
			} else {
				cPeak = max(cPeak, peakHeap(func() {
					h, err := collectThread(path)
					if err != nil {
						b.Fatal(err)
					}
					items = len(h.Items)
				}))
			}
			if items != 1 {
				b.Fatalf("live history = %d items, want 1", items)
			}
		}
	}
	fs := float64(st.Size())
	b.ReportMetric(fs/1e6, "file-MB")
	b.ReportMetric(float64(sPeak)/1e6, "loadThread-peak-MB")
	b.ReportMetric(float64(cPeak)/1e6, "collect-peak-MB")
	b.ReportMetric(float64(sPeak)/fs, "loadThread-peak/filebyte")
	b.ReportMetric(float64(sPeak)/float64(cPeak), "loadThread/collect-peak")
}
