package agent_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// window0 is the id of window 0 of the threads created by these tests.
const window0 = "01a21136-f0cb-7643-a0f9-6c624bbfdd8a"

// newWindowedRecorder returns a real recorder for a new thread whose
// session_meta names window 0, and the window to give the agent.
func newWindowedRecorder(t *testing.T) (*rollout.Recorder, string, rollout.Window) {
	t.Helper()
	created := time.Date(2026, 11, 25, 5, 38, 50, 0, time.UTC)
	path := rollout.SessionPath(t.TempDir(), created, testThread)
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{
		Path: path,
		Meta: &rollout.SessionMeta{ID: testThread, SessionID: testThread, Timestamp: rollout.FormatTimestamp(created),
			Cwd: "/w", Originator: "troupe_test", CLIVersion: "0", HistoryMode: rollout.HistoryModePaginated,
			ContextWindow: &rollout.ContextWindow{WindowID: window0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, path, rollout.Window{FirstID: window0, ID: window0}
}

// resume reopens the rollout at path and reconstructs its history.
func resume(t *testing.T, path string) (*rollout.Recorder, *rollout.History) {
	t.Helper()
	rec, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	hist, corrupt, err := rollout.LoadHistory(path)
	if err != nil || len(corrupt) > 0 {
		t.Fatalf("LoadHistory = %v, %v", corrupt, err)
	}
	return rec, hist
}

// compactedRecords returns the compacted records of a rollout, in order.
func compactedRecords(items []rollout.Item) []*rollout.Compacted {
	var out []*rollout.Compacted
	for _, it := range items {
		if c, ok := it.Payload.(*rollout.Compacted); ok {
			out = append(out, c)
		}
	}
	return out
}

func (r *memRecorder) compacted() []*rollout.Compacted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return compactedRecords(r.items)
}

func isPrompt(it rollout.ResponseItem) bool {
	return it.IsUserMessage() && it.Text() == agent.DefaultSummarizationPrompt
}

func summaryText(s string) string { return rollout.SummaryPrefix + "\n" + s }

// turnEvents keeps the events of one turn, rendered by eventNames, without
// token counts and warnings.
func turnEvents(evs []agent.Event, turnID string) []string {
	var keep []agent.Event
	for _, ev := range evs {
		switch ev.(type) {
		case *agent.TokenCount, *agent.Warning:
			continue
		}
		if ev.Header().TurnID == turnID {
			keep = append(keep, ev)
		}
	}
	return eventNames(keep)
}

// compactionItems renders the ContextCompaction item events of turnID:
// "started", "completed:<status>" (status "ok" when empty), checking that
// each completion has the id of the item started.
func compactionItems(evs []agent.Event, turnID string) string {
	var out []string
	started := ""
	for _, ev := range evs {
		if ev.Header().TurnID != turnID {
			continue
		}
		switch e := ev.(type) {
		case *agent.ItemStarted:
			if c, ok := e.Item.(*agent.ContextCompaction); ok {
				started = c.ID
				out = append(out, "started")
			}
		case *agent.ItemCompleted:
			if c, ok := e.Item.(*agent.ContextCompaction); ok {
				status := c.Status
				if status == "" {
					status = "ok"
				}
				if c.ID != started {
					status += "(other id)"
				}
				out = append(out, "completed:"+status)
			}
		}
	}
	return strings.Join(out, " ")
}

// SPEC-agent 3.10 item 11: comp_hash a→b between turns compacts with model a
// before the turn; a missing hash on either side (or the same hash) does not.
func TestCompHashChangeCompactsWithPreviousModel(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur string
		compact   bool
	}{
		{"changed", "hash-a", "hash-b", true},
		{"previous missing", "", "hash-b", false},
		{"current missing", "hash-a", "", false},
		{"unchanged", "hash-a", "hash-a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ma := modeltest.New(t, modeltest.Text("one"))
			mb := modeltest.New(t)
			if tt.compact {
				ma.Add(modeltest.Text("the summary"))
			}
			mb.Add(modeltest.Text("two"))
			h := start(t, ma, func(c *agent.Config) {
				c.TurnContext = &rollout.TurnContext{Cwd: "/w", Model: "model-a", CompHash: tt.prev}
				c.ModelFor = func(name string) (agent.Model, error) {
					switch name {
					case "model-a":
						return ma, nil
					case "model-b":
						return mb, nil
					}
					return nil, fmt.Errorf("unknown model %q", name)
				}
			})
			h.run("first")
			if err := h.a.SetTurnContext(ctx(t), &rollout.TurnContext{Cwd: "/w", Model: "model-b", CompHash: tt.cur}); err != nil {
				t.Fatal(err)
			}
			turn := h.submit("second")
			if res := h.wait(turn); res.Err != nil || res.LastAgentMessage != "two" {
				t.Fatalf("second turn = %+v", res)
			}
			got := modeltest.UserTexts(mb.Request(0))
			evs := turnEvents(h.events(turn.ID()), turn.ID())
			if !tt.compact {
				if n := len(ma.Requests()); n != 1 {
					t.Errorf("model a got %d requests, want 1 (no compaction)", n)
				}
				if want := []string{"first", "second"}; !equal(got, want) || len(mb.Request(0).Input) != 3 {
					t.Errorf("model b request = %v, want the whole history then the input", modeltest.Kinds(mb.Request(0)))
				}
				if len(h.rec.compacted()) != 0 || h.a.Window().Number != 0 {
					t.Errorf("compacted without a comp_hash change")
				}
				return
			}
			// The summary request went to model a: the history, then the prompt.
			req := ma.Request(1)
			if in := req.Input; len(in) != 3 || in[0].Text() != "first" || in[1].Text() != "one" || !isPrompt(in[2]) {
				t.Errorf("compaction request = %v, want first, one, prompt", modeltest.Kinds(req))
			}
			if want := []string{"first", summaryText("the summary"), "second"}; !equal(got, want) || len(mb.Request(0).Input) != 3 {
				t.Errorf("model b request user texts = %q, want %q", got, want)
			}
			if w := mb.Request(0).Metadata.WindowID; w != agent.WindowID(testThread, 1) {
				t.Errorf("window id after compaction = %q", w)
			}
			want := []string{"TurnStarted", "ItemStarted/ContextCompaction", "ItemCompleted/ContextCompaction",
				"ItemStarted/UserMessage", "ItemCompleted/UserMessage", "ItemStarted/AgentMessage", "AgentMessageDelta",
				"ItemCompleted/AgentMessage", "TurnComplete"}
			if !equal(evs, want) {
				t.Errorf("second turn events =\n%v\nwant\n%v", evs, want)
			}
			// Rollout: the compaction comes before the turn's turn_context
			// and input.
			lines := h.rec.lines()
			var tail []string
			for i := len(lines) - 1; i >= 0 && lines[i] != "event_msg/task_started"; i-- {
				tail = append([]string{lines[i]}, tail...)
			}
			if len(tail) < 3 || tail[0] != "compacted" || tail[1] != "event_msg/context_compacted" || tail[2] != "turn_context" {
				t.Errorf("second turn rollout = %v, want compacted, context_compacted, turn_context first", tail)
			}
		})
	}
}

