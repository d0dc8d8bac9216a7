package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// statusSection is a test world-state section: one environment status.
type statusSection struct {
	id     string
	status string
	role   string
}

type statusState struct {
	Status string  `json:"status"`
	Shell  *string `json:"shell"` // always nil: stripped from the snapshot
}

func (s statusSection) SectionID() string { return s.id }
func (s statusSection) Snapshot() any     { return statusState{Status: s.status} }
func (s statusSection) Render(p agent.Prior) (agent.Fragment, bool) {
	role := s.role
	if role == "" {
		role = rollout.RoleUser
	}
	var prev statusState
	switch {
	case p.Decode(&prev):
		return agent.Fragment{Role: role, Text: fmt.Sprintf("<%s>%s -> %s</%s>", s.id, prev.Status, s.status, s.id)}, true
	case p.Kind == agent.PriorUnknown || p.Kind == agent.PriorKnown:
		return agent.Fragment{Role: role, Text: fmt.Sprintf("<%s restated>%s</%s>", s.id, s.status, s.id)}, true
	}
	return agent.Fragment{Role: role, Text: fmt.Sprintf("<%s>%s</%s>", s.id, s.status, s.id)}, true
}

// worldSteps is a StepProvider whose sections the test changes between
// steps; it records what each step saw.
type worldSteps struct {
	mu       sync.Mutex
	sections func(info agent.StepInfo) []agent.Section
	tools    *capability.Set
	infos    []agent.StepInfo
}

func (w *worldSteps) CaptureStep(_ context.Context, info agent.StepInfo) (*agent.Step, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.infos = append(w.infos, info)
	return &agent.Step{Tools: w.tools, Sections: w.sections(info)}, nil
}

func withSteps(p agent.StepProvider) option { return func(c *agent.Config) { c.Steps = p } }

// worldRecords returns the world_state records of items as "full:<state>"
// or "patch:<state>".
func worldRecords(items []rollout.Item) []string {
	var out []string
	for _, it := range items {
		if w, ok := it.Payload.(*rollout.WorldState); ok {
			kind := "patch"
			if w.Full {
				kind = "full"
			}
			out = append(out, kind+":"+string(w.State))
		}
	}
	return out
}

// messageTexts returns the texts of the request's messages of role.
func messageTexts(req *agent.Request, role string) []string {
	var out []string
	for _, it := range req.Input {
		if it.Type == rollout.ItemMessage && it.Role == role {
			for _, p := range it.Content {
				out = append(out, p.Text)
			}
		}
	}
	return out
}

