package rollout

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchTurn returns the payloads of one synthetic turn shaped like the
// corpus: events, a user message, reasoning, a tool call and its output, an
// answer. size scales the text.
func benchTurn(i, size int) []Payload {
	turn := fmt.Sprintf("turn-%08d", i)
	text := strings.Repeat("lorem ipsum dolor sit amet <b> & ", size/32+1)[:size]
	msg := "done " + turn
	pass := &Passthrough{TurnID: turn, Extra: map[string]json.RawMessage{"create_time": json.RawMessage("1795585110.5040457")}}
	mk := func(p EventPayload) *EventMsg {
		e, err := NewEvent(p)
		if err != nil {
			panic(err)
		}
		return e
	}
	user := NewMessage(RoleUser, "question "+turn+": "+text[:size/4])
	user.Passthrough = pass
	call := NewFunctionCall("call_"+turn, "exec_command", `{"cmd":"echo hi","yield_time_ms":2000}`)
	call.Passthrough = pass
	out := NewFunctionCallOutput("call_"+turn, text)
	out.Passthrough = pass
	answer := NewMessage(RoleAssistant, text[:size/2])
	answer.Phase = PhaseFinalAnswer
	answer.Passthrough = pass
	return []Payload{
		mk(TurnStarted{TurnID: turn}),
		user,
		&TurnContext{TurnID: turn, Cwd: "/work", Model: "gpt-5.5", Extra: map[string]json.RawMessage{"summary": json.RawMessage(`"none"`)}},
		&ResponseItem{Type: ItemReasoning, ID: "rs_" + turn, Summary: []ContentPart{{Type: PartSummaryText, Text: "thinking about " + turn}}, EncryptedContent: strings.Repeat("QUJD", size/16), Passthrough: pass},
		call,
		out,
		mk(ItemCompleted{TurnID: turn, Item: json.RawMessage(`{"type":"AgentMessage","id":"msg_` + turn + `","content":[{"type":"Text","text":"ok"}]}`)}),
		answer,
		mk(TokenCount{Info: &TokenCountInfo{TotalTokenUsage: TokenUsage{InputTokens: 120, TotalTokens: 132}}}),
		mk(TurnComplete{TurnID: turn, LastAgentMessage: &msg}),
	}
}