// SPEC-agent 3.10 item 12: window lineage survives compact → resume →
// compact: numbers 0, 1, 2; the first id constant; previous = prior current.
func TestWindowLineageSurvivesResume(t *testing.T) {
	rec, path, w0 := newWindowedRecorder(t)
	m1 := modeltest.New(t, modeltest.Text("one"), modeltest.Text("summary 1"))
	h1 := start(t, m1, paginated, func(c *agent.Config) { c.Recorder, c.Window = rec, w0 })
	if got := h1.a.Window(); got != w0 {
		t.Fatalf("Window() = %+v, want %+v", got, w0)
	}
	h1.run("first")
	ct, err := h1.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h1.wait(ct); res.Err != nil {
		t.Fatalf("Compact turn = %+v", res.Err)
	}
	w1 := h1.a.Window()
	if w1.Number != 1 || w1.FirstID != window0 || w1.PreviousID != window0 || w1.ID == "" || w1.ID == window0 {
		t.Fatalf("window after the first compaction = %+v", w1)
	}
	h1.a.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	rec2, hist := resume(t, path)
	m2 := modeltest.New(t, modeltest.Text("summary 2"), modeltest.Text("two"))
	h2 := start(t, m2, paginated, func(c *agent.Config) { c.Recorder, c.Resume = rec2, hist })
	if got := h2.a.Window(); got != w1 {
		t.Fatalf("resumed Window() = %+v, want %+v", got, w1)
	}
	ct, err = h2.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	h2.wait(ct)
	w2 := h2.a.Window()
	if w2.Number != 2 || w2.FirstID != window0 || w2.PreviousID != w1.ID || w2.ID == w1.ID {
		t.Fatalf("window after compact → resume → compact = %+v (previous %+v)", w2, w1)
	}
	h2.run("second")
	if got := m2.Request(1).Metadata.WindowID; got != agent.WindowID(testThread, 2) {
		t.Errorf("request window id = %q, want window 2", got)
	}
	if err := rec2.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	cs := compactedRecords(readLines(t, path))
	if len(cs) != 2 {
		t.Fatalf("%d compacted records, want 2", len(cs))
	}
	for i, want := range []rollout.Window{w1, w2} {
		c := cs[i]
		got := rollout.Window{FirstID: c.FirstWindowID, PreviousID: c.PreviousWindowID, ID: c.WindowID}
		if c.WindowNumber != nil {
			got.Number = *c.WindowNumber
		}
		if got != want {
			t.Errorf("compacted record %d window = %+v, want %+v", i, got, want)
		}
	}
}

