package agent

import (
	"encoding/json"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

type rawSection struct {
	id, state string
}

func (s rawSection) SectionID() string { return s.id }
func (s rawSection) Snapshot() any     { return json.RawMessage(s.state) }
func (s rawSection) Render(p Prior) (Fragment, bool) {
	return Fragment{Role: rollout.RoleDeveloper, Text: s.id + ":" + s.state}, true
}

// TestWorldTrackerCycle follows Codex's update_world_state test: the same
// state twice gives a full record then nothing; after clear (a compaction)
// it is full again.
func TestWorldTrackerCycle(t *testing.T) {
	var w worldState
	secs := []Section{rawSection{"test", `{"value":"current","optional":null,"array":[{"value":null}]}`}}
	kinds := []string{}
	step := func() {
		ch, warns, err := w.diff(secs)
		if err != nil || len(warns) > 0 {
			t.Fatalf("diff = %v, %v", warns, err)
		}
		switch {
		case ch.record == nil:
			kinds = append(kinds, "none")
		case ch.record.Full:
			kinds = append(kinds, "full:"+string(ch.record.State))
			w.set(ch.state)
		default:
			kinds = append(kinds, "patch:"+string(ch.record.State))
			w.set(ch.state)
		}
	}
	step()
	step()
	w.clear()
	step()
	full := `full:{"test":{"array":[{"value":null}],"value":"current"}}`
	want := []string{full, "none", full}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("step %d = %s, want %s", i, kinds[i], want[i])
		}
	}
}

// TestWorldReplay is Codex's replay case: a full record, a compaction, a
// full record and a patch leave the patched second snapshot; a bare
// turn_context leaves none.
func TestWorldReplay(t *testing.T) {
	ws := func(full bool, s string) rollout.Item {
		return rollout.Item{Payload: &rollout.WorldState{Full: full, State: json.RawMessage(s)}}
	}
	var w worldState
	warns := w.replay([]rollout.Item{
		ws(true, `{"environment":{"cwd":"/old"}}`),
		{Payload: &rollout.Compacted{Message: "x"}},
		ws(true, `{"environment":{"status":"starting","cwd":"/workspace"}}`),
		ws(false, `{"environment":{"status":"ready"}}`),
	})
	if len(warns) != 0 {
		t.Fatalf("replay warnings = %q", warns)
	}
	got, _ := marshalState(w.baseline)
	if want := `{"environment":{"cwd":"/workspace","status":"ready"}}`; string(got) != want {
		t.Errorf("baseline = %s, want %s", got, want)
	}
	var empty worldState
	empty.replay([]rollout.Item{{Payload: &rollout.TurnContext{TurnID: "t"}}})
	if empty.has() {
		t.Errorf("baseline after a bare turn_context = %v, want none", empty.baseline)
	}
}

// TestFragmentMessages merges consecutive fragments of one role.
func TestFragmentMessages(t *testing.T) {
	msgs := fragmentMessages([]Fragment{{Role: "developer", Text: "a"}, {Text: "b"}, {Role: "user", Text: "c"}, {Role: "developer", Text: "d"}})
	var got []string
	for _, m := range msgs {
		s := m.Role + ":"
		for _, p := range m.Content {
			s += p.Text
		}
		got = append(got, s)
	}
	want := []string{"developer:ab", "user:c", "developer:d"}
	if len(got) != len(want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// FuzzWorldReplay feeds stored world_state records (outside input) to the
// replay and the next step's diff: neither may panic, and a step after
// the replay always leaves a known baseline equal to the step's state.
func FuzzWorldReplay(f *testing.F) {
	f.Add([]byte(`{"env":{"status":"a"}}`), []byte(`{"env":{"status":"b"}}`))
	f.Add([]byte(`[1,2]`), []byte(`{"env":null}`))
	f.Add([]byte(`{"env":{"invalid":true,"x":[null]}}`), []byte(`{"env":`))
	f.Add([]byte(`null`), []byte(`"x"`))
	f.Fuzz(func(t *testing.T, full, patch []byte) {
		var w worldState
		w.replay([]rollout.Item{
			{Payload: &rollout.WorldState{Full: true, State: full}},
			{Payload: &rollout.WorldState{State: patch}},
		})
		secs := []Section{rawSection{"env", `{"status":"ready"}`}}
		ch, _, err := w.diff(secs)
		if err != nil {
			t.Fatalf("diff after replay: %v", err)
		}
		if ch.record != nil {
			w.set(ch.state)
		}
		if again, _, _ := w.diff(secs); again.record != nil {
			t.Fatalf("second diff recorded %s after %s", again.record.State, ch.record.State)
		}
	})
}
