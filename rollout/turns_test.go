package rollout

import (
	"strings"
	"testing"
)

func TestTurnsCorpus(t *testing.T) {
	for _, f := range corpusFiles(t) {
		items, _ := readAll(t, f, ReadOptions{})
		turns := Turns(items)
		started := 0
		for _, it := range items {
			if e, ok := it.Payload.(*EventMsg); ok && e.Is(EventTurnStarted) {
				started++
			}
		}
		if len(turns) != started {
			t.Errorf("%s: %d turns, want %d (one per task_started)", f, len(turns), started)
		}
		for _, tr := range turns {
			if !tr.Explicit || tr.StartedAt.IsZero() {
				t.Errorf("%s: turn %+v", f, tr)
			}
			if tr.Status == TurnCompleted && (tr.CompletedAt.IsZero() || tr.Duration <= 0) {
				t.Errorf("%s: completed turn %s has no timing: %+v", f, tr.ID, tr)
			}
		}
		last := turns[len(turns)-1]
		switch {
		case strings.Contains(f, "9945-7643"): // slowpoke: interrupted
			if last.Status != TurnInterrupted {
				t.Errorf("slowpoke last turn = %s, want interrupted", last.Status)
			}
		case strings.Contains(f, "compaction"):
			kinds := map[string]int{}
			for _, tr := range turns {
				if tr.Status != TurnCompleted {
					t.Errorf("compaction turn %s = %s", tr.ID, tr.Status)
				}
				for _, ti := range tr.Items {
					kinds[ti.Type]++
				}
			}
			if kinds["ContextCompaction"] != 2 || kinds["UserMessage"] == 0 || kinds["AgentMessage"] == 0 {
				t.Errorf("compaction item kinds = %v", kinds)
			}
		default:
			if last.Status != TurnCompleted {
				t.Errorf("%s: last turn = %s, want completed", f, last.Status)
			}
		}
	}
}

func TestTurnsLegacyImplicit(t *testing.T) {
	items, _ := readAll(t, legacyFixture, ReadOptions{})
	turns := Turns(items)
	if len(turns) != 3 {
		t.Fatalf("%d turns, want 3 implicit", len(turns))
	}
	wantIDs := []string{"rollout-2", "rollout-9", "rollout-14"}
	wantItems := [][]string{{"UserMessage", "AgentMessage"}, {"UserMessage", "ContextCompaction"}, {"UserMessage", "AgentMessage"}}
	n := 1
	for i, tr := range turns {
		if tr.ID != wantIDs[i] || tr.Explicit || tr.Status != TurnCompleted {
			t.Errorf("turn %d = %s %v %s", i, tr.ID, tr.Explicit, tr.Status)
		}
		var types []string
		for _, ti := range tr.Items {
			types = append(types, ti.Type)
			if want := "item-" + string(rune('0'+n)); ti.ID != want {
				t.Errorf("item id = %s, want %s", ti.ID, want)
			}
			n++
		}
		if strings.Join(types, ",") != strings.Join(wantItems[i], ",") {
			t.Errorf("turn %d items = %v, want %v", i, types, wantItems[i])
		}
	}
}

func TestTurnsReducer(t *testing.T) {
	msg := "m"
	item := func(turn, id, text string) *EventMsg {
		return ev(t, ItemCompleted{TurnID: turn, Item: []byte(`{"type":"CommandExecution","id":"` + id + `","text":"` + text + `"}`)})
	}
	tests := []struct {
		name  string
		ps    []Payload
		check func(t *testing.T, turns []Turn)
	}{
		{"failed turn", []Payload{ev(t, TurnStarted{TurnID: "a"}), ev(t, TurnComplete{TurnID: "a", Error: &TurnError{Message: "boom"}})}, func(t *testing.T, turns []Turn) {
			if len(turns) != 1 || turns[0].Status != TurnFailed || turns[0].Error.Message != "boom" {
				t.Errorf("turns = %+v", turns)
			}
		}},
		{"late completion does not close the current turn", []Payload{
			ev(t, TurnStarted{TurnID: "a"}), ev(t, TurnStarted{TurnID: "b"}), ev(t, TurnComplete{TurnID: "a", LastAgentMessage: &msg}), ev(t, TurnAborted{TurnID: "a", Reason: "interrupted"}),
		}, func(t *testing.T, turns []Turn) {
			if len(turns) != 2 || turns[0].Status != TurnInterrupted || turns[1].ID != "b" || turns[1].Status != TurnInProgress {
				t.Errorf("turns = %+v", turns)
			}
		}},
		{"items upserted by id into the named turn", []Payload{
			ev(t, TurnStarted{TurnID: "a"}), item("a", "x", "1"), ev(t, TurnComplete{TurnID: "a"}),
			ev(t, TurnStarted{TurnID: "b"}), item("a", "x", "2"), item("a", "y", "3"), item("zz", "q", "4"), ev(t, TurnComplete{TurnID: "b"}),
		}, func(t *testing.T, turns []Turn) {
			if len(turns) != 2 || len(turns[0].Items) != 2 || len(turns[1].Items) != 0 || !strings.Contains(string(turns[0].Items[0].Raw), `"2"`) {
				t.Errorf("turns = %+v", turns)
			}
		}},
		{"rollback drops turns", []Payload{
			ev(t, TurnStarted{TurnID: "a"}), ev(t, TurnComplete{TurnID: "a"}), ev(t, TurnStarted{TurnID: "b"}), ev(t, TurnComplete{TurnID: "b"}),
			ev(t, ThreadRolledBack{NumTurns: 1}), ev(t, TurnStarted{TurnID: "c"}), ev(t, ThreadRolledBack{NumTurns: 9}),
		}, func(t *testing.T, turns []Turn) {
			if len(turns) != 0 {
				t.Errorf("turns = %+v, want none", turns)
			}
		}},
		{"steering stays in the explicit turn", []Payload{
			ev(t, TurnStarted{TurnID: "a"}), ev(t, UserMessage{Message: "start"}), ev(t, UserMessage{Message: "steer"}), ev(t, TurnComplete{TurnID: "a"}),
		}, func(t *testing.T, turns []Turn) {
			if len(turns) != 1 || len(turns[0].Items) != 2 || turns[0].Items[1].ID != "item-2" {
				t.Errorf("turns = %+v", turns)
			}
		}},
		{"compaction-only implicit turn kept, empty one dropped", []Payload{
			ev(t, UserMessage{Message: "u"}), &Compacted{Message: "s"}, ev(t, ContextCompacted{}),
			ev(t, AgentReasoning{Text: "r1"}), ev(t, AgentReasoning{Text: "r2"}),
		}, func(t *testing.T, turns []Turn) {
			if len(turns) != 1 || len(turns[0].Items) != 3 || turns[0].Items[2].Type != "Reasoning" || !strings.Contains(string(turns[0].Items[2].Raw), `"r1","r2"`) {
				t.Errorf("turns = %+v", turns)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Turns(synth(tt.ps...)))
		})
	}
}