// A 50-turn thread compacted three times by the token limit resumes with the
// same window lineage, history and world-state baseline as before the
// restart: its next request is that history plus the new input.
func TestFiftyTurnsThreeCompactionsResume(t *testing.T) {
	rec, path, w0 := newWindowedRecorder(t)
	heavy := map[int]bool{10: true, 25: true, 40: true} // turns whose response reports a full context
	m := modeltest.New(t)
	for i := 1; i <= 50; i++ {
		if heavy[i-1] {
			m.Add(modeltest.Text(fmt.Sprintf("summary before turn %d", i)))
		}
		tokens := int64(100)
		if heavy[i] {
			tokens = 5000
		}
		m.Add(modeltest.Respond(modeltest.Text(fmt.Sprintf("answer %d", i)), modeltest.Tokens(tokens)))
	}
	env := func(agent.StepInfo) []agent.Section {
		return []agent.Section{statusSection{id: "env", status: "ready", role: rollout.RoleDeveloper}}
	}
	h := start(t, m, paginated, withSteps(&worldSteps{sections: env}), func(c *agent.Config) {
		c.Recorder, c.Window = rec, w0
		c.Compaction = agent.CompactionConfig{ContextWindow: 4000, TokenLimit: 1000}
	})
	for i := 1; i <= 50; i++ {
		if res := h.run(fmt.Sprintf("question %d", i)); res.Err != nil || res.LastAgentMessage != fmt.Sprintf("answer %d", i) {
			t.Fatalf("turn %d = %+v", i, res)
		}
	}
	before, hist := h.a.Window(), h.a.History()
	if before.Number != 3 || before.FirstID != window0 {
		t.Fatalf("window after 50 turns = %+v, want number 3 from window 0", before)
	}
	h.a.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	cs := compactedRecords(readLines(t, path))
	if len(cs) != 3 {
		t.Fatalf("%d compacted records, want 3", len(cs))
	}
	// One turn_context per turn: a compaction before a turn leaves it to
	// the turn's first step.
	turnContexts := 0
	for _, it := range readLines(t, path) {
		if it.Kind() == rollout.KindTurnContext {
			turnContexts++
		}
	}
	if turnContexts != 50 {
		t.Errorf("%d turn_context records, want 50 (one per turn)", turnContexts)
	}
	// Turns and token counts name the model's context window, as Codex's do.
	for _, it := range readLines(t, path) {
		ev, ok := it.Payload.(*rollout.EventMsg)
		if !ok {
			continue
		}
		var w *int64
		switch {
		case ev.Is(rollout.EventTurnStarted):
			var ts rollout.TurnStarted
			_ = ev.Decode(&ts)
			w = ts.ModelContextWindow
		case ev.Is(rollout.EventTokenCount):
			var tc rollout.TokenCount
			_ = ev.Decode(&tc)
			w = tc.Info.ModelContextWindow
		default:
			continue
		}
		if w == nil || *w != 4000 {
			t.Fatalf("%s model_context_window = %v, want 4000", ev.Type, w)
		}
	}
	// The world state was recorded in full at the first turn and after
	// each compaction, never otherwise (it did not change).
	if got, want := worldRecords(readLines(t, path)), []string{`full:{"env":{"status":"ready"}}`, `full:{"env":{"status":"ready"}}`, `full:{"env":{"status":"ready"}}`, `full:{"env":{"status":"ready"}}`}; !equal(got, want) {
		t.Errorf("world_state records = %v, want %v", got, want)
	}
	prev := window0
	for i, c := range cs {
		if c.WindowNumber == nil || *c.WindowNumber != uint64(i+1) || c.FirstWindowID != window0 || c.PreviousWindowID != prev {
			t.Errorf("compacted %d = number %v first %q previous %q, want %d %q %q", i, c.WindowNumber, c.FirstWindowID, c.PreviousWindowID, i+1, window0, prev)
		}
		prev = c.WindowID
	}
	// The third compaction kept the user messages of turns 1..40 (they fit
	// the allowance) then its summary; the world state follows it.
	last := cs[2].ReplacementHistory
	if n := len(last); n != 41 || last[n-1].Text() != summaryText("summary before turn 41") || last[0].Text() != "question 1" {
		t.Errorf("third replacement history has %d items, ends %q", n, last[n-1].Text())
	}

	rec2, rh := resume(t, path)
	m2 := modeltest.New(t, modeltest.Text("answer 51"))
	h2 := start(t, m2, paginated, withSteps(&worldSteps{sections: env}), func(c *agent.Config) {
		c.Recorder, c.Resume = rec2, rh
		c.Compaction = agent.CompactionConfig{ContextWindow: 4000, TokenLimit: 1000}
	})
	if got := h2.a.Window(); got != before {
		t.Errorf("resumed window = %+v, want %+v", got, before)
	}
	if got, want := jsonOf(t, h2.a.History()), jsonOf(t, hist); !reflect.DeepEqual(got, want) {
		t.Errorf("resumed history differs:\n%s\nwant\n%s", got, want)
	}
	h2.run("question 51")
	req := m2.Request(0)
	if got, want := jsonOf(t, req.Input[:len(req.Input)-1]), jsonOf(t, hist); !reflect.DeepEqual(got, want) {
		t.Errorf("first request after resume is not the history before the restart")
	}
	if req.Metadata.WindowID != agent.WindowID(testThread, 3) {
		t.Errorf("window id after resume = %q", req.Metadata.WindowID)
	}
	// The replayed baseline is the one before the restart: the world state
	// is not restated.
	if err := rec2.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(worldRecords(readLines(t, path))); n != 4 {
		t.Errorf("%d world_state records after the resumed turn, want still 4", n)
	}
}