// TestWorldStateDiffBetweenSteps is SPEC-agent 3.10 item 10: a changed
// status between steps records a diff fragment then a patch record; an
// unchanged one records nothing. It also checks the record order of the
// first step: fragments, world_state, turn_context, then the user input.
func TestWorldStateDiffBetweenSteps(t *testing.T) {
	model := modeltest.New(t,
		modeltest.Respond(modeltest.CallID("c1", "sleep", `{"duration_ms":1}`)),
		modeltest.Text("first done"),
		modeltest.Text("second done"))
	var status = "starting"
	steps := &worldSteps{sections: func(info agent.StepInfo) []agent.Section {
		if info.Index == 1 {
			status = "ready"
		}
		return []agent.Section{statusSection{id: "env", status: status}, statusSection{id: "date", status: "2026-11-25"}}
	}}
	h := start(t, model, withSteps(steps))
	h.run("go")
	h.run("again")

	got := h.rec.lines()
	want := []string{
		"event_msg/task_started",
		"response_item/message/user", // the two fragments, one message
		"world_state",
		"turn_context",
		"response_item/message/user", "event_msg/user_message",
		"response_item/function_call",
		"event_msg/item_completed/Extension:clock.sleep",
		"response_item/function_call_output",
		"response_item/message/user", // the diff fragment
		"world_state",
		"event_msg/agent_message", "response_item/message/assistant",
		"event_msg/task_complete",
		// Second turn: nothing changed, nothing recorded.
		"event_msg/task_started",
		"turn_context",
		"response_item/message/user", "event_msg/user_message",
		"event_msg/agent_message", "response_item/message/assistant",
		"event_msg/task_complete",
	}
	if !equal(got, want) {
		t.Fatalf("rollout lines =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ws := worldRecords(h.rec.items)
	wantWS := []string{
		`full:{"date":{"status":"2026-11-25"},"env":{"status":"starting"}}`,
		`patch:{"env":{"status":"ready"}}`,
	}
	if !equal(ws, wantWS) {
		t.Errorf("world_state records = %q, want %q", ws, wantWS)
	}
	r0 := messageTexts(model.Request(0), rollout.RoleUser)
	if want := []string{"<env>starting</env>", "<date>2026-11-25</date>", "go"}; !equal(r0, want) {
		t.Errorf("request 0 user texts = %q, want %q", r0, want)
	}
	r1 := messageTexts(model.Request(1), rollout.RoleUser)
	if want := []string{"<env>starting</env>", "<date>2026-11-25</date>", "go", "<env>starting -> ready</env>"}; !equal(r1, want) {
		t.Errorf("request 1 user texts = %q, want %q", r1, want)
	}
	r2 := messageTexts(model.Request(2), rollout.RoleUser)
	if want := []string{"<env>starting</env>", "<date>2026-11-25</date>", "go", "<env>starting -> ready</env>", "again"}; !equal(r2, want) {
		t.Errorf("request 2 user texts = %q, want %q", r2, want)
	}
	if n := len(steps.infos); n != 3 {
		t.Errorf("steps captured = %d, want 3", n)
	}
}

// sessionMeta is the first line of a synthetic rollout.
func sessionMeta() rollout.Item {
	return rollout.Item{Payload: &rollout.SessionMeta{ID: testThread, SessionID: testThread, Timestamp: "2026-11-25T05:38:50.000Z", Cwd: "/w", Originator: "t", CLIVersion: "0"}}
}

// TestWorldStateResumeNoDuplicate is the resume half of 3.10 item 10: a
// thread resumed from its rollout records no duplicate full context at the
// next step; a change after resume is a patch against the replayed
// baseline.
func TestWorldStateResumeNoDuplicate(t *testing.T) {
	sections := func(status string) func(agent.StepInfo) []agent.Section {
		return func(agent.StepInfo) []agent.Section { return []agent.Section{statusSection{id: "env", status: status}} }
	}
	first := start(t, modeltest.New(t, modeltest.Text("one"), modeltest.Text("two")), withSteps(&worldSteps{sections: sections("ready")}))
	first.run("hello")
	first.run("more")
	items := append([]rollout.Item{sessionMeta()}, first.rec.items...)
	hist, err := rollout.ReconstructHistory(items)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		status     string
		wantWorld  []string
		wantFrag   []string
		wantLength int // user texts in the request
	}{
		{"unchanged", "ready", nil, []string{"<env>ready</env>", "hello", "more", "after"}, 4},
		{"changed", "lost", []string{`patch:{"env":{"status":"lost"}}`}, []string{"<env>ready</env>", "hello", "more", "<env>ready -> lost</env>", "after"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := modeltest.New(t, modeltest.Text("three"))
			h := start(t, model, withSteps(&worldSteps{sections: sections(tc.status)}), func(c *agent.Config) { c.Resume = hist })
			h.run("after")
			if got := worldRecords(h.rec.items); !equal(got, tc.wantWorld) {
				t.Errorf("world_state records after resume = %q, want %q", got, tc.wantWorld)
			}
			if got := messageTexts(model.Request(0), rollout.RoleUser); !equal(got, tc.wantFrag) {
				t.Errorf("request user texts = %q, want %q", got, tc.wantFrag)
			}
		})
	}
}

// logBuffer is a slog handler target the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestWorldStateBadReplay: stored records that cannot be used never fail
// the agent. An unparsable full snapshot leaves the baseline unknown (the
// first step restates every section and records a full snapshot); a patch
// without a baseline is ignored; both are logged.
func TestWorldStateBadReplay(t *testing.T) {
	full := func(s string) rollout.Item {
		return rollout.Item{Payload: &rollout.WorldState{Full: true, State: json.RawMessage(s)}}
	}
	patch := func(s string) rollout.Item {
		return rollout.Item{Payload: &rollout.WorldState{State: json.RawMessage(s)}}
	}
	tests := []struct {
		name     string
		records  []rollout.Item
		wantLog  string
		wantText string
		wantRec  string
	}{
		{"unparsable full", []rollout.Item{full(`[1,2]`)}, "stored snapshot unreadable", "<env restated>ready</env>", `full:{"env":{"status":"ready"}}`},
		{"unparsable then patch", []rollout.Item{full(`"x"`), patch(`{"env":{"status":"a"}}`)}, "stored snapshot unreadable", "<env restated>ready</env>", `full:{"env":{"status":"ready"}}`},
		{"patch without baseline", []rollout.Item{patch(`{"env":{"status":"a"}}`)}, "patch record without a baseline ignored", "<env>ready</env>", `full:{"env":{"status":"ready"}}`},
		{"patch not applicable", []rollout.Item{full(`{"env":{"status":"a"}}`), patch(`{"env":`)}, "does not apply", "<env restated>ready</env>", `full:{"env":{"status":"ready"}}`},
		{"section of another shape", []rollout.Item{full(`{"env":{"invalid":true}}`)}, "", "<env restated>ready</env>", `patch:{"env":{"invalid":null,"status":"ready"}}`},
		{"compaction clears", []rollout.Item{full(`{"env":{"status":"ready"}}`), {Payload: &rollout.Compacted{Message: "s"}}}, "", "<env>ready</env>", `full:{"env":{"status":"ready"}}`},
		{"patches apply", []rollout.Item{full(`{"env":{"status":"a"},"old":{"x":1}}`), patch(`{"env":{"status":"ready"},"old":null}`)}, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			model := modeltest.New(t, modeltest.Text("ok"))
			h := start(t, model, withSteps(&worldSteps{sections: func(agent.StepInfo) []agent.Section {
				return []agent.Section{statusSection{id: "env", status: "ready"}}
			}}), func(c *agent.Config) {
				c.WorldState = tc.records
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			turn := h.submit("hi")
			var warned []string
			for _, ev := range h.events(turn.ID()) {
				if w, ok := ev.(*agent.Warning); ok {
					warned = append(warned, w.Message)
				}
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log = %q, want it to mention %q", logs.String(), tc.wantLog)
			}
			if tc.wantLog != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.wantLog)) {
				t.Errorf("Warning events = %q, want one mentioning %q", warned, tc.wantLog)
			}
			if tc.wantLog == "" && strings.Contains(logs.String(), "world state") {
				t.Errorf("log = %q, want no world-state warning", logs.String())
			}
			texts := messageTexts(model.Request(0), rollout.RoleUser)
			var wantTexts []string
			if tc.wantText != "" {
				wantTexts = append(wantTexts, tc.wantText)
			}
			wantTexts = append(wantTexts, "hi")
			if !equal(texts, wantTexts) {
				t.Errorf("request user texts = %q, want %q", texts, wantTexts)
			}
			var wantRecs []string
			if tc.wantRec != "" {
				wantRecs = []string{tc.wantRec}
			}
			if got := worldRecords(h.rec.items); !equal(got, wantRecs) {
				t.Errorf("world_state records = %q, want %q", got, wantRecs)
			}
		})
	}
}

