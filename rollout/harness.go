package rollout

import (
	"encoding/json"
	"strings"
)

// Codex marks the content a harness injected (its <environment_context>
// messages, troupe's world-state fragments) in the item's passthrough
// metadata: content_item_metadata holds one entry per content part, and a
// harness part has the provenance {"type":"harness","hook":false}.
const (
	contentItemMetadataKey = "content_item_metadata"
	provenanceHarness      = "harness"
)

var harnessPartMetadata = json.RawMessage(`{"provenance":{"type":"harness","hook":false}}`)

// MarkHarness marks every content part of r as harness context, in Codex's
// content_item_metadata shape (other passthrough members are kept; r's
// passthrough is copied, not modified in place).
func MarkHarness(r *ResponseItem) {
	var b strings.Builder
	b.WriteByte('[')
	for i := range r.Content {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(harnessPartMetadata)
	}
	b.WriteByte(']')
	p := Passthrough{}
	if r.Passthrough != nil {
		p = *r.Passthrough
		p.Extra = append(Members(nil), p.Extra...)
	}
	p.Extra.Set(contentItemMetadataKey, json.RawMessage(b.String()))
	r.Passthrough = &p
}

// IsHarnessMarked reports whether r's passthrough metadata gives every one
// of its content parts a harness provenance (see MarkHarness).
func IsHarnessMarked(r *ResponseItem) bool {
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
