package agent

import (
	"encoding/json"
	"strings"

	"github.com/troupe-run/troupe/rollout"
)

// This file marks the world-state fragments the agent records as harness
// context, so that compaction (and anything counting user turns) never
// takes them for user input, also after a resume.

// The marker is Codex's own: the passthrough member content_item_metadata
// holds one entry per content part, and a part the harness wrote has the
// provenance {"type":"harness","hook":false} (Codex writes it on its
// <environment_context> messages). It is persisted with the item, so a
// resumed thread, whose history is read back from the rollout, knows too.
const (
	contentItemMetadataKey = "content_item_metadata"
	provenanceHarness      = "harness"
)

var harnessPartMetadata = json.RawMessage(`{"provenance":{"type":"harness","hook":false}}`)

// markHarness marks every content part of m as harness context.
func markHarness(m *rollout.ResponseItem) {
	var b strings.Builder
	b.WriteByte('[')
	for i := range m.Content {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(harnessPartMetadata)
	}
	b.WriteByte(']')
	p := rollout.Passthrough{}
	if m.Passthrough != nil {
		p = *m.Passthrough
		p.Extra = append(rollout.Members(nil), p.Extra...)
	}
	p.Extra.Set(contentItemMetadataKey, json.RawMessage(b.String()))
	m.Passthrough = &p
}

// harnessMarked reports whether the passthrough metadata of r gives every
// content part a harness provenance.
func harnessMarked(r *rollout.ResponseItem) bool {
	if r.Passthrough == nil || len(r.Content) == 0 {
		return false
	}
	raw, ok := r.Passthrough.Extra.Get(contentItemMetadataKey)
	if !ok {
		return false
	}
	var meta []struct {
		Provenance *struct {
			Type string `json:"type"`
		} `json:"provenance"`
	}
	if json.Unmarshal(raw, &meta) != nil || len(meta) != len(r.Content) {
		return false
	}
	for _, m := range meta {
		if m.Provenance == nil || m.Provenance.Type != provenanceHarness {
			return false
		}
	}
	return true
}

// IsHarnessContext reports whether r is context the harness injected
// rather than input from a user or another agent: a message whose parts
// the passthrough metadata marks with a harness provenance (the world-state
// fragments an agent records, and Codex's own context messages), or a user
// message whose text rollout.IsContextualUserText recognises. Compaction
// keeps no such message among the recent user messages; code that counts
// user turns (rollback, last-N-turn forks) should skip them too.
func IsHarnessContext(r *rollout.ResponseItem) bool {
	if r.Type != rollout.ItemMessage {
		return false
	}
	if harnessMarked(r) {
		return true
	}
	return r.Role == rollout.RoleUser && !rollout.IsUserTurnBoundary(r)
}
