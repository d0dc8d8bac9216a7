package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Event types (EventMsg.Type) the runtime reads or writes. Codex writes a
// turn start as task_started and a turn end as task_complete; the
// turn_started / turn_complete aliases are accepted on read.
const (
	EventTurnStarted           = "task_started"
	EventTurnStartedAlias      = "turn_started"
	EventTurnComplete          = "task_complete"
	EventTurnCompleteAlias     = "turn_complete"
	EventTurnAborted           = "turn_aborted"
	EventTokenCount            = "token_count"
	EventThreadRolledBack      = "thread_rolled_back"
	EventThreadGoalUpdated     = "thread_goal_updated"
	EventThreadSettingsApplied = "thread_settings_applied"
	EventItemCompleted         = "item_completed"
	EventUserMessage           = "user_message"
	EventAgentMessage          = "agent_message"
	EventAgentReasoning        = "agent_reasoning"
	EventAgentReasoningRaw     = "agent_reasoning_raw_content"
	EventContextCompacted      = "context_compacted"
	EventSubAgentActivity      = "sub_agent_activity"
	EventError                 = "error"
)

// CanonicalEventType maps the accepted aliases to the names Codex writes.
func CanonicalEventType(t string) string {
	switch t {
	case EventTurnStartedAlias:
		return EventTurnStarted
	case EventTurnCompleteAlias:
		return EventTurnComplete
	}
	return t
}

// EventMsg is a persisted event (event_msg line). The payload is kept
// verbatim in Raw (including its "type" member); Decode reads it into one
// of the typed event structs below. Build new events with NewEvent.
type EventMsg struct {
	// Type is the payload's "type", as written (aliases not mapped).
	Type string
	// TurnID is the payload's "turn_id" when it has a string one.
	TurnID string
	// Raw is the whole payload object, verbatim.
	Raw json.RawMessage
}

// Kind implements Payload.
func (*EventMsg) Kind() Kind { return KindEventMsg }

// UnmarshalJSON implements json.Unmarshaler.
func (e *EventMsg) UnmarshalJSON(b []byte) error {
	var typ, turnID string
	err := eachMember(b, func(key []byte, keyEscaped bool, val []byte) error {
		var dst *string
		switch string(key) {
		case "type":
			dst = &typ
		case "turn_id":
			dst = &turnID
		default:
			return nil
		}
		if val[0] != '"' {
			if dst == &typ {
				return fmt.Errorf("event_msg type is not a string")
			}
			return nil
		}
		s, err := decodeString(val)
		*dst = s
		return err
	})
	if err != nil {
		return err
	}
	if typ == "" {
		return fmt.Errorf("event_msg payload has no type")
	}
	*e = EventMsg{Type: typ, TurnID: turnID, Raw: bytes.Clone(bytes.TrimSpace(b))}
	return nil
}

// MarshalJSON implements json.Marshaler: Raw verbatim (compacted).
func (e EventMsg) MarshalJSON() ([]byte, error) { return e.appendJSON(nil) }

// Is reports whether e is an event of type t, treating aliases as equal.
func (e *EventMsg) Is(t string) bool {
	return CanonicalEventType(e.Type) == CanonicalEventType(t)
}

// EventPayload is a typed event body: it names its event type.
type EventPayload interface {
	EventType() string
}

// NewEvent encodes p as an event_msg payload, its "type" member first.
func NewEvent(p EventPayload) (*EventMsg, error) {
	body, err := marshalJSON(p)
	if err != nil {
		return nil, fmt.Errorf("rollout: encode %s event: %w", p.EventType(), err)
	}
	tb, _ := marshalJSON(p.EventType())
	raw := make([]byte, 0, len(body)+len(tb)+9)
	raw = append(raw, `{"type":`...)
	raw = append(raw, tb...)
	if len(body) > 2 {
		raw = append(raw, ',')
		raw = append(raw, body[1:]...)
	} else {
		raw = append(raw, '}')
	}
	e := &EventMsg{}
	if err := e.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("rollout: encode %s event: %w", p.EventType(), err)
	}
	return e, nil
}

// ErrEventType is matched (errors.Is) by Decode when the event is not of
// the type of its argument.
var ErrEventType = fmt.Errorf("rollout: event type mismatch")

// Decode decodes the payload into v, which must be of e's type (aliases
// accepted).
func (e *EventMsg) Decode(v EventPayload) error {
	if !e.Is(v.EventType()) {
		return fmt.Errorf("%w: event is %q, not %q", ErrEventType, e.Type, v.EventType())
	}
	if err := json.Unmarshal(e.Raw, v); err != nil {
		return fmt.Errorf("rollout: decode %s event: %w", e.Type, err)
	}
	return nil
}

// TurnStarted (task_started) opens a turn.
type TurnStarted struct {
	TurnID string `json:"turn_id"`
	// StartedAt is Unix seconds.
	StartedAt          *int64 `json:"started_at,omitempty"`
	ModelContextWindow *int64 `json:"model_context_window,omitempty"`
}

