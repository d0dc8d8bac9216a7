package rollout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

const (
	compactionCorpus = "testdata/corpus/compaction/sessions/2026/11/25/rollout-2026-11-25T05-39-02-01a21136-f0c8-7720-84c1-5ba0a0b54fa5.jsonl"
	slowpokeCorpus   = "testdata/corpus/multiagent/sessions/2026/11/25/rollout-2026-11-25T05-38-40-01a21136-9945-7643-97a3-cbee24a1beb8.jsonl"
	rootCorpus       = "testdata/corpus/multiagent/sessions/2026/11/25/rollout-2026-11-25T05-38-40-01a21136-9763-7800-b22b-e3b009215564.jsonl"
)

func texts(items []*ResponseItem) []string {
	var out []string
	for _, r := range items {
		out = append(out, r.Type+":"+r.Role+":"+r.Text())
	}
	return out
}

func TestReconstructCorpusCompaction(t *testing.T) {
	items, errs := readAll(t, compactionCorpus, ReadOptions{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	h, err := ReconstructHistory(items)
	if err != nil {
		t.Fatal(err)
	}
	var last *Compacted
	lastIdx := 0
	for i, it := range items {
		if c, ok := it.Payload.(*Compacted); ok {
			last, lastIdx = c, i
		}
	}
	var want []*ResponseItem
	for i := range last.ReplacementHistory {
		want = append(want, &last.ReplacementHistory[i])
	}
	for _, it := range items[lastIdx+1:] {
		if r, ok := it.Payload.(*ResponseItem); ok {
			want = append(want, r)
		}
	}
	if !reflect.DeepEqual(texts(h.Items), texts(want)) {
		t.Errorf("Items = %q\nwant %q", texts(h.Items), texts(want))
	}
	if h.Compactions != 2 || h.Window.Number != 2 || h.Window.ID != last.WindowID || h.Window.PreviousID != last.PreviousWindowID || h.Window.FirstID != last.FirstWindowID {
		t.Errorf("Window = %+v, compactions %d", h.Window, h.Compactions)
	}
	if h.TurnContext == nil || h.TurnContext != h.LastTurnContext {
		t.Errorf("TurnContext = %+v, want the last turn's", h.TurnContext)
	}
	// World state replay: records in file order, ending with the newest.
	if len(h.WorldState) == 0 {
		t.Fatal("no world state records")
	}
	for i := 1; i < len(h.WorldState); i++ {
		if h.WorldState[i].Timestamp.Before(h.WorldState[i-1].Timestamp) {
			t.Fatalf("world state records out of order at %d", i)
		}
	}
}

func TestReconstructCorpusMultiagent(t *testing.T) {
	items, _ := readAll(t, rootCorpus, ReadOptions{})
	h, err := ReconstructHistory(items)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range items {
		if _, ok := it.Payload.(*ResponseItem); ok {
			n++
		}
	}
	if len(h.Items) != n {
		t.Errorf("len(Items) = %d, want every response item (%d)", len(h.Items), n)
	}
	agentMsgs := 0
	for _, r := range h.Items {
		if r.Type == ItemAgentMessage {
			agentMsgs++
		}
	}
	if agentMsgs == 0 {
		t.Error("no agent_message in the root's history")
	}
	if h.Window.ID == "" || h.Window.ID != h.Meta.ContextWindow.WindowID || h.Window.Number != 0 {
		t.Errorf("Window = %+v, want the meta's window", h.Window)
	}
}

func TestReconstructLegacy(t *testing.T) {
	items, _ := readAll(t, legacyFixture, ReadOptions{})
	h, err := ReconstructHistory(items)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"message:user:first question",
		"message:user:second question",
		"message:user:summary of the first two turns",
		"message:user:third question",
		"function_call::",
		"function_call_output::",
		"message:assistant:third answer",
	}
	if got := texts(h.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("Items = %q\nwant %q", got, want)
	}
	if h.TurnContext != nil {
		t.Errorf("TurnContext = %+v, want nil after a legacy compaction", h.TurnContext)
	}
	if h.Window.Number != 1 {
		t.Errorf("Window = %+v, want number 1 (legacy numeric window_id)", h.Window)
	}
	if h.Meta.SessionID != h.Meta.ID {
		t.Errorf("SessionID = %q", h.Meta.SessionID)
	}
}

// synth builds items from payloads with increasing timestamps.
func synth(ps ...Payload) []Item {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	items := make([]Item, len(ps))
	for i, p := range ps {
		items[i] = Item{Timestamp: base.Add(time.Duration(i) * time.Second), Payload: p}
	}
	return items
}

func ev(t testing.TB, p EventPayload) *EventMsg { return mustEvent(t, p) }

func TestReconstructRollback(t *testing.T) {
	meta := testMeta("0194a1b2-0000-7000-8000-000000000010", HistoryModePaginated)
	ws := func(s string) *WorldState { return &WorldState{Full: true, State: json.RawMessage(`"` + s + `"`)} }
	tc := func(id string) *TurnContext { return &TurnContext{TurnID: id, Model: "m-" + id} }
	// A turn as Codex writes it; a mid-turn compaction comes before the
	// world state and turn context that re-establish the baseline.
	turn := func(id, text string, extra ...Payload) []Payload {
		ps := []Payload{ev(t, TurnStarted{TurnID: id}), NewMessage(RoleUser, text)}
		ps = append(ps, extra...)
		ps = append(ps, ws(id), tc(id))
		return append(ps, NewMessage(RoleAssistant, "re "+text), ev(t, TurnComplete{TurnID: id}))
	}
	var ps []Payload
	ps = append(ps, meta)
	ps = append(ps, turn("a", "one")...)
	ps = append(ps, turn("b", "two", &Compacted{Message: "sum", ReplacementHistory: []ResponseItem{*NewMessage(RoleUser, "one"), *NewMessage(RoleUser, SummaryPrefix+"\nsum")}})...)
	ps = append(ps, ev(t, ThreadRolledBack{NumTurns: 1}))
	h, err := ReconstructHistory(synth(ps...))
	if err != nil {
		t.Fatal(err)
	}
	// As in Codex, the rolled-back compaction is replayed forward, then the
	// rollback drops the last user turn (the summary message onwards).
	if got, want := texts(h.Items), []string{"message:user:one"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Items = %q, want %q (turn b rolled back)", got, want)
	}
	if len(h.WorldState) != 1 || string(h.WorldState[0].Payload.(*WorldState).State) != `"a"` {
		t.Errorf("WorldState = %v, want only turn a's", h.WorldState)
	}
	if h.TurnContext == nil || h.TurnContext.TurnID != "a" || h.LastTurnContext.TurnID != "b" {
		t.Errorf("TurnContext = %+v, LastTurnContext = %+v", h.TurnContext, h.LastTurnContext)
	}

	// Without the rollback the compaction is the base.
	h, err = ReconstructHistory(synth(ps[:len(ps)-1]...))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(h.Items), []string{"message:user:one", "message:user:" + SummaryPrefix + "\nsum", "message:assistant:re two"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Items = %q, want %q", got, want)
	}
	if h.TurnContext == nil || h.TurnContext.TurnID != "b" {
		t.Errorf("TurnContext = %+v, want b's (set after the compaction)", h.TurnContext)
	}
	// a's record is cleared by the compaction on replay: not kept.
	if len(h.WorldState) != 2 || h.WorldState[0].Kind() != KindCompacted {
		t.Errorf("WorldState = %v, want the compaction, b's", h.WorldState)
	}

	// Fail closed.
	bad := *meta
	bad.HistoryMode = "future"
	if _, err := ReconstructHistory(synth(&bad)); err == nil {
		t.Error("ReconstructHistory(future mode) = nil error")
	}
	if _, err := ReconstructHistory(synth(NewMessage(RoleUser, "x"))); err == nil {
		t.Error("ReconstructHistory(no meta) = nil error")
	}
}

func TestDropLastUserTurns(t *testing.T) {
	env := NewMessage(RoleUser, "<environment_context>x</environment_context>")
	hist := []*ResponseItem{NewMessage(RoleDeveloper, "dev"), env, NewMessage(RoleUser, "u1"), NewMessage(RoleAssistant, "a1"),
		{Type: ItemAgentMessage, Author: "/root/w", Recipient: "/root", Content: []ContentPart{{Type: PartInputText, Text: "mail"}}}, NewMessage(RoleAssistant, "a2")}
	tests := []struct {
		n    int
		want int
	}{{0, 6}, {1, 4}, {2, 2}, {5, 2}}
	for _, tt := range tests {
		if got := DropLastUserTurns(hist, tt.n); len(got) != tt.want {
			t.Errorf("DropLastUserTurns(%d) = %d items, want %d", tt.n, len(got), tt.want)
		}
	}
}

// The token usage that describes the history is the newest token_count
// after the base; a later compaction or rollback makes it stale.
func TestReconstructTokenUsage(t *testing.T) {
	meta := testMeta("0194a1b2-0000-7000-8000-000000000011", HistoryModePaginated)
	count := func(total int64) *EventMsg {
		return ev(t, TokenCount{Info: &TokenCountInfo{LastTokenUsage: TokenUsage{TotalTokens: total}, TotalTokenUsage: TokenUsage{TotalTokens: 10 * total}}})
	}
	compacted := &Compacted{Message: "s", ReplacementHistory: []ResponseItem{*NewMessage(RoleUser, "kept")}}
	tests := []struct {
		name  string
		ps    []Payload
		total int64 // 0: no usage
		after int
	}{
		{"none", []Payload{meta, NewMessage(RoleUser, "a")}, 0, 0},
		{"newest with items after", []Payload{meta, NewMessage(RoleUser, "a"), count(5), NewMessage(RoleAssistant, "b"), count(7),
			NewMessage(RoleUser, "c"), NewFunctionCall("c1", "f", "{}")}, 7, 2},
		{"compaction makes it stale", []Payload{meta, NewMessage(RoleUser, "a"), count(5), compacted, NewMessage(RoleUser, "b")}, 0, 0},
		{"usage after the compaction", []Payload{meta, NewMessage(RoleUser, "a"), compacted, NewMessage(RoleUser, "b"), count(3)}, 3, 0},
		{"rollback makes it stale", []Payload{meta, ev(t, TurnStarted{TurnID: "t"}), NewMessage(RoleUser, "a"), count(5),
			ev(t, TurnComplete{TurnID: "t"}), ev(t, ThreadRolledBack{NumTurns: 1})}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReconstructHistory(synth(tt.ps...))
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			if h.TokenUsage != nil {
				total = h.TokenUsage.LastTokenUsage.TotalTokens
				if h.TokenUsage.TotalTokenUsage.TotalTokens != 10*total {
					t.Errorf("TotalTokenUsage = %+v", h.TokenUsage.TotalTokenUsage)
				}
			}
			if total != tt.total || h.ItemsAfterUsage != tt.after {
				t.Errorf("usage = %d with %d items after, want %d with %d", total, h.ItemsAfterUsage, tt.total, tt.after)
			}
		})
	}
}

