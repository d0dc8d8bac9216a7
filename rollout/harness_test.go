package rollout

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHarnessMark marks a user-role message without a contextual tag: it is
// harness context (not a user turn) after an encode/decode round trip, in
// Codex's content_item_metadata shape, and other passthrough members are
// kept.
func TestHarnessMark(t *testing.T) {
	m := NewMessage(RoleUser, "Skills now available: go-review")
	m.Content = append(m.Content, ContentPart{Type: PartInputText, Text: "and table-tests"})
	m.Passthrough = &Passthrough{TurnID: "turn-1"}
	if IsHarnessMarked(m) || !IsUserTurnBoundary(m) {
		t.Fatalf("unmarked: IsHarnessMarked = %v, IsUserTurnBoundary = %v, want false, true", IsHarnessMarked(m), IsUserTurnBoundary(m))
	}
	orig := m.Passthrough
	MarkHarness(m)
	if orig.Extra != nil {
		t.Errorf("MarkHarness modified the caller's passthrough in place")
	}
	line, err := MarshalLine(Item{Payload: m})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"content_item_metadata":[{"provenance":{"type":"harness","hook":false}},{"provenance":{"type":"harness","hook":false}}]`; !strings.Contains(string(line), want) {
		t.Errorf("encoded line %s lacks %s", line, want)
	}
	it, err := ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	back := it.Payload.(*ResponseItem)
	if !IsHarnessMarked(back) || IsUserTurnBoundary(back) || back.Passthrough.TurnID != "turn-1" {
		t.Errorf("decoded: IsHarnessMarked = %v, IsUserTurnBoundary = %v, turn id %q; want true, false, turn-1",
			IsHarnessMarked(back), IsUserTurnBoundary(back), back.Passthrough.TurnID)
	}
	// One part unmarked, or metadata of another shape: not harness.
	for _, raw := range []string{
		`[{"provenance":{"type":"harness","hook":false}}]`,
		`[{"provenance":{"type":"user"}},{"provenance":{"type":"harness"}}]`,
		`{"provenance":"harness"}`,
	} {
		c := *back
		p := *back.Passthrough
		p.Extra = append(Members(nil), p.Extra...)
		p.Extra.Set(contentItemMetadataKey, json.RawMessage(raw))
		c.Passthrough = &p
		if IsHarnessMarked(&c) {
			t.Errorf("IsHarnessMarked with metadata %s = true, want false", raw)
		}
	}
}
