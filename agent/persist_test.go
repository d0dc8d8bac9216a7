package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// newFileRecorder returns a real recorder for a new thread under t.TempDir.
func newFileRecorder(t *testing.T, mode rollout.HistoryMode) (*rollout.Recorder, string) {
	t.Helper()
	created := time.Date(2026, 11, 25, 5, 38, 50, 0, time.UTC)
	path := rollout.SessionPath(t.TempDir(), created, testThread)
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{
		Path: path,
		Meta: &rollout.SessionMeta{ID: testThread, SessionID: testThread, Timestamp: rollout.FormatTimestamp(created),
			Cwd: "/w", Originator: "troupe_test", CLIVersion: "0", HistoryMode: mode},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, path
}

func readLines(t *testing.T, path string) []rollout.Item {
	t.Helper()
	var out []rollout.Item
	for it, err := range rollout.Read(path, rollout.ReadOptions{}) {
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		out = append(out, it)
	}
	return out
}

// responseItems extracts the response items of a rollout: the history of a
// thread without compactions or rollbacks.
func responseItems(items []rollout.Item) []rollout.ResponseItem {
	var out []rollout.ResponseItem
	for _, it := range items {
		if ri, ok := it.Payload.(*rollout.ResponseItem); ok {
			out = append(out, *ri)
		}
	}
	return out
}

func TestPersistencePolicy(t *testing.T) {
	script := func(t *testing.T) *modeltest.Model {
		return modeltest.New(t,
			modeltest.Respond(modeltest.Reasoning("think"), modeltest.CallID("c1", "sleep", `{"duration_ms":1}`)),
			modeltest.Text("done"))
	}
	tests := []struct {
		mode rollout.HistoryMode
		want []string
	}{
		{rollout.HistoryModeLegacy, []string{
			"session_meta",
			"event_msg/task_started", "turn_context",
			"response_item/message/user", "event_msg/user_message",
			"event_msg/agent_reasoning", "response_item/reasoning",
			"response_item/function_call",
			"event_msg/item_completed/Extension:clock.sleep",
			"response_item/function_call_output",
			"event_msg/agent_message", "response_item/message/assistant",
			"event_msg/task_complete",
		}},
		{rollout.HistoryModePaginated, []string{
			"session_meta",
			"event_msg/task_started", "turn_context",
			"response_item/message/user", "event_msg/item_completed/UserMessage",
			"event_msg/item_completed/Reasoning", "response_item/reasoning",
			"response_item/function_call",
			"event_msg/item_completed/Extension:clock.sleep",
			"response_item/function_call_output",
			"event_msg/item_completed/AgentMessage", "response_item/message/assistant",
			"event_msg/task_complete",
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			rec, path := newFileRecorder(t, tt.mode)
			m := script(t)
			h := start(t, m, func(c *agent.Config) { c.Recorder = rec; c.HistoryMode = tt.mode })
			h.run("hi")
			var got []string
			items := readLines(t, path)
			for _, it := range items {
				got = append(got, describe(it))
			}
			if !equal(got, tt.want) {
				t.Errorf("rollout lines =\n%v\nwant\n%v", got, tt.want)
			}
			if tt.mode == rollout.HistoryModePaginated {
				for i, it := range items {
					if it.Ordinal == nil || *it.Ordinal != uint64(i) {
						t.Errorf("line %d ordinal = %v, want %d", i, it.Ordinal, i)
					}
				}
			}
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A resumed thread's next request is the history before the restart plus
// the new input.
func TestResumeContinuesHistory(t *testing.T) {
	rec, path := newFileRecorder(t, rollout.HistoryModePaginated)
	m1 := modeltest.New(t, modeltest.CallID("c1", "sleep", `{"duration_ms":1}`), modeltest.Text("first done"))
	h1 := start(t, m1, func(c *agent.Config) { c.Recorder = rec; c.HistoryMode = rollout.HistoryModePaginated })
	h1.run("first")
	before := h1.a.History()
	if err := h1.a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: reopen the rollout and rebuild the history from it.
	rec2, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer rec2.Close()
	hist, corrupt, err := rollout.LoadHistory(path)
	if err != nil || len(corrupt) > 0 {
		t.Fatalf("LoadHistory = %v, %v", corrupt, err)
	}
	if got := responseItems(readLines(t, path)); !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, before)) {
		t.Fatalf("response items read back differ from the history in memory")
	}
	m2 := modeltest.New(t, modeltest.Text("second done"))
	h2 := start(t, m2, func(c *agent.Config) {
		c.Recorder, c.HistoryMode, c.Resume = rec2, rollout.HistoryModePaginated, hist
	})
	h2.run("second")
	req := m2.Request(0)
	want := append(jsonOf(t, before), jsonOf(t, req.Input[len(req.Input)-1:])...)
	if got := jsonOf(t, req.Input); !reflect.DeepEqual(got, want) {
		t.Errorf("resumed request =\n%s\nwant\n%s", got, want)
	}
	if last := req.Input[len(req.Input)-1]; !last.IsUserMessage() || last.Text() != "second" {
		t.Errorf("last input = %+v, want the new user message", last)
	}
	// The file holds both turns, ordinals continuing.
	items := readLines(t, path)
	for i, it := range items {
		if it.Ordinal == nil || *it.Ordinal != uint64(i) {
			t.Fatalf("line %d ordinal = %v after resume", i, it.Ordinal)
		}
	}
}

func jsonOf(t *testing.T, items []rollout.ResponseItem) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// failingRecorder fails every append.
type failingRecorder struct{}

func (failingRecorder) AppendItems(...rollout.Item) error { return errors.New("disk full") }
func (failingRecorder) Flush(context.Context) error       { return errors.New("disk full") }

// A rollout that cannot be written is reported with warnings; the agent
// goes on in memory.
func TestRecorderFailureWarns(t *testing.T) {
	m := modeltest.New(t, modeltest.Text("fine"))
	h := start(t, m, func(c *agent.Config) { c.Recorder = failingRecorder{} })
	turn := h.submit("hi")
	if res := h.wait(turn); res.LastAgentMessage != "fine" {
		t.Fatalf("result = %+v", res)
	}
	warnings := 0
	for _, ev := range h.events(turn.ID()) {
		if _, ok := ev.(*agent.Warning); ok {
			warnings++
		}
	}
	if warnings == 0 {
		t.Error("no Warning events for a failing recorder")
	}
}