// badSection encodes to null or fails to encode.
type badSection struct {
	id  string
	val any
}

func (b badSection) SectionID() string { return b.id }
func (b badSection) Snapshot() any     { return b.val }
func (b badSection) Render(agent.Prior) (agent.Fragment, bool) {
	return agent.Fragment{Text: "bad"}, true
}

// TestWorldStateBadSections: a duplicate section id ends the turn with an
// error (the provider is broken) after recording the input; a section whose
// snapshot is null or cannot be encoded is skipped with a Warning.
func TestWorldStateBadSections(t *testing.T) {
	t.Run("duplicate id", func(t *testing.T) {
		h := start(t, modeltest.New(t), withSteps(&worldSteps{sections: func(agent.StepInfo) []agent.Section {
			return []agent.Section{statusSection{id: "env", status: "a"}, statusSection{id: "env", status: "b"}}
		}}))
		res := h.run("hi")
		if res.Err == nil || !strings.Contains(res.Err.Message, `duplicate section id "env"`) {
			t.Fatalf("turn error = %v, want a duplicate section id error", res.Err)
		}
		if got := worldRecords(h.rec.items); len(got) != 0 {
			t.Errorf("world_state records = %q, want none", got)
		}
		lines := h.rec.lines()
		if !equal(lines[:3], []string{"event_msg/task_started", "turn_context", "response_item/message/user"}) {
			t.Errorf("rollout lines = %q, want the turn_context and the input recorded", lines)
		}
	})
	t.Run("null and unencodable", func(t *testing.T) {
		model := modeltest.New(t, modeltest.Text("ok"))
		h := start(t, model, withSteps(&worldSteps{sections: func(agent.StepInfo) []agent.Section {
			return []agent.Section{badSection{id: "nil", val: nil}, badSection{id: "chan", val: make(chan int)}, statusSection{id: "env", status: "a"}}
		}}))
		turn := h.submit("hi")
		evs := h.events(turn.ID())
		warnings := 0
		for _, ev := range evs {
			if w, ok := ev.(*agent.Warning); ok && strings.Contains(w.Message, "skipped") {
				warnings++
			}
		}
		if warnings != 2 {
			t.Errorf("skipped-section warnings = %d, want 2", warnings)
		}
		if got, want := worldRecords(h.rec.items), []string{`full:{"env":{"status":"a"}}`}; !equal(got, want) {
			t.Errorf("world_state records = %q, want %q", got, want)
		}
	})
}

