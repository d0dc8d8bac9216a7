package rollout

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// compactedRollout writes a ~64 MB paginated rollout in dir with a
// windowless compaction (replacement history: one summary message) every
// 500 turns, so that the live history is a small part of the file.
func compactedRollout(b *testing.B, dir string) (string, int64) {
	b.Helper()
	id := ThreadID("0194a1b2-0000-7000-8000-0000000000fe")
	path := filepath.Join(dir, FileName(time.Now(), id))
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated), Clock: fakeClock()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; ; i++ {
		if err := r.Append(benchTurn(i, 2048)...); err != nil {
			b.Fatal(err)
		}
		if i%500 == 0 {
			c := &Compacted{Message: "summary", ReplacementHistory: []ResponseItem{*NewMessage(RoleUser, SummaryPrefix+"\nsummary")}}
			if err := r.Append(c); err != nil {
				b.Fatal(err)
			}
		}
		if i%256 == 0 {
			if err := r.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			if st.Size() >= 64<<20 {
				break
			}
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkLoadHistory compares LoadHistory (StreamHistory: one forward
// pass holding the live history and a per-turn skeleton) with the former
// path (every item read into memory, then ReconstructHistory), interleaved
// in every iteration, on a ~64 MB rollout compacted every 500 turns and on
// the ~100 MB one of BenchmarkLoad (no compaction: everything survives). It
// reports the peak heap (sampled HeapAlloc) of each in MB and per file
// byte, their ratio, and the time ratio stream/collect.
func BenchmarkLoadHistory(b *testing.B) {
	compacted, csize := compactedRollout(b, b.TempDir())
	files := []struct {
		name string
		path func() (string, int64)
	}{
		{"compacted", func() (string, int64) { return compacted, csize }},
		{"nocompaction", func() (string, int64) { return bigRollout(b) }},
	}
	measure := func(load func(string) (*History, []error, error), path string) (time.Duration, uint64, *History) {
		runtime.GC()
		s := startHeapSampler()
		start := time.Now()
		h, _, err := load(path)
		d := time.Since(start)
		peak := s.Stop()
		if err != nil {
			b.Fatal(err)
		}
		return d, peak, h
	}
	for _, f := range files {
		path, size := f.path()
		b.Run(f.name, func(b *testing.B) {
			var st, ct time.Duration
			var sPeak, cPeak uint64
			var sItems, cItems int
			for n := range b.N {
				for k := range 2 {
					if (n+k)%2 == 0 {
						d, p, h := measure(LoadHistory, path)
						st, sPeak, sItems = st+d, max(sPeak, p), len(h.Items)
					} else {
						d, p, h := measure(loadHistoryCollect, path)
						ct, cPeak, cItems = ct+d, max(cPeak, p), len(h.Items)
					}
				}
			}
			if sItems != cItems {
				b.Fatalf("stream kept %d items, collect %d", sItems, cItems)
			}
			fs := float64(size)
			b.ReportMetric(fs/1e6, "file-MB")
			b.ReportMetric(float64(sPeak)/1e6, "stream-peak-MB")
			b.ReportMetric(float64(cPeak)/1e6, "collect-peak-MB")
			b.ReportMetric(float64(sPeak)/fs, "stream-peak/filebyte")
			b.ReportMetric(float64(cPeak)/fs, "collect-peak/filebyte")
			b.ReportMetric(float64(sPeak)/float64(cPeak), "stream/collect-peak")
			b.ReportMetric(st.Seconds()/ct.Seconds(), "stream/collect-time")
			b.ReportMetric(float64(sItems), "items")
		})
	}
}