// Mid-turn: a tool call whose response reaches the limit compacts before the
// follow-up; the follow-up holds exactly the replacement history.
func TestMidTurnCompaction(t *testing.T) {
	m := modeltest.New(t,
		modeltest.Respond(modeltest.CallID("c1", "sleep", `{"duration_ms":1}`), modeltest.Tokens(5000)),
		modeltest.Text("mid summary"),
		modeltest.Text("done"))
	h := start(t, m, func(c *agent.Config) { c.Compaction.TokenLimit = 1000 })
	turn := h.submit("go")
	if res := h.wait(turn); res.Err != nil || res.LastAgentMessage != "done" {
		t.Fatalf("turn = %+v", res)
	}
	if n := len(m.Requests()); n != 3 {
		t.Fatalf("%d requests, want 3 (step, summary, follow-up)", n)
	}
	sum := m.Request(1)
	if got, want := modeltest.Kinds(sum), []string{"message/user", "function_call sleep", "function_call_output", "message/user"}; !equal(got, want) || !isPrompt(sum.Input[3]) {
		t.Errorf("summary request = %v, want %v ending with the prompt", got, want)
	}
	cs := h.rec.compacted()
	if len(cs) != 1 {
		t.Fatalf("%d compacted records, want 1", len(cs))
	}
	follow := m.Request(2)
	if got, want := jsonOf(t, follow.Input), jsonOf(t, cs[0].ReplacementHistory); !reflect.DeepEqual(got, want) {
		t.Errorf("follow-up request =\n%s\nwant the replacement history\n%s", got, want)
	}
	if got := modeltest.UserTexts(follow); !equal(got, []string{"go", summaryText("mid summary")}) {
		t.Errorf("follow-up user texts = %q", got)
	}
	for i, want := range []int{0, 0, 1} {
		if got := m.Request(i).Metadata.WindowID; got != agent.WindowID(testThread, want) {
			t.Errorf("request %d window = %q, want window %d", i, got, want)
		}
	}
	// Rollout: the compacted record, then the turn_context, before the
	// follow-up's answer.
	lines := h.rec.lines()
	at := func(s string, from int) int {
		for i := from; i < len(lines); i++ {
			if lines[i] == s {
				return i
			}
		}
		return -1
	}
	c := at("compacted", 0)
	if c < 0 || at("turn_context", c) < 0 || at("response_item/message/assistant", c) < at("turn_context", c) {
		t.Errorf("rollout = %v, want compacted, turn_context, then the answer", lines)
	}
	evs := turnEvents(h.events(turn.ID()), turn.ID())
	if !strings.Contains(strings.Join(evs, ","), "ItemStarted/ContextCompaction,ItemCompleted/ContextCompaction") {
		t.Errorf("events = %v, want the ContextCompaction item", evs)
	}
}

