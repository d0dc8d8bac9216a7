package sqlitestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// TestSearchJoinsIndex finds a phrase in a plain and in a compressed
// rollout, and joins each hit with its thread's index row; a rollout with
// no row still matches, with a zero Thread.
func TestSearchJoinsIndex(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(path, text string) rollout.ThreadID {
		t.Helper()
		w, err := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: "/work", AgentPath: path}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(rollout.NewMessage(rollout.RoleAssistant, text)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.ID()
	}
	plain := write("/root/plain", "the Blue Heron is here")
	cold := write("/root/cold", "a blue heron, compressed")
	write("/root/other", "nothing to see")
	th, err := s.Get(ctx, cold)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := rollout.CompressFile(ctx, th.RolloutPath, rollout.CompressOptions{}); err != nil || res.Outcome != rollout.OutcomeCompressed {
		t.Fatalf("CompressFile = %+v, %v", res, err)
	}

	page, err := s.Search(ctx, rollout.SearchOptions{Query: "BLUE HERON"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[rollout.ThreadID]sqlitestore.SearchHit{}
	for _, h := range page.Hits {
		got[h.ThreadID] = h
	}
	if len(got) != 2 {
		t.Fatalf("Search found %d threads (%v), want the plain and the compressed one", len(got), page.Hits)
	}
	for id, path := range map[rollout.ThreadID]string{plain: "/root/plain", cold: "/root/cold"} {
		h, ok := got[id]
		if !ok || h.Thread.ID != id || h.Thread.AgentPath != path {
			t.Errorf("hit for %s = %+v, want joined with the row of %s", id, h, path)
		}
	}
	if !got[cold].Compressed || got[plain].Compressed {
		t.Errorf("Compressed flags: cold %v, plain %v", got[cold].Compressed, got[plain].Compressed)
	}

	// A rollout the index does not know yet still matches, unjoined.
	data, err := os.ReadFile(mustPath(t, s, plain))
	if err != nil {
		t.Fatal(err)
	}
	stray := rollout.ThreadID("01a21136-0000-7000-8000-00000000beef")
	dst := filepath.Join(home, "sessions", "2026", "01", "02", rollout.FileName(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), stray))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	page, err = s.Search(ctx, rollout.SearchOptions{Query: "blue heron is here"})
	if err != nil {
		t.Fatal(err)
	}
	var strayHit bool
	for _, h := range page.Hits {
		if h.ThreadID == stray {
			strayHit = true
			if h.Thread.ID != "" {
				t.Errorf("stray rollout joined with row %+v", h.Thread)
			}
		}
	}
	if !strayHit {
		t.Errorf("Search missed a rollout with no index row: %+v", page.Hits)
	}
}

func mustPath(t *testing.T, s *sqlitestore.Store, id rollout.ThreadID) string {
	t.Helper()
	th, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return th.RolloutPath
}
