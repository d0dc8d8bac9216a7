package rollout

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Two writers race for one new thread: exactly one creates the file; the
// other fails cleanly; the file holds only the winner's lines.
func TestRecorderCreateRace(t *testing.T) {
	for round := range 20 {
		id := ThreadID("0194a1b2-0000-7000-8000-0000000000c0")
		path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated)})
				if err != nil {
					errs[w] = err
					return
				}
				if err := r.Append(NewMessage(RoleUser, "writer")); err != nil {
					errs[w] = err
					r.Close()
					return
				}
				errs[w] = r.Close()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d writers succeeded (%v), want 1", round, ok, errs)
		}
		items, rerrs := readAll(t, path, ReadOptions{})
		if len(items) != 2 || len(rerrs) != 0 {
			t.Fatalf("round %d: file has %d items %v, want 2", round, len(items), rerrs)
		}
	}
}

// Resumers race for one existing thread: while one holds it, the others
// get ErrLocked; every successful append lands once.
func TestRecorderResumeRace(t *testing.T) {
	id := ThreadID("0194a1b2-0000-7000-8000-0000000000c1")
	path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Persist(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := r.Persist(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a second Persist changed the file")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	appended := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r, err := ResumeRecorder(RecorderConfig{Path: path})
				if errors.Is(err, ErrLocked) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if err := r.Append(NewMessage(RoleUser, "x")); err != nil {
					t.Error(err)
				}
				if err := r.Close(); err != nil {
					t.Error(err)
				}
				mu.Lock()
				appended++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	items, errs := readAll(t, path, ReadOptions{})
	if len(errs) != 0 || len(items) != appended+1 {
		t.Fatalf("file has %d items %v, want %d", len(items), errs, appended+1)
	}
	for i, it := range items {
		if *it.Ordinal != uint64(i) {
			t.Fatalf("ordinal %d = %d: two writers interleaved", i, *it.Ordinal)
		}
	}
}

// LockPath follows a file that was replaced while it waited, and refuses a
// file another writer holds.
func TestLockPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-0000000000c2.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	holder, err := LockPath(path, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockPath(path, os.O_RDWR); !errors.Is(err, ErrLocked) {
		t.Fatalf("LockPath while held = %v, want ErrLocked", err)
	}
	// A compressor-like replacement under the lock: the path now names a
	// new file, which is free.
	if err := os.WriteFile(path+".new", []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	f, err := LockPath(path, os.O_RDWR)
	if err != nil {
		t.Fatalf("LockPath after replacement = %v", err)
	}
	buf := make([]byte, 4)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "new\n" {
		t.Errorf("locked file holds %q, want the new one", buf)
	}
	f.Close()
	holder.Close()
	os.Remove(path)
	if _, err := LockPath(path, os.O_RDWR); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LockPath(missing) = %v, want ErrNotExist", err)
	}
}

// Concurrent materializers of one .zst leave exactly the plain file, with
// the original bytes and no temp files.
func TestMaterializeRace(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, filepath.Base(legacyFixture))
	data, err := os.ReadFile(legacyFixture)
	if err != nil {
		t.Fatal(err)
	}
	writeZstd(t, plain+ZstdExt, data)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[w] = Materialize(plain + ZstdExt)
		}()
	}
	wg.Wait()
	okCount := 0
	for _, err := range errs {
		// A loser may find the .zst already gone.
		if err == nil {
			okCount++
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Materialize = %v", err)
		}
	}
	if okCount == 0 {
		t.Fatal("no materializer succeeded")
	}
	got, err := os.ReadFile(plain)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("plain file = %d bytes, %v; want the original %d", len(got), err, len(data))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v, want only the plain rollout", names)
	}
	// ReadTail works on the compressed form too.
	writeZstd(t, filepath.Join(dir, "x"+PlainExt+ZstdExt), data)
	tail, err := ReadTail(filepath.Join(dir, "x"+PlainExt))
	if err != nil || tail.TurnContext == nil || len(tail.LastTurn) == 0 {
		t.Errorf("ReadTail(.zst) = %+v, %v", tail, err)
	}
}
