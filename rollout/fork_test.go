package rollout

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestForkFullLegacy(t *testing.T) {
	home := t.TempDir()
	newID := ThreadID("0194a1b2-0000-7000-8000-0000000000f1")
	rec, err := Fork(context.Background(), legacyFixture, ForkOptions{NewID: newID, Home: home, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	path := rec.Path()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if want := SessionPath(home, time.Date(2025, 1, 3, 12, 0, 0, 2e6, time.UTC), newID); path != want {
		t.Errorf("fork path = %s, want %s", path, want)
	}
	got := fileLines(t, path)
	parent := fileLines(t, legacyFixture)
	if len(got) != len(parent)+1 {
		t.Fatalf("fork has %d lines, want %d", len(got), len(parent)+1)
	}
	first, err := ParseLine(got[0])
	if err != nil {
		t.Fatal(err)
	}
	m := first.Payload.(*SessionMeta)
	if m.ID != newID || m.SessionID != newID || m.ForkedFromID != "0194a1b2-0000-7000-8000-000000000001" || m.Git == nil {
		t.Errorf("fork meta = %+v", m)
	}
	for i, l := range parent {
		if !bytes.Equal(got[i+1], l) {
			t.Errorf("line %d not copied byte-identical:\n got %s\nwant %s", i+2, got[i+1], l)
		}
	}
}

func TestForkLastTurns(t *testing.T) {
	tests := []struct {
		name, src string
		n         int
		firstKind Kind
		check     func(t *testing.T, items []Item)
	}{
		{"legacy last 1", legacyFixture, 1, KindResponseItem, func(t *testing.T, items []Item) {
			if r := items[1].Payload.(*ResponseItem); r.Text() != "third question" {
				t.Errorf("first copied = %q", r.Text())
			}
			for _, it := range items[2:] {
				if it.Kind() == KindSessionMeta || it.Kind() == KindTurnContext {
					t.Errorf("metadata line of the cut part copied: %s", it.Raw())
				}
			}
		}},
		// An inter-agent message is a user turn, as in Codex.
		{"legacy last 2", legacyFixture, 2, KindInterAgentCommunication, func(t *testing.T, items []Item) {}},
		{"legacy last 3", legacyFixture, 3, KindResponseItem, func(t *testing.T, items []Item) {
			if r := items[1].Payload.(*ResponseItem); r.Text() != "second question" {
				t.Errorf("first copied = %q", r.Text())
			}
		}},
		{"legacy more than all", legacyFixture, 10, KindResponseItem, func(t *testing.T, items []Item) {
			if r := items[1].Payload.(*ResponseItem); r.Text() != "first question" {
				t.Errorf("first copied = %q", r.Text())
			}
		}},
		{"paginated last 1", compactionCorpus, 1, KindEventMsg, func(t *testing.T, items []Item) {
			e := items[1].Payload.(*EventMsg)
			turns := Turns(items)
			if !e.Is(EventTurnStarted) || len(turns) != 1 || turns[0].ID != e.TurnID || turns[0].Status != TurnCompleted {
				t.Errorf("fork starts with %s, turns %+v", e.Type, turns)
			}
			for i, it := range items {
				if it.Ordinal == nil || *it.Ordinal != uint64(i) {
					t.Fatalf("ordinal %d = %v", i, it.Ordinal)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newID := ThreadID("0194a1b2-0000-7000-8000-0000000000f2")
			path := filepath.Join(t.TempDir(), FileName(time.Now(), newID))
			rec, err := Fork(context.Background(), tt.src, ForkOptions{NewID: newID, Path: path, LastTurns: tt.n})
			if err != nil {
				t.Fatal(err)
			}
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			items, errs := readAll(t, path, ReadOptions{})
			if len(errs) != 0 || len(items) < 2 || items[0].Kind() != KindSessionMeta || items[1].Kind() != tt.firstKind {
				t.Fatalf("fork = %d items %v, first kinds %s %s", len(items), errs, items[0].Kind(), items[1].Kind())
			}
			// Copied lines are the parent's tail, byte-identical (but the
			// ordinal).
			// Copied lines are the parent's tail, byte-identical (but the
			// ordinal). World_state patches before the first full record
			// are dropped (no baseline in a last-turns fork), so those
			// lines are compared apart.
			isWorld := func(l []byte) bool { return bytes.Contains(l, []byte(`"type":"world_state"`)) }
			var parent [][]byte
			for _, l := range fileLines(t, tt.src) {
				if !isWorld(l) {
					parent = append(parent, l)
				}
			}
			var copied []Item
			sawFull := false
			for _, it := range items[1:] {
				ws, ok := it.Payload.(*WorldState)
				if !ok {
					copied = append(copied, it)
					continue
				}
				if !ws.Full && !sawFull {
					t.Errorf("last-turns fork copied a world_state patch before any full record: %s", it.Raw())
				}
				sawFull = sawFull || ws.Full
			}
			tail := parent[len(parent)-len(copied):]
			for i, l := range tail {
				if !bytes.Equal(stripOrdinal(copied[i].Raw()), stripOrdinal(l)) {
					t.Fatalf("copied line %d differs:\n got %s\nwant %s", i, copied[i].Raw(), l)
				}
			}
			for i, it := range items {
				if tt.firstKind == KindEventMsg && (it.Ordinal == nil || *it.Ordinal != uint64(i)) {
					t.Fatalf("ordinal %d = %v, want %d", i, it.Ordinal, i)
				}
			}
			tt.check(t, items)
		})
	}
}

func TestForkOpenTurnAndResume(t *testing.T) {
	dir := t.TempDir()
	parentID := ThreadID("0194a1b2-0000-7000-8000-0000000000f3")
	src := filepath.Join(dir, FileName(time.Now(), parentID))
	r, err := NewRecorder(RecorderConfig{Path: src, Meta: testMeta(parentID, HistoryModePaginated)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Append(ev(t, TurnStarted{TurnID: "t1"}), NewMessage(RoleUser, "hi"), &Unknown{Type: "future_kind", Raw: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The parent is still open for writing: forking reads it anyway.
	newID := ThreadID("0194a1b2-0000-7000-8000-0000000000f4")
	fork, err := Fork(context.Background(), src, ForkOptions{NewID: newID, Path: filepath.Join(dir, FileName(time.Now(), newID))})
	if err != nil {
		t.Fatal(err)
	}
	if err := fork.Append(ev(t, TurnStarted{TurnID: "t2"})); err != nil {
		t.Fatal(err)
	}
	if err := fork.Close(); err != nil {
		t.Fatal(err)
	}
	items, _ := readAll(t, fork.Path(), ReadOptions{})
	turns := Turns(items)
	if len(turns) != 2 || turns[0].ID != "t1" || turns[0].Status != TurnInterrupted || turns[1].Status != TurnInProgress {
		t.Errorf("fork turns = %+v", turns)
	}
	if u, ok := items[4].Payload.(*Unknown); !ok || string(u.Raw) != `{"x":1}` {
		t.Errorf("unknown line not copied: %+v", items[4])
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Bad inputs.
	if _, err := Fork(context.Background(), src, ForkOptions{NewID: "nope"}); !errors.Is(err, ErrInvalidThreadID) {
		t.Errorf("Fork(bad id) = %v", err)
	}
	if _, err := Fork(context.Background(), dir, ForkOptions{NewID: newID}); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Fork(dir) = %v, want ErrNotRegular", err)
	}
	if _, err := Fork(context.Background(), src, ForkOptions{NewID: newID, Path: fork.Path()}); err == nil {
		t.Error("Fork over an existing rollout = nil error")
	}
	if _, err := os.Stat(fork.Path()); err != nil {
		t.Error(err)
	}
}

// stripOrdinal returns a line with its ordinal set to 0 (legacy lines, which
// have none, are returned as they are).
func stripOrdinal(line []byte) []byte {
	if out, ok := rewriteOrdinal(nil, line, 0); ok {
		return out
	}
	return line
}