// EventType implements EventPayload.
func (TurnStarted) EventType() string { return EventTurnStarted }

// TurnComplete (task_complete) closes a turn; Error is set on a failed
// turn.
type TurnComplete struct {
	TurnID           string     `json:"turn_id"`
	LastAgentMessage *string    `json:"last_agent_message"`
	Error            *TurnError `json:"error,omitempty"`
	StartedAt        *int64     `json:"started_at,omitempty"`
	CompletedAt      *int64     `json:"completed_at,omitempty"`
	DurationMS       *int64     `json:"duration_ms,omitempty"`
	TimeToFirstToken *int64     `json:"time_to_first_token_ms,omitempty"`
}

// EventType implements EventPayload.
func (TurnComplete) EventType() string { return EventTurnComplete }

// TurnError is the error of a failed turn (Codex's ErrorEvent).
type TurnError struct {
	Message        string          `json:"message"`
	CodexErrorInfo json.RawMessage `json:"codex_error_info,omitempty"`
}

// TurnAborted ends a turn early (reason "interrupted", "replaced", ...).
type TurnAborted struct {
	TurnID      string `json:"turn_id,omitempty"`
	Reason      string `json:"reason"`
	StartedAt   *int64 `json:"started_at,omitempty"`
	CompletedAt *int64 `json:"completed_at,omitempty"`
	DurationMS  *int64 `json:"duration_ms,omitempty"`
}

// EventType implements EventPayload.
func (TurnAborted) EventType() string { return EventTurnAborted }

// TokenCount reports token usage after a model response.
type TokenCount struct {
	Info       *TokenCountInfo `json:"info"`
	RateLimits json.RawMessage `json:"rate_limits,omitempty"`
}

// EventType implements EventPayload.
func (TokenCount) EventType() string { return EventTokenCount }

// TokenCountInfo is the usage part of a token_count event.
type TokenCountInfo struct {
	TotalTokenUsage    TokenUsage `json:"total_token_usage"`
	LastTokenUsage     TokenUsage `json:"last_token_usage"`
	ModelContextWindow *int64     `json:"model_context_window,omitempty"`
}

// ThreadRolledBack drops the last NumTurns user turns from the history.
type ThreadRolledBack struct {
	NumTurns uint32 `json:"num_turns"`
}

// EventType implements EventPayload.
func (ThreadRolledBack) EventType() string { return EventThreadRolledBack }

// ItemCompleted carries a full snapshot of a completed turn item (a Codex
// TurnItem, tagged by a PascalCase "type": UserMessage, AgentMessage,
// Reasoning, CommandExecution, SubAgentActivity, Extension, ...). Item is
// kept verbatim.
type ItemCompleted struct {
	// ThreadID is required by Codex.
	ThreadID      ThreadID        `json:"thread_id"`
	TurnID        string          `json:"turn_id"`
	Item          json.RawMessage `json:"item"`
	StartedAtMS   *int64          `json:"started_at_ms,omitempty"`
	CompletedAtMS *int64          `json:"completed_at_ms,omitempty"`
}

// EventType implements EventPayload.
func (ItemCompleted) EventType() string { return EventItemCompleted }

// ItemHeader returns the item's "type" and "id" (and "kind", used by
// Extension items such as clock.sleep).
func (c *ItemCompleted) ItemHeader() (typ, id, kind string) {
	var h struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(c.Item, &h)
	return h.Type, h.ID, h.Kind
}

// UserMessage is the legacy event twin of a user message.
type UserMessage struct {
	ClientID string   `json:"client_id,omitempty"`
	Message  string   `json:"message"`
	Images   []string `json:"images,omitempty"`
}

// EventType implements EventPayload.
func (UserMessage) EventType() string { return EventUserMessage }

// AgentMessage is the legacy event twin of an assistant message.
type AgentMessage struct {
	Message string `json:"message"`
	Phase   string `json:"phase,omitempty"`
}

// EventType implements EventPayload.
func (AgentMessage) EventType() string { return EventAgentMessage }

// AgentReasoning is the legacy event twin of a reasoning summary.
type AgentReasoning struct {
	Text string `json:"text"`
}

// EventType implements EventPayload.
func (AgentReasoning) EventType() string { return EventAgentReasoning }

// ContextCompacted is the legacy event twin of a compaction.
type ContextCompacted struct{}

// EventType implements EventPayload.
func (ContextCompacted) EventType() string { return EventContextCompacted }

// SubAgentActivity is the legacy event that a sub-agent was started,
// completed, interrupted or interacted with.
type SubAgentActivity struct {
	EventID       string   `json:"event_id"`
	OccurredAtMS  int64    `json:"occurred_at_ms"`
	AgentThreadID ThreadID `json:"agent_thread_id"`
	AgentPath     string   `json:"agent_path"`
	ActivityKind  string   `json:"kind"`
}

// EventType implements EventPayload.
func (SubAgentActivity) EventType() string { return EventSubAgentActivity }