// BenchmarkAppend compares the recorder against writing the same lines
// with one write(2) per batch (a turn), in the same run. Both encode the
// same items with the same encoder; "fsync" variants make each batch
// durable (Flush vs Write+Sync). The ratio recorder/baseline is reported
// by the pair of sub-benchmarks' MB/s.
func BenchmarkAppend(b *testing.B) {
	const turns = 64
	batches := make([][]Payload, turns)
	var total int64
	for i := range batches {
		batches[i] = benchTurn(i, 1024)
		for _, p := range batches[i] {
			l, err := AppendLine(nil, Item{Timestamp: time.Now(), Ordinal: new(uint64), Payload: p})
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(l))
		}
	}
	clock := fakeClock()
	for _, fsync := range []bool{false, true} {
		name := "nosync"
		if fsync {
			name = "fsync"
		}
		b.Run("recorder/"+name, func(b *testing.B) {
			b.SetBytes(total)
			dir := b.TempDir()
			items := 0
			for n := range b.N {
				id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-8000-%012d", n))
				r, err := NewRecorder(RecorderConfig{Path: filepath.Join(dir, FileName(time.Now(), id)), Meta: testMeta(id, HistoryModePaginated), Clock: clock})
				if err != nil {
					b.Fatal(err)
				}
				for _, batch := range batches {
					if err := r.Append(batch...); err != nil {
						b.Fatal(err)
					}
					items += len(batch)
					if fsync {
						if err := r.Flush(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
		})
		b.Run("baseline/"+name, func(b *testing.B) {
			b.SetBytes(total)
			dir := b.TempDir()
			items := 0
			var buf []byte
			for n := range b.N {
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("b%d.jsonl", n)), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				ord := uint64(0)
				for _, batch := range batches {
					buf = buf[:0]
					now := clock()
					for _, p := range batch {
						o := ord
						ord++
						if buf, err = AppendLine(buf, Item{Timestamp: now, Ordinal: &o, Payload: p}); err != nil {
							b.Fatal(err)
						}
					}
					items += len(batch)
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
					if fsync {
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				// The recorder's Close makes the file durable: so does the
				// baseline.
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

var (
	bigRolloutOnce sync.Once
	bigRolloutPath string
	bigRolloutSize int64
	bigRolloutErr  error
)

// bigRollout writes a ~100 MB paginated rollout once per test binary run,
// in a temp dir removed at the end of the benchmark that created it... kept
// for the process instead, since b.TempDir is per benchmark.
func bigRollout(b *testing.B) (string, int64) {
	bigRolloutOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rollout-bench-")
		if err != nil {
			bigRolloutErr = err
			return
		}
		id := ThreadID("0194a1b2-0000-7000-8000-0000000000ff")
		bigRolloutPath = filepath.Join(dir, FileName(time.Now(), id))
		r, err := NewRecorder(RecorderConfig{Path: bigRolloutPath, Meta: testMeta(id, HistoryModePaginated), Clock: fakeClock()})
		if err != nil {
			bigRolloutErr = err
			return
		}
		for i := 0; ; i++ {
			if err := r.Append(benchTurn(i, 2048)...); err != nil {
				bigRolloutErr = err
				return
			}
			if i%256 == 0 {
				if err := r.Flush(context.Background()); err != nil {
					bigRolloutErr = err
					return
				}
				st, err := os.Stat(bigRolloutPath)
				if err != nil {
					bigRolloutErr = err
					return
				}
				if st.Size() >= 100<<20 {
					bigRolloutSize = st.Size()
					break
				}
			}
		}
		bigRolloutErr = r.Close()
	})
	if bigRolloutErr != nil {
		b.Fatal(bigRolloutErr)
	}
	b.Cleanup(func() {}) // the file lives until the process exits (see TestMain)
	return bigRolloutPath, bigRolloutSize
}

// heapSampler tracks the peak HeapAlloc while a load runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func startHeapSampler() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	go func() {
		defer close(s.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapAlloc)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return max(s.peak, ms.HeapAlloc)
}

// BenchmarkLoad compares loading a generated ~100 MB rollout (resume: the
// whole history decoded and held) with a plain baseline: bufio.Scanner,
// json.Unmarshal of each line into a minimal envelope (timestamp, ordinal,
// type, payload as json.RawMessage), then json.Unmarshal of the payload
// into an `any`, every decoded value retained. Peak heap (sampled
// HeapAlloc) is reported per file byte.
func BenchmarkLoad(b *testing.B) {
	path, size := bigRollout(b)
	b.Run("rollout", func(b *testing.B) {
		b.SetBytes(size)
		var peak uint64
		for range b.N {
			s := startHeapSampler()
			var items []Item
			for it, err := range Read(path, ReadOptions{DropRaw: true}) {
				if err != nil {
					b.Fatal(err)
				}
				items = append(items, it)
			}
			peak = max(peak, s.Stop())
			runtime.KeepAlive(items)
		}
		b.ReportMetric(float64(peak)/float64(size), "peakheap/filebyte")
	})
	b.Run("rollout-keepraw", func(b *testing.B) {
		b.SetBytes(size)
		var peak uint64
		for range b.N {
			s := startHeapSampler()
			var items []Item
			for it, err := range Read(path, ReadOptions{}) {
				if err != nil {
					b.Fatal(err)
				}
				items = append(items, it)
			}
			peak = max(peak, s.Stop())
			runtime.KeepAlive(items)
		}
		b.ReportMetric(float64(peak)/float64(size), "peakheap/filebyte")
	})
	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(size)
		type envelope struct {
			Timestamp string          `json:"timestamp"`
			Ordinal   *uint64         `json:"ordinal"`
			Type      string          `json:"type"`
			Payload   json.RawMessage `json:"payload"`
		}
		type decoded struct {
			env     envelope
			payload any
		}
		var peak uint64
		for range b.N {
			s := startHeapSampler()
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 256<<10), DefaultMaxLineSize)
			var out []decoded
			for sc.Scan() {
				var d decoded
				if err := json.Unmarshal(sc.Bytes(), &d.env); err != nil {
					b.Fatal(err)
				}
				if err := json.Unmarshal(d.env.Payload, &d.payload); err != nil {
					b.Fatal(err)
				}
				d.env.Payload = nil // decoded: the generic value replaces it
				out = append(out, d)
			}
			if err := sc.Err(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			peak = max(peak, s.Stop())
			runtime.KeepAlive(out)
		}
		b.ReportMetric(float64(peak)/float64(size), "peakheap/filebyte")
	})
}