// Compact is a turn of its own: compaction item events between TurnStarted
// and TurnComplete; input submitted meanwhile starts the next turn; a second
// Compact while it runs fails.
func TestExplicitCompact(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t, modeltest.Text("one"), modeltest.Respond(modeltest.Pause(g), modeltest.Text("explicit summary")), modeltest.Text("two"))
	h := start(t, m)
	h.run("first")
	ct, err := h.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	<-g.Reached()
	if _, err := h.a.Compact(ctx(t)); !errors.Is(err, agent.ErrTurnActive) {
		t.Errorf("Compact during a turn = %v, want ErrTurnActive", err)
	}
	next := h.submit("second")
	if next.ID() == ct.ID() {
		t.Fatal("input was steered into the compaction turn")
	}
	g.Release()
	if res := h.wait(ct); res.Err != nil || res.LastAgentMessage != "" {
		t.Fatalf("compaction turn = %+v", res)
	}
	if res := h.wait(next); res.LastAgentMessage != "two" {
		t.Fatalf("next turn = %+v", res)
	}
	evs := h.events(next.ID())
	if got, want := turnEvents(evs, ct.ID()), []string{"TurnStarted", "ItemStarted/ContextCompaction", "ItemCompleted/ContextCompaction", "TurnComplete"}; !equal(got, want) {
		t.Errorf("compaction turn events = %v, want %v", got, want)
	}
	if got, want := modeltest.UserTexts(m.Request(2)), []string{"first", summaryText("explicit summary"), "second"}; !equal(got, want) {
		t.Errorf("request after compaction = %q, want %q", got, want)
	}
	if w := h.a.Window(); w.Number != 1 {
		t.Errorf("window = %+v, want number 1", w)
	}
	// The compaction turn persisted compacted then turn_context.
	lines := h.rec.lines()
	joined := strings.Join(lines, ",")
	if !strings.Contains(joined, "event_msg/task_started,compacted,turn_context,event_msg/context_compacted,event_msg/task_complete") {
		t.Errorf("rollout = %v", lines)
	}
}

