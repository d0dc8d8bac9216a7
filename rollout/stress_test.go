package rollout

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var stressCycles = flag.Int("stress.cycles", 20, "append/compress cycles per thread in TestStressAppendCompress (the full run is 10000)")

// TestStressAppendCompress races, on each of a few threads, a writer that
// resumes, appends and flushes in cycles against a compressor that keeps
// compressing the rollout, a materializer that keeps thawing it and a
// reader that keeps reading it. The per-thread lock must make this lose
// and duplicate nothing: at the end each rollout holds every appended
// line exactly once, in order, and every read saw a gap-free prefix.
func TestStressAppendCompress(t *testing.T) {
	cycles := *stressCycles
	const threads = 2
	const perCycle = 3
	home := t.TempDir()
	var stats struct {
		compressed, materialized, reads, writerRetries atomic.Int64
	}
	var wg sync.WaitGroup
	errs := make(chan error, threads*4)
	for th := range threads {
		id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-8000-%012d", th))
		path := SessionPath(home, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), id)
		r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModeLegacy)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Persist(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.Close()
		ctx, stop := context.WithCancel(context.Background())
		// The compressor signals each finished attempt; size 1 because the
		// writer only needs to know that one happened since it looked.
		attempts := make(chan struct{}, 1)
		// Wake-ups for the materializer (after a compression) and the
		// reader (after a flush); size 1: a pending wake-up is enough.
		compressed := make(chan struct{}, 1)
		flushed := make(chan struct{}, 1)
		signal := func(ch chan struct{}) {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		// Writer: the owner of the thread, one recorder at a time.
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop()
			seq := 0
			for c := 0; c < cycles; c++ {
				var rec *Recorder
				for {
					rec, err = ResumeRecorder(RecorderConfig{Path: path})
					if err == nil {
						break
					}
					// Transient while another party holds the lock or the
					// file changes form between resolve and open.
					if !errors.Is(err, ErrLocked) && !errors.Is(err, fs.ErrNotExist) {
						errs <- fmt.Errorf("cycle %d: resume: %w", c, err)
						return
					}
					stats.writerRetries.Add(1)
				}
				for range perCycle {
					if err := rec.Append(NewMessage(RoleUser, "seq "+strconv.Itoa(seq))); err != nil {
						errs <- err
						rec.Close()
						return
					}
					seq++
					if err := rec.Flush(context.Background()); err != nil {
						errs <- err
						rec.Close()
						return
					}
					signal(flushed)
				}
				if err := rec.Close(); err != nil {
					errs <- err
					return
				}
				if c%2 == 0 {
					// Give the compressor a quiet window on every other
					// cycle (two attempts: one that started after Close).
					select {
					case <-attempts:
					default:
					}
					<-attempts
					<-attempts
				}
			}
		}()
		// Compressor: any age is cold.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := CompressFile(context.Background(), path, CompressOptions{})
				if err != nil {
					errs <- fmt.Errorf("compress: %w", err)
					return
				}
				if res.Outcome == OutcomeCompressed {
					stats.compressed.Add(1)
					signal(compressed)
				} else {
					runtime.Gosched()
				}
				signal(attempts)
			}
		}()
		// Materializer: a second party thawing the rollout.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-compressed:
				}
				if _, err := Materialize(path); err == nil {
					stats.materialized.Add(1)
				} else if !errors.Is(err, fs.ErrNotExist) {
					errs <- fmt.Errorf("materialize: %w", err)
					return
				}
			}
		}()
		// Reader: every read sees a gap-free, duplicate-free prefix.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-flushed:
				}
				_, err := readSeqs(path)
				if errors.Is(err, fs.ErrNotExist) {
					continue // the form changed between resolve and open
				}
				if err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				stats.reads.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for th := range threads {
		id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-8000-%012d", th))
		path := SessionPath(home, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), id)
		n, err := readSeqs(path)
		if err != nil {
			t.Fatalf("final read of thread %d: %v", th, err)
		}
		if n != cycles*perCycle {
			t.Errorf("thread %d has %d lines, want %d", th, n, cycles*perCycle)
		}
		if names := czNames(t, filepath.Dir(path)); len(names) != threads {
			t.Errorf("day dir = %v, want one file per thread", names)
		}
	}
	t.Logf("%d cycles x %d threads: %d compressions, %d materializations, %d reads, %d writer retries",
		cycles, threads, stats.compressed.Load(), stats.materialized.Load(), stats.reads.Load(), stats.writerRetries.Load())
}

// readSeqs reads a stress rollout and checks that its messages are
// "seq 0", "seq 1", ... with no gap or duplicate; it returns how many.
func readSeqs(path string) (int, error) {
	n := 0
	for it, err := range Read(path, ReadOptions{DropRaw: true}) {
		if err != nil {
			return n, err
		}
		ri, ok := it.Payload.(*ResponseItem)
		if !ok {
			continue
		}
		got, ok := strings.CutPrefix(ri.Text(), "seq ")
		if !ok || got != strconv.Itoa(n) {
			return n, fmt.Errorf("%s: message %d is %q, want seq %d", path, n, ri.Text(), n)
		}
		n++
	}
	return n, nil
}
