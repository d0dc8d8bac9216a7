package sqlitestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// TestArchiveCompressed archives and unarchives a thread whose rollout
// exists only in its .zst form: the compressed file moves (no plain file
// appears), the thread stays readable, and resuming it afterwards
// materializes it in sessions/.
func TestArchiveCompressed(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, th := storeWithThread(t, home, "keep me cold")
	id := th.ID
	if res, err := rollout.CompressFile(ctx, th.RolloutPath, rollout.CompressOptions{}); err != nil || res.Outcome != rollout.OutcomeCompressed {
		t.Fatalf("CompressFile = %+v, %v", res, err)
	}

	if err := s.Archive(ctx, id); err != nil {
		t.Fatalf("Archive(compressed) = %v", err)
	}
	th, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, rollout.ArchivedDir)
	if !th.Archived || filepath.Dir(th.RolloutPath) != dir {
		t.Fatalf("after Archive: archived=%v path=%s, want archived under %s", th.Archived, th.RolloutPath, dir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], rollout.ZstdExt) {
		t.Fatalf("archived_sessions holds %v, want the one .zst file", files)
	}
	if left, _ := filepath.Glob(filepath.Join(home, rollout.SessionsDir, "*", "*", "*", "*")); len(left) != 0 {
		t.Fatalf("sessions/ still holds %v after Archive", left)
	}
	data, err := s.Read(ctx, id)
	if err != nil {
		t.Fatalf("Read(archived compressed) = %v", err)
	}
	if !containsText(data.Items, "keep me cold") {
		t.Errorf("Read(archived compressed) lost the message")
	}

	if err := s.Unarchive(ctx, id); err != nil {
		t.Fatalf("Unarchive(compressed) = %v", err)
	}
	w, err := s.Resume(ctx, id)
	if err != nil {
		t.Fatalf("Resume after Unarchive = %v", err)
	}
	defer w.Close()
	if !strings.HasPrefix(w.Path(), filepath.Join(home, rollout.SessionsDir)) || strings.HasSuffix(w.Path(), rollout.ZstdExt) {
		t.Errorf("Resume after Unarchive writes %s, want a plain file under sessions/", w.Path())
	}
}

// TestArchiveLockedByOtherWriter refuses to archive a thread whose rollout
// another process holds the writer lock of, and moves nothing.
func TestArchiveLockedByOtherWriter(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, th := storeWithThread(t, home, "busy")
	id := th.ID
	// A recorder of another process: the same flock on the file.
	lock, err := rollout.LockPath(th.RolloutPath, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Archive(ctx, id)
	lock.Close()
	if !errors.Is(err, sqlitestore.ErrLive) {
		t.Fatalf("Archive(locked) = %v, want ErrLive", err)
	}
	if _, err := os.Stat(th.RolloutPath); err != nil {
		t.Fatalf("rollout moved or lost after a refused Archive: %v", err)
	}
	if err := s.Archive(ctx, id); err != nil {
		t.Fatalf("Archive after the lock is gone = %v", err)
	}
}

// containsText reports whether one of items encodes text.
func containsText(items []rollout.Item, text string) bool {
	for _, it := range items {
		b, err := json.Marshal(it)
		if err == nil && strings.Contains(string(b), text) {
			return true
		}
	}
	return false
}

// TestResumeWaitsForLock resumes a thread whose lock another holder (the
// compressor, say) releases shortly after, and gives up with ErrLive when
// the holder keeps it.
func TestResumeWaitsForLock(t *testing.T) {
	ctx := context.Background()
	s, th := storeWithThread(t, t.TempDir(), "hello")
	id := th.ID

	lock, err := rollout.LockPath(th.RolloutPath, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	// Held past the retry budget (two seconds): ErrLive.
	if _, err := s.Resume(ctx, id); !errors.Is(err, sqlitestore.ErrLive) {
		t.Fatalf("Resume(locked for good) = %v, want ErrLive", err)
	}

	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(30 * time.Millisecond)
		lock.Close()
	}()
	w2, err := s.Resume(ctx, id)
	<-released
	if err != nil {
		t.Fatalf("Resume while the lock is released shortly after = %v, want it to wait", err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriterPersist makes a thread with nothing but its session_meta exist
// on disk and in the index.
func TestWriterPersist(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: "/work", AgentPath: "/root/w"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := s.Get(ctx, w.ID()); !errors.Is(err, sqlitestore.ErrNotFound) {
		t.Fatalf("Get before Persist = %v, want ErrNotFound (nothing written yet)", err)
	}
	if err := w.Persist(ctx); err != nil {
		t.Fatalf("Persist() = %v", err)
	}
	th, err := s.Get(ctx, w.ID())
	if err != nil {
		t.Fatalf("Get after Persist = %v", err)
	}
	if th.AgentPath != "/root/w" || th.RolloutPath != w.Path() {
		t.Errorf("row after Persist = path %q rollout %q, want /root/w at %s", th.AgentPath, th.RolloutPath, w.Path())
	}
	n := 0
	for it, err := range rollout.Read(w.Path(), rollout.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Kind() != rollout.KindSessionMeta {
			t.Errorf("line %d is %s, want only the session_meta", n, it.Kind())
		}
		n++
	}
	if n != 1 {
		t.Errorf("the rollout holds %d lines, want 1", n)
	}
}

// storeWithThread opens a store over home (closed at the test's end) with
// one closed thread holding a user message, and returns its row.
func storeWithThread(t *testing.T, home, text string) (*sqlitestore.Store, sqlitestore.Thread) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w, err := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: "/work"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rollout.NewMessage(rollout.RoleUser, text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	th, err := s.Get(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	return s, th
}