// Fresh-window mode asks the model nothing: the new window holds only the
// initial context, and the next request only the new input.
func TestFreshWindowCompaction(t *testing.T) {
	m := modeltest.New(t, modeltest.Text("one"), modeltest.Text("two"))
	h := start(t, m, func(c *agent.Config) { c.Compaction.FreshWindow = true })
	h.run("first")
	ct, err := h.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h.wait(ct); res.Err != nil {
		t.Fatalf("compaction = %+v", res.Err)
	}
	h.run("second")
	if n := len(m.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (no summary request)", n)
	}
	if got := modeltest.Kinds(m.Request(1)); !equal(got, []string{"message/user"}) || m.Request(1).Input[0].Text() != "second" {
		t.Errorf("request after a fresh window = %v", got)
	}
	cs := h.rec.compacted()
	if len(cs) != 1 || cs[0].Message != "" || cs[0].ReplacementHistory == nil || len(cs[0].ReplacementHistory) != 0 {
		t.Fatalf("compacted = %+v, want an empty message and an empty replacement history", cs)
	}
}

// A failed summarization replaces nothing, leaves the window as it was and
// ends the turn with a clear error; the thread stays usable and compacts at the
// next turn.
func TestCompactionFailureLeavesHistory(t *testing.T) {
	tests := []struct {
		name   string
		script modeltest.Scripted
		want   string
	}{
		{"fatal model error", modeltest.Fail(agent.NewModelError(agent.ErrInvalidRequest, "bad request")), "invalid request"},
		{"no summary", modeltest.Reasoning("thinking only"), "no summary"},
		{"retries exhausted", modeltest.Respond(modeltest.CloseEarly()), "stream closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := modeltest.New(t, modeltest.Respond(modeltest.Text("one"), modeltest.Tokens(5000)), tt.script)
			h := start(t, m, func(c *agent.Config) {
				c.Compaction.TokenLimit = 1000
				c.MaxRetries = -1
			})
			h.run("first")
			before := h.a.History()
			turn := h.submit("second")
			res := h.wait(turn)
			if got := compactionItems(h.events(turn.ID()), turn.ID()); got != "started completed:failed" {
				t.Errorf("ContextCompaction item events = %q, want started then completed with status failed", got)
			}
			var ce *agent.CompactionError
			if res.Err == nil || !errors.As(res.Err, &ce) || ce.Reason != "token_limit" {
				t.Fatalf("turn result = %+v, want a CompactionError", res)
			}
			if !strings.Contains(res.Err.Message, "context compaction") || !strings.Contains(res.Err.Message, tt.want) {
				t.Errorf("error message = %q, want it to name the compaction and %q", res.Err.Message, tt.want)
			}
			// Nothing was replaced; the turn's input is kept, as for any
			// turn that fails before its first step.
			after := h.a.History()
			if len(after) != len(before)+1 || !reflect.DeepEqual(jsonOf(t, after[:len(before)]), jsonOf(t, before)) || after[len(before)].Text() != "second" {
				t.Errorf("history after a failed compaction:\n%s\nwant the history before, then the input", jsonOf(t, after))
			}
			if len(h.rec.compacted()) != 0 || h.a.Window().Number != 0 {
				t.Errorf("a failed compaction was persisted or advanced the window")
			}
			// Usable: the next turn compacts and answers.
			m.Add(modeltest.Text("late summary"), modeltest.Text("three"))
			if res := h.run("third"); res.Err != nil || res.LastAgentMessage != "three" {
				t.Fatalf("turn after the failure = %+v", res)
			}
			if h.a.Window().Number != 1 {
				t.Errorf("window = %+v after the retried compaction", h.a.Window())
			}
		})
	}
}

// A summary request over the model's context window drops the oldest
// history item and tries again.
func TestCompactionDropsOldestOnContextExceeded(t *testing.T) {
	m := modeltest.New(t,
		modeltest.Text("one"),
		modeltest.Fail(agent.NewModelError(agent.ErrContextWindowExceeded, "too long")),
		modeltest.Text("shorter summary"))
	h := start(t, m)
	h.run("first")
	ct, err := h.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h.wait(ct); res.Err != nil {
		t.Fatalf("compaction = %+v", res.Err)
	}
	first, second := m.Request(1).Input, m.Request(2).Input
	if len(second) != len(first)-1 || !reflect.DeepEqual(jsonOf(t, second), jsonOf(t, first[1:])) {
		t.Errorf("retry input = %v, want the first attempt's without its oldest item", modeltest.Kinds(m.Request(2)))
	}
	if got := h.a.History(); len(got) != 2 || got[1].Text() != summaryText("shorter summary") {
		t.Errorf("history = %v", jsonOf(t, got))
	}
}

