package agent_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// untaggedSection is a custom user-role section whose fragment starts with
// no tag rollout.IsContextualUserText knows.
func untaggedSection(agent.StepInfo) []agent.Section {
	return []agent.Section{statusSection{id: "probe", status: "ready", role: rollout.RoleUser}}
}

const untaggedFragment = "<probe>ready</probe>"

// holdsFragment reports whether any item's text holds the fragment.
func holdsFragment(items []rollout.ResponseItem) bool {
	for i := range items {
		if strings.Contains(items[i].Text(), untaggedFragment) {
			return true
		}
	}
	return false
}

// countFragment counts the items holding the fragment.
func countFragment(items []rollout.ResponseItem) int {
	n := 0
	for i := range items {
		if strings.Contains(items[i].Text(), untaggedFragment) {
			n++
		}
	}
	return n
}

// A user-role world-state fragment without a contextual tag is harness
// context, not a user message: compaction does not keep it (live and after
// a resume), and the world state after the compaction is restated in full.
func TestCompactionDropsUntaggedUserFragment(t *testing.T) {
	rec, path, w0 := newWindowedRecorder(t)
	m1 := modeltest.New(t, modeltest.Text("one"), modeltest.Text("summary 1"), modeltest.Text("two"))
	h1 := start(t, m1, paginated, withSteps(&worldSteps{sections: untaggedSection}), func(c *agent.Config) { c.Recorder, c.Window = rec, w0 })
	h1.run("first")
	if got := countFragment(m1.Request(0).Input); got != 1 {
		t.Fatalf("first request holds the fragment %d times, want 1", got)
	}
	ct, err := h1.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h1.wait(ct); res.Err != nil {
		t.Fatalf("Compact turn = %+v", res.Err)
	}
	h1.run("second")
	// The follow-up turn: the replacement history (the user message
	// "first" and the summary), then the full world state once.
	req := m1.Request(2).Input
	if got := countFragment(req); got != 1 {
		t.Errorf("request after the compaction holds the fragment %d times, want 1 (restated in full)", got)
	}
	h1.a.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	items := readLines(t, path)
	cs := compactedRecords(items)
	if len(cs) != 1 {
		t.Fatalf("%d compacted records, want 1", len(cs))
	}
	if holdsFragment(cs[0].ReplacementHistory) {
		t.Errorf("replacement history = %v, holds the world-state fragment", jsonOf(t, cs[0].ReplacementHistory))
	}
	if !holdsUser(cs[0].ReplacementHistory, "first") {
		t.Errorf("replacement history = %v, want the user message kept", jsonOf(t, cs[0].ReplacementHistory))
	}
	// The persisted fragments carry the marker.
	var marked int
	for _, it := range items {
		if r, ok := it.Payload.(*rollout.ResponseItem); ok && strings.Contains(r.Text(), untaggedFragment) {
			if !agent.IsHarnessContext(r) {
				t.Errorf("persisted fragment %v is not marked as harness context", jsonOf(t, []rollout.ResponseItem{*r}))
			}
			marked++
		}
	}
	if marked != 2 {
		t.Errorf("%d fragments persisted, want 2", marked)
	}
	// In Codex's own shape, so Codex reads the marker as it writes it.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const codexMarker = `"content_item_metadata":[{"provenance":{"type":"harness","hook":false}}]`
	if got := strings.Count(string(raw), codexMarker); got != 2 {
		t.Errorf("rollout holds the marker %s %d times, want 2", codexMarker, got)
	}

	// Resume: the history read back from the file still knows the
	// fragment of the second turn is harness context.
	rec2, hist := resume(t, path)
	m2 := modeltest.New(t, modeltest.Text("summary 2"), modeltest.Text("three"))
	h2 := start(t, m2, paginated, withSteps(&worldSteps{sections: untaggedSection}), func(c *agent.Config) { c.Recorder, c.Resume = rec2, hist })
	ct, err = h2.a.Compact(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res := h2.wait(ct); res.Err != nil {
		t.Fatalf("resumed Compact turn = %+v", res.Err)
	}
	h2.run("third")
	if got := countFragment(m2.Request(1).Input); got != 1 {
		t.Errorf("request after the resumed compaction holds the fragment %d times, want 1", got)
	}
	h2.a.Close()
	if err := rec2.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	cs = compactedRecords(readLines(t, path))
	if len(cs) != 2 {
		t.Fatalf("%d compacted records, want 2", len(cs))
	}
	if holdsFragment(cs[1].ReplacementHistory) {
		t.Errorf("resumed replacement history = %v, holds the world-state fragment", jsonOf(t, cs[1].ReplacementHistory))
	}
	if !holdsUser(cs[1].ReplacementHistory, "second") {
		t.Errorf("resumed replacement history = %v, want the user message kept", jsonOf(t, cs[1].ReplacementHistory))
	}
}

func holdsUser(items []rollout.ResponseItem, text string) bool {
	for i := range items {
		if items[i].IsUserMessage() && items[i].Text() == text {
			return true
		}
	}
	return false
}

func TestIsHarnessContext(t *testing.T) {
	marked := func(meta string) *rollout.ResponseItem {
		m := rollout.NewMessage(rollout.RoleUser, "plain")
		m.Passthrough = &rollout.Passthrough{TurnID: "t"}
		m.Passthrough.Extra.Set("content_item_metadata", []byte(meta))
		return m
	}
	tests := []struct {
		name string
		item *rollout.ResponseItem
		want bool
	}{
		{"plain user message", rollout.NewMessage(rollout.RoleUser, "hello"), false},
		{"tagged user context", rollout.NewMessage(rollout.RoleUser, "<environment_context>\n</environment_context>"), true},
		{"harness provenance", marked(`[{"provenance":{"type":"harness","hook":false}}]`), true},
		{"user provenance", marked(`[{"provenance":{"type":"user"}}]`), false},
		{"one part short", marked(`[]`), false},
		{"unreadable metadata", marked(`{"provenance":1}`), false},
		{"assistant message", rollout.NewMessage(rollout.RoleAssistant, "hi"), false},
		{"function call", rollout.NewFunctionCall("c", "f", "{}"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agent.IsHarnessContext(tt.item); got != tt.want {
				t.Errorf("IsHarnessContext(%v) = %v, want %v", jsonOf(t, []rollout.ResponseItem{*tt.item}), got, tt.want)
			}
		})
	}
}

// FuzzIsHarnessContext reads arbitrary content_item_metadata (outside
// input: rollouts Codex or another tool wrote): never a panic, and only a
// harness provenance for every part marks a message.
func FuzzIsHarnessContext(f *testing.F) {
	for _, s := range []string{`[{"provenance":{"type":"harness","hook":false}}]`, `[{"provenance":{"type":"user"}}]`, `[]`, `null`, `[null]`, `{"a":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, meta string) {
		m := rollout.NewMessage(rollout.RoleUser, "plain text")
		m.Passthrough = &rollout.Passthrough{TurnID: "t"}
		m.Passthrough.Extra.Set("content_item_metadata", []byte(meta))
		if !agent.IsHarnessContext(m) {
			return
		}
		var parts []struct {
			Provenance struct{ Type string } `json:"provenance"`
		}
		if err := json.Unmarshal([]byte(meta), &parts); err != nil || len(parts) != 1 || parts[0].Provenance.Type != "harness" {
			t.Errorf("IsHarnessContext with metadata %q = true, want false", meta)
		}
	})
}