// envSteps returns a StepProvider with one "env" section whose status is
// read at each capture.
func envSteps(status *string) *worldSteps {
	return &worldSteps{sections: func(agent.StepInfo) []agent.Section {
		return []agent.Section{statusSection{id: "env", status: *status}}
	}}
}

// TestWorldStateRollback: a rollback drops the world_state records of the
// turns it drops, so the baseline is the surviving one and the next step
// diffs against it.
func TestWorldStateRollback(t *testing.T) {
	status := "a"
	first := start(t, modeltest.New(t, modeltest.Text("one"), modeltest.Text("two")), withSteps(envSteps(&status)))
	first.run("turn one")
	status = "b"
	first.run("turn two")
	ev, err := rollout.NewEvent(rollout.ThreadRolledBack{NumTurns: 1})
	if err != nil {
		t.Fatal(err)
	}
	items := append([]rollout.Item{sessionMeta()}, first.rec.items...)
	items = append(items, rollout.Item{Payload: ev})
	hist, err := rollout.ReconstructHistory(items)
	if err != nil {
		t.Fatal(err)
	}
	model := modeltest.New(t, modeltest.Text("three"))
	h := start(t, model, withSteps(envSteps(&status)), func(c *agent.Config) { c.Resume = hist })
	h.run("turn three")
	if got, want := worldRecords(h.rec.items), []string{`patch:{"env":{"status":"b"}}`}; !equal(got, want) {
		t.Errorf("world_state records after rollback = %q, want %q", got, want)
	}
	// The dropped turn's fragment was recorded before its input, so the
	// rollback (which cuts at the input) keeps it while dropping its
	// record: the change is said again, never missed.
	if got, want := messageTexts(model.Request(0), rollout.RoleUser), []string{"<env>a</env>", "turn one", "<env>a -> b</env>", "<env>a -> b</env>", "turn three"}; !equal(got, want) {
		t.Errorf("request user texts = %q, want %q", got, want)
	}
}