func TestResumeWindow(t *testing.T) {
	n := func(v uint64) *uint64 { return &v }
	meta := &SessionMeta{ContextWindow: &ContextWindow{WindowID: "w0"}}
	numbered := &Compacted{WindowNumber: n(2), FirstWindowID: "w0", PreviousWindowID: "w1", WindowID: "w2"}
	legacy := &Compacted{Message: "old"}
	tests := []struct {
		name string
		meta *SessionMeta
		cs   []*Compacted
		want Window
	}{
		{"meta only", meta, nil, Window{FirstID: "w0", ID: "w0"}},
		{"no meta window", &SessionMeta{}, nil, Window{}},
		{"numbered wins over meta", meta, []*Compacted{legacy, numbered}, Window{Number: 2, FirstID: "w0", PreviousID: "w1", ID: "w2"}},
		{"newest numbered, legacy after", meta, []*Compacted{numbered, legacy}, Window{Number: 2, FirstID: "w0", PreviousID: "w1", ID: "w2"}},
		{"legacy counts", meta, []*Compacted{legacy, legacy}, Window{Number: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResumeWindow(tt.meta, tt.cs); got != tt.want {
				t.Errorf("ResumeWindow = %+v, want %+v", got, tt.want)
			}
			// ReconstructHistory agrees.
			ps := []Payload{tt.meta}
			for _, c := range tt.cs {
				ps = append(ps, c)
			}
			m := *tt.meta
			m.ID, m.HistoryMode = "0194a1b2-0000-7000-8000-000000000012", HistoryModePaginated
			ps[0] = &m
			h, err := ReconstructHistory(synth(ps...))
			if err != nil {
				t.Fatal(err)
			}
			if h.Window != tt.want {
				t.Errorf("ReconstructHistory window = %+v, want %+v", h.Window, tt.want)
			}
		})
	}
}
