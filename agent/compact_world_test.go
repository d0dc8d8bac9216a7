package agent_test

import (
	"reflect"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// fromCompacted returns the rollout lines of the last compaction: from its
// compacted record to the context_compacted event.
func fromCompacted(lines []string) []string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] == "compacted" {
			for j := i; j < len(lines); j++ {
				if lines[j] == "event_msg/context_compacted" {
					return lines[i : j+1]
				}
			}
		}
	}
	return nil
}

// The lines a compaction writes before the turn's first step (which then
// records the full world state and the turn_context).
var preTurnLines = []string{"compacted", "event_msg/context_compacted"}

// The lines a compaction writes when it records the world state itself.
var withWorldLines = []string{"compacted", "response_item/message/developer", "world_state", "turn_context", "event_msg/context_compacted"}

// Every compaction is followed by the full world state (fragments, then a
// full world_state record), then the turn_context (SPEC-agent 3.7, 3.8).
func TestCompactionRecordsFullWorldState(t *testing.T) {
	env := func(agent.StepInfo) []agent.Section {
		return []agent.Section{statusSection{id: "env", status: "ready", role: rollout.RoleDeveloper}}
	}
	const full = `full:{"env":{"status":"ready"}}`

	t.Run("mid-turn", func(t *testing.T) {
		m := modeltest.New(t,
			modeltest.Respond(modeltest.CallID("c1", "sleep", `{"duration_ms":1}`), modeltest.Tokens(5000)),
			modeltest.Text("mid summary"),
			modeltest.Text("done"))
		h := start(t, m, withSteps(&worldSteps{sections: env}), func(c *agent.Config) { c.Compaction.TokenLimit = 1000 })
		h.run("go")
		if got := fromCompacted(h.rec.lines()); !equal(got, withWorldLines) {
			t.Errorf("compaction lines = %v, want %v", got, withWorldLines)
		}
		if w := worldRecords(h.rec.items); !equal(w, []string{full, full}) {
			t.Errorf("world_state records = %v", w)
		}
		// The follow-up: the replacement history, then the full world state.
		cs := h.rec.compacted()
		follow := m.Request(2).Input
		if len(follow) != len(cs[0].ReplacementHistory)+1 ||
			!reflect.DeepEqual(jsonOf(t, follow[:len(follow)-1]), jsonOf(t, cs[0].ReplacementHistory)) ||
			follow[len(follow)-1].Text() != "<env>ready</env>" {
			t.Errorf("follow-up request = %v, want the replacement history then the world state", jsonOf(t, follow))
		}
	})

	t.Run("pre-turn", func(t *testing.T) {
		m := modeltest.New(t, modeltest.Respond(modeltest.Text("one"), modeltest.Tokens(5000)), modeltest.Text("summary"), modeltest.Text("two"))
		h := start(t, m, withSteps(&worldSteps{sections: env}), func(c *agent.Config) { c.Compaction.TokenLimit = 1000 })
		h.run("first")
		h.run("second")
		lines := h.rec.lines()
		if got := fromCompacted(lines); !equal(got, preTurnLines) {
			t.Errorf("compaction lines = %v, want %v", got, preTurnLines)
		}
		// Then the turn's first step: the full world state, the
		// turn_context, the input.
		i := indexOf(lines, "compacted")
		if got, want := lines[i+2:i+7], []string{"response_item/message/developer", "world_state", "turn_context", "response_item/message/user", "event_msg/user_message"}; !equal(got, want) {
			t.Errorf("lines after the compaction = %v, want %v", got, want)
		}
		checkAfterCompaction(t, m.Request(2))
	})

	t.Run("requested", func(t *testing.T) {
		m := modeltest.New(t, modeltest.Text("one"), modeltest.Text("summary"), modeltest.Text("two"))
		h := start(t, m, withSteps(&worldSteps{sections: env}))
		h.run("first")
		ct, err := h.a.Compact(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		h.wait(ct)
		if got := fromCompacted(h.rec.lines()); !equal(got, withWorldLines) {
			t.Errorf("compaction lines = %v, want %v", got, withWorldLines)
		}
		// The next turn restates nothing: the baseline is the one recorded
		// after the compaction.
		h.run("second")
		checkAfterCompaction(t, m.Request(2))
	})

	t.Run("fresh window", func(t *testing.T) {
		m := modeltest.New(t, modeltest.Text("one"), modeltest.Text("two"))
		h := start(t, m, withSteps(&worldSteps{sections: env}), func(c *agent.Config) { c.Compaction.FreshWindow = true })
		h.run("first")
		ct, err := h.a.Compact(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		h.wait(ct)
		h.run("second")
		// The new window is only the initial context, then the input.
		if got, want := texts(m.Request(1)), []string{"developer:<env>ready</env>", "user:second"}; !equal(got, want) {
			t.Errorf("request in the fresh window = %q, want %q", got, want)
		}
		if w := worldRecords(h.rec.items); !equal(w, []string{full, full}) {
			t.Errorf("world_state records = %v", w)
		}
	})
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// texts renders a request's messages as "role:text".
func texts(req *agent.Request) []string {
	var out []string
	for _, it := range req.Input {
		out = append(out, it.Role+":"+it.Text())
	}
	return out
}

// checkAfterCompaction checks the request of the turn after a compaction
// of the turn "first" (answered "one"): the kept user message, the summary,
// the full world state, the new input.
func checkAfterCompaction(t *testing.T, req *agent.Request) {
	t.Helper()
	want := []string{"user:first", "user:" + summaryText("summary"), "developer:<env>ready</env>", "user:second"}
	if got := texts(req); !equal(got, want) {
		t.Errorf("request after compaction = %q, want %q", got, want)
	}
}
