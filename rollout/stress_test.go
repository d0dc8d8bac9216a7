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

var (
	stressCycles       = flag.Int("stress.cycles", 20, "append/compress cycles per writer in TestStressAppendCompress (the full run is 10000)")
	stressMaterializer = flag.Bool("stress.materializer", false, "add a second, independent materializer to TestStressAppendCompress (two concurrent Materialize calls; see the comment there)")
)

// stressStats counts what happened during a stress run.
type stressStats struct {
	compressed, materialized, reads, writerRetries atomic.Int64
}

// stressCyclesPerFile bounds how long one rollout lives in the stress
// test: a writer moves to a fresh thread after this many cycles, so the
// cost of a cycle does not grow with the run (the compressor and the
// reader go through the whole file each time).
const stressCyclesPerFile = 50

// TestStressAppendCompress races, on a few threads at once, a writer that
// resumes (materializing the .zst), appends and flushes in cycles against
// a compressor that keeps compressing the rollout and a reader that reads
// it after each flush. The per-thread lock must make this lose and
// duplicate nothing: each rollout ends with every appended line exactly
// once, in order, and every read sees a gap-free prefix.
//
// With -stress.materializer a second party also materializes after each
// compression. That once lost threads: a materializer that opened the .zst
// and waited for its flock could, once it got it, decompress an inode
// another materializer had already replaced and then remove the newer .zst
// the compressor made meanwhile. Materialize now checks after the flock
// that the .zst path still names the file it locked and retries if not.
func TestStressAppendCompress(t *testing.T) {
	cycles := *stressCycles
	const writers = 2
	home := t.TempDir()
	var stats stressStats
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for file := 0; file*stressCyclesPerFile < cycles; file++ {
				n := min(stressCyclesPerFile, cycles-file*stressCyclesPerFile)
				id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-%04d-%012d", w, file))
				path := SessionPath(home, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), id)
				if err := stressThread(path, id, n, &stats); err != nil {
					errs <- fmt.Errorf("writer %d, file %d: %w", w, file, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	files := (cycles + stressCyclesPerFile - 1) / stressCyclesPerFile * writers
	if names := czNames(t, filepath.Join(home, SessionsDir, "2026", "11", "25")); len(names) != files {
		t.Errorf("day dir has %d files, want one per thread (%d)", len(names), files)
	}
	t.Logf("%d cycles x %d writers: %d compressions, %d materializations, %d reads, %d writer retries",
		cycles, writers, stats.compressed.Load(), stats.materialized.Load(), stats.reads.Load(), stats.writerRetries.Load())
}

// stressThread runs cycles writer cycles on one new thread against a
// compressor, a materializer and a reader, then checks the rollout.
func stressThread(path string, id ThreadID, cycles int, stats *stressStats) error {
	const perCycle = 3
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModeLegacy)})
	if err != nil {
		return err
	}
	if err := r.Persist(context.Background()); err != nil {
		return err
	}
	r.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 4) // one per goroutine
	// Wake-ups, each of size 1: a pending wake-up is enough. attempts
	// tells the writer a compression attempt finished; compressed wakes
	// the materializer; flushed wakes the reader.
	attempts := make(chan struct{}, 1)
	compressed := make(chan struct{}, 1)
	flushed := make(chan struct{}, 1)
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	compressorDone := make(chan struct{})

	// Writer: the owner of the thread, one recorder at a time.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop()
		seq := 0
		for c := range cycles {
			var rec *Recorder
			for try := 0; ; try++ {
				rec, err = ResumeRecorder(RecorderConfig{Path: path})
				if err == nil {
					break
				}
				if try == 100000 {
					errs <- fmt.Errorf("cycle %d: resume keeps failing (rollout lost?): %w", c, err)
					return
				}
				// Transient while another party holds the lock or the file
				// changes form between resolve and open.
				if !errors.Is(err, ErrLocked) && !errors.Is(err, fs.ErrNotExist) {
					errs <- fmt.Errorf("cycle %d: resume: %w", c, err)
					return
				}
				stats.writerRetries.Add(1)
				runtime.Gosched()
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
				// Give the compressor a quiet window on every other cycle:
				// wait for two attempts, so one started after Close.
				select {
				case <-attempts:
				default:
				}
				for range 2 {
					select {
					case <-attempts:
					case <-compressorDone:
						return
					}
				}
			}
		}
	}()
	// Compressor: any age is cold.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(compressorDone)
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
		if !*stressMaterializer {
			return
		}
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
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	n, err := readSeqs(path)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	if n != cycles*perCycle {
		return fmt.Errorf("%s has %d lines, want %d", path, n, cycles*perCycle)
	}
	return nil
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
