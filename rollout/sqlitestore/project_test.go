package sqlitestore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

// allItems pages through every projected item of id.
func allItems(t *testing.T, s *Store, id rollout.ThreadID, limit int) []ItemRecord {
	t.Helper()
	var out []ItemRecord
	cursor := ""
	for range 10000 {
		p, err := s.Items(context.Background(), id, Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("Items(%s) = %v", id, err)
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		cursor = p.Next
	}
	t.Fatal("Items: too many pages")
	return nil
}

func TestItemsPaginatedCorpus(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	copyTree(t, filepath.Join("testdata", "codex-0.169", "multiagent", "codex_home"), home)
	s, err := Open(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root := rollout.ThreadID("01a21136-9763-7800-b22b-e3b009215564")
	th, err := s.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	// What the rollout says: the distinct item_completed snapshots.
	want := map[[2]string]string{}
	var order [][2]string
	for it, err := range rollout.Read(th.RolloutPath, rollout.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev, ok := it.Payload.(*rollout.EventMsg); ok && ev.Is(rollout.EventItemCompleted) {
			var ic rollout.ItemCompleted
			if err := ev.Decode(&ic); err != nil {
				t.Fatal(err)
			}
			typ, id, _ := ic.ItemHeader()
			k := [2]string{ic.TurnID, id}
			if _, ok := want[k]; !ok {
				order = append(order, k)
			}
			want[k] = typ
		}
	}
	if len(order) == 0 {
		t.Fatal("corpus rollout has no item_completed events")
	}
	got := allItems(t, s, root, 7)
	if len(got) != len(order) {
		t.Fatalf("Items(root) = %d items, want %d", len(got), len(order))
	}
	for i, r := range got {
		if k := order[i]; r.TurnID != k[0] || r.ItemID != k[1] || r.Type != want[k] {
			t.Errorf("item %d = %s/%s %s, want %s/%s %s", i, r.TurnID, r.ItemID, r.Type, k[0], k[1], want[k])
		}
		if r.Ordinal == nil || !json.Valid(r.JSON) {
			t.Errorf("item %d: ordinal %v, valid JSON %v", i, r.Ordinal, json.Valid(r.JSON))
		}
		if i > 0 && r.Seq <= got[i-1].Seq {
			t.Errorf("item %d: seq %d after %d", i, r.Seq, got[i-1].Seq)
		}
	}
	_, err = s.Items(ctx, root, Page{Cursor: "nope"})
	if !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("Items(bad cursor) = %v, want ErrInvalidCursor", err)
	}
}

func TestItemsIncrementalAndRollback(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.Create(ctx, CreateOptions{Meta: rollout.SessionMeta{Cwd: "/w"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(p rollout.EventPayload) *rollout.EventMsg {
		e, err := rollout.NewEvent(p)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	userTurn := func(turn, text string) []rollout.Payload {
		u := rollout.NewMessage(rollout.RoleUser, text)
		u.Passthrough = &rollout.Passthrough{TurnID: turn}
		a := rollout.NewMessage(rollout.RoleAssistant, "re: "+text)
		a.Passthrough = &rollout.Passthrough{TurnID: turn}
		return []rollout.Payload{ev(rollout.TurnStarted{TurnID: turn}), u, a, ev(rollout.TurnComplete{TurnID: turn})}
	}
	if err := w.Append(userTurn("t1", "one")...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	first := allItems(t, s, w.ID(), 100)
	if len(first) != 2 || first[0].TurnID != "t1" || first[0].Type != rollout.ItemMessage {
		t.Fatalf("Items after turn 1 = %+v, want 2 messages of t1", first)
	}
	var off1 int64
	if err := s.ix.db.QueryRow(`SELECT next_byte_offset FROM thread_projection WHERE thread_id = ?`, string(w.ID())).Scan(&off1); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(userTurn("t2", "two")...); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(userTurn("t3", "three")...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all := allItems(t, s, w.ID(), 1)
	if len(all) != 6 || all[0].Seq != first[0].Seq || all[5].TurnID != "t3" {
		t.Fatalf("Items after 3 turns = %d items (first seq %d, last turn %s), want 6 keeping earlier seqs", len(all), all[0].Seq, all[len(all)-1].TurnID)
	}
	var off2 int64
	if err := s.ix.db.QueryRow(`SELECT next_byte_offset FROM thread_projection WHERE thread_id = ?`, string(w.ID())).Scan(&off2); err != nil {
		t.Fatal(err)
	}
	if off2 <= off1 {
		t.Errorf("projection offset %d did not advance past %d", off2, off1)
	}
	if err := w.Append(ev(rollout.ThreadRolledBack{NumTurns: 2})); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	after := allItems(t, s, w.ID(), 100)
	if len(after) != 2 || after[0].TurnID != "t1" || after[1].TurnID != "t1" {
		t.Errorf("Items after rolling back 2 turns = %+v, want t1's 2 items", after)
	}
	// A torn tail (a crash mid-append) is not projected until it is whole.
	th, _ := s.Get(ctx, w.ID())
	f, err := os.OpenFile(th.RolloutPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"timestamp":"2026-01-01T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"half`)
	f.Close()
	if got := allItems(t, s, w.ID(), 100); len(got) != 2 {
		t.Errorf("Items with a torn tail = %d, want 2", len(got))
	}
}