// Resume restores the window from legacy compactions: a numeric window_id
// counts as the number (ids unknown: minted), and Codex's own compaction
// corpus gives its newest numbered window.
func TestLegacyCompactedWindows(t *testing.T) {
	tests := []struct {
		name           string
		file           string
		number         uint64
		firstID, curID string // "" when minted
	}{
		{"numeric window_id", "../rollout/testdata/legacy/rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000001.jsonl", 1, "", ""},
		{"codex 0.169 corpus", "../rollout/testdata/corpus/compaction/sessions/2026/11/25/rollout-2026-11-25T05-39-02-01a21136-f0c8-7720-84c1-5ba0a0b54fa5.jsonl",
			2, "01a21136-f0cb-7643-a0f9-6c624bbfdd8a", "01a21137-0130-7d10-887a-5cd088113e61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hist, _, err := rollout.LoadHistory(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			m := modeltest.New(t, modeltest.Text("summary"))
			h := start(t, m, func(c *agent.Config) { c.Resume = hist })
			w := h.a.Window()
			if w.Number != tt.number || w.ID == "" || (tt.curID != "" && w.ID != tt.curID) {
				t.Fatalf("resumed window = %+v, want number %d id %q", w, tt.number, tt.curID)
			}
			wantFirst := tt.firstID
			if wantFirst == "" {
				wantFirst = w.ID // unknown lineage starts at the minted window
			}
			if w.FirstID != wantFirst {
				t.Errorf("first window id = %q, want %q", w.FirstID, wantFirst)
			}
			ct, err := h.a.Compact(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if res := h.wait(ct); res.Err != nil {
				t.Fatal(res.Err)
			}
			next := h.a.Window()
			if next.Number != tt.number+1 || next.PreviousID != w.ID || next.FirstID != wantFirst {
				t.Errorf("window after compaction = %+v, want number %d previous %q first %q", next, tt.number+1, w.ID, wantFirst)
			}
		})
	}
}

func TestCompactionConfigErrors(t *testing.T) {
	m := modeltest.New(t)
	for _, cc := range []agent.CompactionConfig{
		{ContextWindow: -1},
		{ContextWindow: 1000, TokenLimit: 2000},
	} {
		if _, err := agent.New(agent.Config{ThreadID: testThread, Model: m, Compaction: cc}); !errors.Is(err, agent.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cc, err)
		}
	}
}

// An unknown model name fails the turn clearly.
func TestModelForFailure(t *testing.T) {
	m := modeltest.New(t)
	h := start(t, m, func(c *agent.Config) {
		c.TurnContext = &rollout.TurnContext{Model: "ghost"}
		c.ModelFor = func(name string) (agent.Model, error) { return nil, errors.New("not deployed") }
	})
	res := h.run("hi")
	if res.Err == nil || !strings.Contains(res.Err.Message, `"ghost"`) || !strings.Contains(res.Err.Message, "not deployed") {
		t.Errorf("result = %+v, want an error naming the model", res)
	}
}

// Interrupting a compaction aborts its turn and changes nothing but the
// aborted-turn marker.
func TestInterruptCompaction(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t, modeltest.Text("one"), modeltest.Respond(modeltest.Pause(g), modeltest.Text("never")))
	h := start(t, m)
	h.run("first")
	before := h.a.History()
	ct, err := h.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	<-g.Reached()
	if _, err := h.a.Interrupt(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if res := h.wait(ct); res.Aborted != agent.AbortInterrupted {
		t.Fatalf("compaction turn = %+v, want aborted", res)
	}
	if got := compactionItems(h.events(ct.ID()), ct.ID()); got != "started completed:interrupted" {
		t.Errorf("ContextCompaction item events = %q, want started then completed with status interrupted", got)
	}
	after := h.a.History()
	if len(after) != len(before)+1 || !reflect.DeepEqual(jsonOf(t, after[:len(before)]), jsonOf(t, before)) ||
		!strings.HasPrefix(after[len(before)].Text(), "<turn_aborted>") {
		t.Errorf("history after an interrupted compaction = %s", jsonOf(t, after))
	}
	if len(h.rec.compacted()) != 0 || h.a.Window().Number != 0 {
		t.Error("an interrupted compaction was persisted or advanced the window")
	}
}

