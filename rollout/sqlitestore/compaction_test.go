package sqlitestore_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// TestRunCompaction: compression is opt-in; when enabled, a cold closed
// thread is compressed, a thread with a live writer is left alone, and both
// stay readable through the store.
func TestRunCompaction(t *testing.T) {
	ctx := context.Background()
	off, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.RunCompaction(ctx); !errors.Is(err, sqlitestore.ErrCompactionDisabled) {
		t.Errorf("RunCompaction without Config.Compaction = %v, want ErrCompactionDisabled", err)
	}
	off.Close()

	home := t.TempDir()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: home, Compaction: &rollout.CompactorConfig{ColdAfter: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	newThread := func(text string) *sqlitestore.Writer {
		w, err := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: "/work"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(rollout.NewMessage(rollout.RoleAssistant, text)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(w.Path(), old, old); err != nil {
			t.Fatal(err)
		}
		return w
	}
	cold := newThread("cold and closed")
	if err := cold.Close(); err != nil {
		t.Fatal(err)
	}
	live := newThread("cold but open")
	defer live.Close()

	rep, err := s.RunCompaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compressed != 1 {
		t.Errorf("RunCompaction compressed %d files, want 1 (the closed one): %+v", rep.Compressed, rep)
	}
	if _, err := os.Stat(rollout.CompressedPath(cold.Path())); err != nil {
		t.Errorf("closed cold thread not compressed: %v", err)
	}
	if _, err := os.Stat(live.Path()); err != nil {
		t.Errorf("live thread's plain file touched: %v", err)
	}
	data, err := s.Read(ctx, cold.ID())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, it := range data.Items {
		if r, ok := it.Payload.(*rollout.ResponseItem); ok && r.Text() == "cold and closed" {
			found = true
		}
	}
	if !found {
		t.Error("compressed thread's message not readable through the store")
	}
}
