package rollout

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Payload is the content of one rollout line. It is implemented by
// *SessionMeta, *ResponseItem, *EventMsg, *TurnContext, *Compacted,
// *WorldState, *InterAgentMetadata, *InterAgentCommunication,
// *TokenUsageRecord and *Unknown. A Payload must encode (json.Marshal) to a
// JSON object.
type Payload interface {
	// Kind is the line "type" the payload is written under.
	Kind() Kind
}

var (
	_ Payload = (*SessionMeta)(nil)
	_ Payload = (*ResponseItem)(nil)
	_ Payload = (*EventMsg)(nil)
	_ Payload = (*TurnContext)(nil)
	_ Payload = (*Compacted)(nil)
	_ Payload = (*WorldState)(nil)
	_ Payload = (*InterAgentMetadata)(nil)
	_ Payload = (*InterAgentCommunication)(nil)
	_ Payload = (*TokenUsageRecord)(nil)
	_ Payload = (*Unknown)(nil)
)

// Compacted records a compaction: the summary Message and, for newer
// files, the ReplacementHistory that becomes the base of the model history.
// Legacy files wrote the window number as a numeric window_id; decoding
// moves it to WindowNumber.
type Compacted struct {
	Message string `json:"message"`
	// ReplacementHistory is nil when absent (legacy compaction: the summary
	// message semantics apply) and non-nil, possibly empty, when present.
	ReplacementHistory []ResponseItem `json:"replacement_history,omitzero"`
	WindowNumber       *uint64        `json:"window_number,omitempty"`
	FirstWindowID      string         `json:"first_window_id,omitempty"`
	PreviousWindowID   string         `json:"previous_window_id,omitempty"`
	WindowID           string         `json:"window_id,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var compactedFields = jsonFields(reflect.TypeFor[Compacted]())

// Kind implements Payload.
func (*Compacted) Kind() Kind { return KindCompacted }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members and
// accepting the legacy numeric window_id.
func (c *Compacted) UnmarshalJSON(b []byte) error {
	// A numeric window_id would fail the typed decode: pull it out first.
	var windowID []byte
	if err := eachMember(b, func(key []byte, _ bool, val []byte) error {
		if string(key) == "window_id" {
			windowID = val
		}
		return nil
	}); err != nil {
		return err
	}
	var legacyNumber *uint64
	if t := windowID; len(t) > 0 && t[0] != '"' && string(t) != "null" {
		var n uint64
		if err := json.Unmarshal(t, &n); err != nil {
			return fmt.Errorf("compacted window_id: %w", err)
		}
		legacyNumber = &n
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			return err
		}
		delete(members, "window_id")
		var err error
		if b, err = marshalJSON(members); err != nil {
			return err
		}
	}
	type plain Compacted
	var p plain
	extra, err := decodeObject(b, &p, compactedFields)
	if err != nil {
		return err
	}
	*c = Compacted(p)
	c.Extra = extra
	if legacyNumber != nil && c.WindowNumber == nil {
		c.WindowNumber = legacyNumber
	}
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (c Compacted) MarshalJSON() ([]byte, error) {
	type plain Compacted
	return encodeObject(plain(c), compactedFields, c.Extra)
}

// TurnContext is the per-turn settings record (turn_context line). Only
// the members the runtime reads are modelled; the rest (approval and
// sandbox policies, collaboration mode, summary, ...) stay in Extra. Codex
// requires cwd, model, approval_policy, sandbox_policy and summary to read
// the line: a writer must set Cwd and Model and put the others in Extra.
type TurnContext struct {
	TurnID            string `json:"turn_id,omitempty"`
	Cwd               string `json:"cwd"`
	Model             string `json:"model"`
	CompHash          string `json:"comp_hash,omitempty"`
	MultiAgentVersion string `json:"multi_agent_version,omitempty"`
	// MultiAgentMode is kept verbatim: its shape varies across versions.
	MultiAgentMode json.RawMessage `json:"multi_agent_mode,omitempty"`
	Effort         string          `json:"effort,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var turnContextFields = jsonFields(reflect.TypeFor[TurnContext]())

// Kind implements Payload.
func (*TurnContext) Kind() Kind { return KindTurnContext }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (t *TurnContext) UnmarshalJSON(b []byte) error {
	type plain TurnContext
	var p plain
	extra, err := decodeObject(b, &p, turnContextFields)
	if err != nil {
		return err
	}
	*t = TurnContext(p)
	t.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (t TurnContext) MarshalJSON() ([]byte, error) {
	type plain TurnContext
	return encodeObject(plain(t), turnContextFields, t.Extra)
}

// WorldState is a world-state record: a new baseline when Full, else a
// patch against the previous state. State is opaque to this package.
type WorldState struct {
	Full  bool            `json:"full"`
	State json.RawMessage `json:"state"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var worldStateFields = jsonFields(reflect.TypeFor[WorldState]())

// Kind implements Payload.
func (*WorldState) Kind() Kind { return KindWorldState }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (w *WorldState) UnmarshalJSON(b []byte) error {
	type plain WorldState
	var p plain
	extra, err := decodeObject(b, &p, worldStateFields)
	if err != nil {
		return err
	}
	*w = WorldState(p)
	w.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (w WorldState) MarshalJSON() ([]byte, error) {
	type plain WorldState
	if w.State == nil {
		w.State = json.RawMessage("null")
	}
	return encodeObject(plain(w), worldStateFields, w.Extra)
}

// InterAgentMetadata is written just before a delivered agent_message:
// whether the message triggers a turn.
type InterAgentMetadata struct {
	TriggerTurn bool `json:"trigger_turn"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var interAgentMetadataFields = jsonFields(reflect.TypeFor[InterAgentMetadata]())

// Kind implements Payload.
func (*InterAgentMetadata) Kind() Kind { return KindInterAgentMetadata }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (m *InterAgentMetadata) UnmarshalJSON(b []byte) error {
	type plain InterAgentMetadata
	var p plain
	extra, err := decodeObject(b, &p, interAgentMetadataFields)
	if err != nil {
		return err
	}
	*m = InterAgentMetadata(p)
	m.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (m InterAgentMetadata) MarshalJSON() ([]byte, error) {
	type plain InterAgentMetadata
	return encodeObject(plain(m), interAgentMetadataFields, m.Extra)
}

// InterAgentCommunication is the legacy delivery record of an inter-agent
// message (inter_agent_communication line). Readers turn it into an
// agent_message with AgentMessage.
type InterAgentCommunication struct {
	ID               string       `json:"id,omitempty"`
	Author           string       `json:"author"`
	Recipient        string       `json:"recipient"`
	OtherRecipients  []string     `json:"other_recipients,omitzero"`
	Content          string       `json:"content"`
	EncryptedContent *string      `json:"encrypted_content,omitempty"`
	Passthrough      *Passthrough `json:"internal_chat_message_metadata_passthrough,omitempty"`
	TriggerTurn      bool         `json:"trigger_turn"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var interAgentCommunicationFields = jsonFields(reflect.TypeFor[InterAgentCommunication]())

// Kind implements Payload.
func (*InterAgentCommunication) Kind() Kind { return KindInterAgentCommunication }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (c *InterAgentCommunication) UnmarshalJSON(b []byte) error {
	type plain InterAgentCommunication
	var p plain
	extra, err := decodeObject(b, &p, interAgentCommunicationFields)
	if err != nil {
		return err
	}
	*c = InterAgentCommunication(p)
	c.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (c InterAgentCommunication) MarshalJSON() ([]byte, error) {
	type plain InterAgentCommunication
	return encodeObject(plain(c), interAgentCommunicationFields, c.Extra)
}

// AgentMessage converts the legacy record to the agent_message item the
// model sees, as Codex does: an encrypted message becomes a plain header
// part ("Message Type: NEW_TASK|MESSAGE", task name, sender) followed by an
// encrypted_content part; a plain one becomes a single input_text part.
func (c *InterAgentCommunication) AgentMessage() *ResponseItem {
	var content []ContentPart
	if c.EncryptedContent != nil {
		mt := "MESSAGE"
		if c.TriggerTurn {
			mt = "NEW_TASK"
		}
		content = []ContentPart{
			{Type: PartInputText, Text: fmt.Sprintf("Message Type: %s\nTask name: %s\nSender: %s\nPayload:\n", mt, c.Recipient, c.Author)},
			{Type: PartEncryptedContent, EncryptedContent: *c.EncryptedContent},
		}
	} else {
		content = []ContentPart{{Type: PartInputText, Text: c.Content}}
	}
	return &ResponseItem{
		Type:        ItemAgentMessage,
		ID:          c.ID,
		Author:      c.Author,
		Recipient:   c.Recipient,
		Content:     content,
		Passthrough: c.Passthrough,
	}
}

// TokenUsage is Codex's token usage breakdown.
type TokenUsage struct {
	InputTokens           int64 `json:"input_tokens"`
	CachedInputTokens     int64 `json:"cached_input_tokens"`
	OutputTokens          int64 `json:"output_tokens"`
	ReasoningOutputTokens int64 `json:"reasoning_output_tokens"`
	TotalTokens           int64 `json:"total_tokens"`
}

// TokenUsageRecord is the payload of a token_usage_record line: the usage
// of one model response. Members not modelled here are kept in Extra.
type TokenUsageRecord struct {
	ThreadID   ThreadID `json:"thread_id,omitempty"`
	TurnID     string   `json:"turn_id,omitempty"`
	ResponseID string   `json:"response_id,omitempty"`
	// Usage is the response's own usage, verbatim; see TokenUsage.
	Usage json.RawMessage `json:"usage,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var tokenUsageRecordFields = jsonFields(reflect.TypeFor[TokenUsageRecord]())

// Kind implements Payload.
func (*TokenUsageRecord) Kind() Kind { return KindTokenUsageRecord }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (r *TokenUsageRecord) UnmarshalJSON(b []byte) error {
	type plain TokenUsageRecord
	var p plain
	extra, err := decodeObject(b, &p, tokenUsageRecordFields)
	if err != nil {
		return err
	}
	*r = TokenUsageRecord(p)
	r.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (r TokenUsageRecord) MarshalJSON() ([]byte, error) {
	type plain TokenUsageRecord
	return encodeObject(plain(r), tokenUsageRecordFields, r.Extra)
}

// TokenUsage decodes Usage.
func (r *TokenUsageRecord) TokenUsage() (TokenUsage, error) {
	var u TokenUsage
	if len(r.Usage) == 0 {
		return u, nil
	}
	err := json.Unmarshal(r.Usage, &u)
	return u, err
}

// Unknown is the payload of a line whose kind this package does not know:
// kept verbatim so re-writing reproduces it.
type Unknown struct {
	// Type is the line's kind.
	Type Kind
	// Raw is the payload JSON, verbatim.
	Raw json.RawMessage
}

// Kind implements Payload.
func (u *Unknown) Kind() Kind { return u.Type }

// MarshalJSON implements json.Marshaler: the payload verbatim (compacted).
func (u Unknown) MarshalJSON() ([]byte, error) { return u.appendJSON(nil) }
