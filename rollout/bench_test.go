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
	pass := &Passthrough{TurnID: turn, Extra: Members{{Key: "create_time", Value: json.RawMessage("1795585110.5040457")}}}
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
		&TurnContext{TurnID: turn, Cwd: "/work", Model: "gpt-5.5", Extra: Members{{Key: "summary", Value: json.RawMessage(`"none"`)}}},
		&ResponseItem{Type: ItemReasoning, ID: "rs_" + turn, Summary: []ContentPart{{Type: PartSummaryText, Text: "thinking about " + turn}}, EncryptedContent: strings.Repeat("QUJD", size/16), Passthrough: pass},
		call,
		out,
		mk(ItemCompleted{TurnID: turn, Item: json.RawMessage(`{"type":"AgentMessage","id":"msg_` + turn + `","content":[{"type":"Text","text":"ok"}]}`)}),
		answer,
		mk(TokenCount{Info: &TokenCountInfo{TotalTokenUsage: TokenUsage{InputTokens: 120, TotalTokens: 132}}}),
		mk(TurnComplete{TurnID: turn, LastAgentMessage: &msg}),
	}
}

// BenchmarkAppend compares the recorder with a plain baseline on the same
// items, interleaved in every iteration so that both see the same machine
// load: the baseline encodes the same items with the same encoder
// (AppendLine) and writes each batch (a turn) with one write(2); both make
// the file and its directory entry durable at the end. In the fsync
// variant each batch is made durable (Recorder.Flush vs Write+Sync). It
// reports both throughputs and recorder/baseline (target >= 0.8).
func BenchmarkAppend(b *testing.B) {
	const turns = 256
	batches := make([][]Payload, turns)
	var total int64
	nitems := 0
	for i := range batches {
		batches[i] = benchTurn(i, 1024)
		nitems += len(batches[i])
		for _, p := range batches[i] {
			l, err := AppendLine(nil, Item{Timestamp: time.Now(), Ordinal: new(uint64), Payload: p})
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(l))
		}
	}
	for _, fsync := range []bool{false, true} {
		name := "nosync"
		if fsync {
			name = "fsync"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			clock := fakeClock()
			var recTime, baseTime time.Duration
			recorder := func(n int) {
				id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-8000-%012d", n))
				r, err := NewRecorder(RecorderConfig{Path: filepath.Join(dir, FileName(time.Now(), id)), Meta: testMeta(id, HistoryModePaginated), Clock: clock})
				if err != nil {
					b.Fatal(err)
				}
				for _, batch := range batches {
					if err := r.Append(batch...); err != nil {
						b.Fatal(err)
					}
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
			var buf []byte
			baseline := func(n int) {
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
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
					if fsync {
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := syncDir(dir); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			for n := range b.N {
				// Alternate which goes first.
				for k := range 2 {
					start := time.Now()
					if (n+k)%2 == 0 {
						recorder(n)
						recTime += time.Since(start)
					} else {
						baseline(n)
						baseTime += time.Since(start)
					}
				}
			}
			mbs := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() / 1e6 }
			b.ReportMetric(mbs(recTime), "recorder-MB/s")
			b.ReportMetric(mbs(baseTime), "baseline-MB/s")
			b.ReportMetric(float64(nitems)*float64(b.N)/recTime.Seconds(), "recorder-items/s")
			b.ReportMetric(float64(nitems)*float64(b.N)/baseTime.Seconds(), "baseline-items/s")
			b.ReportMetric(baseTime.Seconds()/recTime.Seconds(), "recorder/baseline")
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
		t := time.NewTicker(10 * time.Millisecond)
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

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLoad compares loading a generated ~100 MB rollout (resume: the
// whole history decoded and held, raw lines dropped) with a plain baseline
// on the same file, interleaved in every iteration: bufio.Scanner,
// json.Unmarshal of each line into a minimal envelope (timestamp, ordinal,
// type, payload as json.RawMessage), then json.Unmarshal of the payload into
// an `any`, every decoded value retained. It reports the time ratio
// rollout/baseline (target <= 1.5) and, per file byte, the peak heap
// (sampled HeapAlloc; target <= 2) and the live heap of the loaded history
// for both. The keepraw sub-benchmark loads with raw lines kept (what a fork
// needs).
func BenchmarkLoad(b *testing.B) {
	path, size := bigRollout(b)
	load := func(opts ReadOptions) (time.Duration, uint64, uint64) {
		s := startHeapSampler()
		start := time.Now()
		var items []Item
		for it, err := range Read(path, opts) {
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, it)
		}
		d := time.Since(start)
		peak := s.Stop()
		live := liveHeap()
		runtime.KeepAlive(items)
		return d, peak, live
	}
	baseline := func() (time.Duration, uint64, uint64) {
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
		s := startHeapSampler()
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
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
		d := time.Since(start)
		peak := s.Stop()
		live := liveHeap()
		runtime.KeepAlive(out)
		return d, peak, live
	}
	for _, keepRaw := range []bool{false, true} {
		name := "dropraw"
		if keepRaw {
			name = "keepraw"
		}
		b.Run(name, func(b *testing.B) {
			var rt, bt time.Duration
			var rPeak, rLive, bPeak, bLive uint64
			for n := range b.N {
				for k := range 2 {
					if (n+k)%2 == 0 {
						d, p, l := load(ReadOptions{DropRaw: !keepRaw})
						rt, rPeak, rLive = rt+d, max(rPeak, p), max(rLive, l)
					} else {
						d, p, l := baseline()
						bt, bPeak, bLive = bt+d, max(bPeak, p), max(bLive, l)
					}
				}
			}
			fs := float64(size)
			b.ReportMetric(fs*float64(b.N)/rt.Seconds()/1e6, "rollout-MB/s")
			b.ReportMetric(fs*float64(b.N)/bt.Seconds()/1e6, "baseline-MB/s")
			b.ReportMetric(rt.Seconds()/bt.Seconds(), "rollout/baseline-time")
			b.ReportMetric(float64(rPeak)/fs, "rollout-peakheap/filebyte")
			b.ReportMetric(float64(bPeak)/fs, "baseline-peakheap/filebyte")
			b.ReportMetric(float64(rLive)/fs, "rollout-liveheap/filebyte")
			b.ReportMetric(float64(bLive)/fs, "baseline-liveheap/filebyte")
		})
	}
}