// A thread resumed over the limit compacts before its next turn: the
// token count continues from the rollout's last usage.
func TestResumeOverLimitCompacts(t *testing.T) {
	rec, path, w0 := newWindowedRecorder(t)
	m1 := modeltest.New(t, modeltest.Respond(modeltest.Text("one"), modeltest.Tokens(5000)))
	h1 := start(t, m1, paginated, func(c *agent.Config) { c.Recorder, c.Window = rec, w0 })
	h1.run("first")
	if got := h1.a.TokensUsed(); got != 5000 {
		t.Fatalf("TokensUsed() = %d, want 5000", got)
	}
	h1.a.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	rec2, hist := resume(t, path)
	m2 := modeltest.New(t, modeltest.Text("summary"), modeltest.Text("two"))
	h2 := start(t, m2, paginated, func(c *agent.Config) {
		c.Recorder, c.Resume = rec2, hist
		c.Compaction = agent.CompactionConfig{ContextWindow: 8000, TokenLimit: 1000}
	})
	if got := h2.a.TokensUsed(); got != 5000 {
		t.Fatalf("resumed TokensUsed() = %d, want 5000", got)
	}
	h2.run("second")
	if !isPrompt(m2.Request(0).Input[len(m2.Request(0).Input)-1]) {
		t.Errorf("first request after resume = %v, want the summary request", modeltest.Kinds(m2.Request(0)))
	}
	if w := h2.a.Window(); w.Number != 1 || w.PreviousID != window0 {
		t.Errorf("window = %+v, want window 1 after window 0", w)
	}
}

// A comp_hash compaction whose previous model is gone fails the turn (the
// thread stays usable); an explicit Compact with the current model settles
// it, and the next turn runs without compacting.
func TestCompHashPreviousModelGone(t *testing.T) {
	ma := modeltest.New(t, modeltest.Text("one"))
	mb := modeltest.New(t, modeltest.Text("summary by b"), modeltest.Text("three"))
	var gone atomic.Bool
	h := start(t, ma, func(c *agent.Config) {
		c.TurnContext = &rollout.TurnContext{Cwd: "/w", Model: "model-a", CompHash: "hash-a"}
		c.ModelFor = func(name string) (agent.Model, error) {
			switch {
			case name == "model-b":
				return mb, nil
			case name == "model-a" && !gone.Load():
				return ma, nil
			}
			return nil, errors.New("retired")
		}
	})
	h.run("first")
	gone.Store(true)
	if err := h.a.SetTurnContext(ctx(t), &rollout.TurnContext{Cwd: "/w", Model: "model-b", CompHash: "hash-b"}); err != nil {
		t.Fatal(err)
	}
	res := h.run("second")
	var ce *agent.CompactionError
	if res.Err == nil || !errors.As(res.Err, &ce) || ce.Reason != "comp_hash" || !strings.Contains(res.Err.Message, "retired") {
		t.Fatalf("turn = %+v, want a comp_hash CompactionError naming the cause", res)
	}
	ct, err := h.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h.wait(ct); res.Err != nil {
		t.Fatalf("Compact = %+v", res.Err)
	}
	if res := h.run("third"); res.Err != nil || res.LastAgentMessage != "three" {
		t.Fatalf("turn after Compact = %+v", res)
	}
	if got, want := modeltest.UserTexts(mb.Request(1)), []string{"first", "second", summaryText("summary by b"), "third"}; !equal(got, want) {
		t.Errorf("request after Compact = %q, want %q", got, want)
	}
}