// TestWorldStateFileForks runs a thread on a real rollout file and forks
// it with rollout.Fork: a full-history fork resumed with the same world
// records nothing at its first step; a last-turn fork (rollout.Fork drops
// the kept turn's patch, which has no baseline there) records full context
// and warns about nothing.
func TestWorldStateFileForks(t *testing.T) {
	rec, path := newFileRecorder(t, rollout.HistoryModeLegacy)
	status := "a"
	first := start(t, modeltest.New(t, modeltest.Text("one"), modeltest.Text("two")), withSteps(envSteps(&status)),
		func(c *agent.Config) { c.Recorder = rec })
	first.run("turn one")
	status = "b"
	first.run("turn two")
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		lastTurns int
		want      []string
	}{
		{"full history", 0, nil},
		{"last turn", 1, []string{`full:{"env":{"status":"b"}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forkID := rollout.ThreadID("01a21136-be7b-7fa3-a673-000000000001")
			frec, err := rollout.Fork(context.Background(), path, rollout.ForkOptions{NewID: forkID, Home: t.TempDir(), LastTurns: tc.lastTurns})
			if err != nil {
				t.Fatal(err)
			}
			fpath := frec.Path()
			frec.Close()
			hist, _, err := rollout.LoadHistory(fpath)
			if err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			mem := &memRecorder{}
			h := start(t, modeltest.New(t, modeltest.Text("three")), withSteps(envSteps(&status)), func(c *agent.Config) {
				c.Resume = hist
				c.Recorder = mem
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			h.run("turn three")
			if got := worldRecords(mem.items); !equal(got, tc.want) {
				t.Errorf("fork's world_state records = %q, want %q", got, tc.want)
			}
			if strings.Contains(logs.String(), "world") {
				t.Errorf("resuming the fork logged %q, want no world-state warning", logs.String())
			}
		})
	}
}

// TestWorldStateCodexRollout resumes a rollout Codex 0.169 wrote: its
// world_state records replay without warnings, and a step whose
// environments match what Codex showed restates nothing; the patch drops
// the sections troupe does not supply (no fragment for them).
func TestWorldStateCodexRollout(t *testing.T) {
	hist, corrupt, err := rollout.LoadHistory("../rollout/testdata/corpus/simple/sessions/2026/11/25/rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl")
	if err != nil || len(corrupt) > 0 {
		t.Fatalf("LoadHistory = %v, %v", corrupt, err)
	}
	if len(hist.WorldState) == 0 {
		t.Fatal("corpus rollout has no world_state records")
	}
	env := &agent.EnvironmentsSection{
		Environments: map[string]agent.EnvironmentState{"local": {Cwd: "/home/dev/codex-corpus/gen/simple/cwd", Status: agent.EnvAvailable, Shell: "bash"}},
		CurrentDate:  "2026-11-25", Timezone: "Etc/UTC",
	}
	var logs logBuffer
	model := modeltest.New(t, modeltest.Text("ok"))
	h := start(t, model, withSteps(&worldSteps{sections: func(agent.StepInfo) []agent.Section { return []agent.Section{env} }}),
		func(c *agent.Config) {
			c.Resume = hist
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
	h.run("again")
	if strings.Contains(logs.String(), "world state") {
		t.Errorf("replay warned: %s", logs.String())
	}
	if n := strings.Count(allText(model.Request(0)), "<environment_context>"); n != 1 {
		t.Errorf("request shows %d <environment_context>, want 1 (Codex's, not restated)", n)
	}
	recs := worldRecords(h.rec.items)
	if len(recs) != 1 || !strings.HasPrefix(recs[0], "patch:") || !strings.Contains(recs[0], `"agents_md":null`) || !strings.Contains(recs[0], `"filesystem":null`) {
		t.Errorf("world_state records = %q, want one patch dropping Codex-only sections and members", recs)
	}
}
