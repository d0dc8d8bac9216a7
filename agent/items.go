package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ItemKind names a TurnItem's kind; it is the "type" member of the item's
// JSON form, except Sleep, which Codex writes as an Extension of kind
// clock.sleep.
type ItemKind string

// The turn item kinds.
const (
	KindUserMessage         ItemKind = "UserMessage"
	KindAgentMessage        ItemKind = "AgentMessage"
	KindReasoning           ItemKind = "Reasoning"
	KindCommandExecution    ItemKind = "CommandExecution"
	KindDynamicToolCall     ItemKind = "DynamicToolCall"
	KindCollabAgentToolCall ItemKind = "CollabAgentToolCall"
	KindSubAgentActivity    ItemKind = "SubAgentActivity"
	KindSleep               ItemKind = "Sleep"
	KindContextCompaction   ItemKind = "ContextCompaction"
)

// TurnItem is one thing that happened in a turn, as embedders see it: a
// user message, an assistant message, a tool call and its outcome, ... The
// same id is used by its ItemStarted and ItemCompleted events. Its JSON form
// is Codex's (the "item" of an item_completed event).
//
// The concrete types are the exported structs of this file; switch on them.
type TurnItem interface {
	ItemID() string
	ItemKind() ItemKind
}

// Item status values used by tool items.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// UserMessage is input from the user (or the embedder).
type UserMessage struct {
	ID      string      `json:"id"`
	Content []UserInput `json:"content"`
}

// UserInput is one part of a user message.
type UserInput struct {
	// Type is "text" (the only kind this build creates).
	Type string `json:"type"`
	Text string `json:"text"`
	// TextElements is Codex's UI markup of the text; kept as given.
	TextElements json.RawMessage `json:"text_elements,omitempty"`
}

// Text joins the text parts of m.
func (m UserMessage) Text() string {
	parts := make([]string, 0, len(m.Content))
	for _, c := range m.Content {
		if c.Text != "" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// AgentMessage is a message from the model.
type AgentMessage struct {
	ID      string         `json:"id"`
	Content []AgentContent `json:"content"`
	// Phase is "commentary" or "final_answer" ("" when the model did not
	// say; treated as final).
	Phase string `json:"phase,omitempty"`
}

// AgentContent is one part of an agent message: Type "Text".
type AgentContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Text joins the text parts of m.
func (m AgentMessage) Text() string {
	var sb strings.Builder
	for _, c := range m.Content {
		sb.WriteString(c.Text)
	}
	return sb.String()
}

// Reasoning is a reasoning item of the model.
type Reasoning struct {
	ID          string   `json:"id"`
	SummaryText []string `json:"summary_text"`
	RawContent  []string `json:"raw_content"`
}

// CommandExecution is a shell command run by a tool.
type CommandExecution struct {
	ID               string   `json:"id"`
	Command          []string `json:"command"`
	Cwd              string   `json:"cwd"`
	Status           string   `json:"status"`
	AggregatedOutput string   `json:"aggregated_output,omitempty"`
	ExitCode         *int     `json:"exit_code,omitempty"`
	DurationMs       int64    `json:"duration_ms,omitempty"`
}

// DynamicToolCall is a call of any tool without a dedicated item kind.
type DynamicToolCall struct {
	ID        string          `json:"id"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Status    string          `json:"status"`
	Output    string          `json:"output,omitempty"`
	Success   *bool           `json:"success,omitempty"`
}

// CollabAgentToolCall is a call of a multi-agent tool (spawn_agent,
// send_message, wait_agent, ...). Package control fills it.
type CollabAgentToolCall struct {
	ID                string          `json:"id"`
	Tool              string          `json:"tool"`
	Status            string          `json:"status"`
	SenderThreadID    string          `json:"sender_thread_id"`
	ReceiverThreadIDs []string        `json:"receiver_thread_ids"`
	ReceiverAgents    json.RawMessage `json:"receiver_agents,omitempty"`
	AgentsStates      json.RawMessage `json:"agents_states,omitempty"`
}

// SubAgentActivity records something that happened to a sub-agent (kinds
// started, interacted, interrupted, completed).
type SubAgentActivity struct {
	ID              string  `json:"id"`
	Kind            string  `json:"kind"`
	AgentThreadID   string  `json:"agent_thread_id"`
	AgentPath       string  `json:"agent_path"`
	Model           *string `json:"model"`
	ReasoningEffort *string `json:"reasoning_effort"`
}

// Sleep is a run of the sleep tool. Its JSON form is Codex's
// {"type":"Extension","kind":"clock.sleep","id":…,"durationMs":…}, plus
// elapsedMs and woke (which Codex does not write and ignores).
type Sleep struct {
	// ID is the call id of the sleep call.
	ID string
	// RequestedMs is the duration asked for.
	RequestedMs int64
	// ElapsedMs is how long it slept (0 until completed).
	ElapsedMs int64
	// Woke says why it ended: "completed", "interrupted by new input",
	// "aborted" ("" while sleeping).
	Woke string
}

// ContextCompaction is a compaction of the thread's context. Its
// ItemCompleted comes when the compaction ends, whether it replaced the
// history or not.
type ContextCompaction struct {
	ID string `json:"id"`
	// Status is "" for a compaction that replaced the history (Codex's
	// item has only the id), CompactionFailed or CompactionInterrupted for
	// one that left the history as it was.
	Status string `json:"status,omitempty"`
	// Error says why a failed compaction failed.
	Error string `json:"error,omitempty"`
}

// Statuses of a ContextCompaction that did not replace the history.
const (
	CompactionFailed      = "failed"
	CompactionInterrupted = "interrupted"
)

// ItemID implements TurnItem.
func (m *UserMessage) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *AgentMessage) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *Reasoning) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *CommandExecution) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *DynamicToolCall) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *CollabAgentToolCall) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *SubAgentActivity) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *Sleep) ItemID() string { return m.ID }

// ItemID implements TurnItem.
func (m *ContextCompaction) ItemID() string { return m.ID }

// ItemKind implements TurnItem.
func (*UserMessage) ItemKind() ItemKind { return KindUserMessage }

// ItemKind implements TurnItem.
func (*AgentMessage) ItemKind() ItemKind { return KindAgentMessage }

// ItemKind implements TurnItem.
func (*Reasoning) ItemKind() ItemKind { return KindReasoning }

// ItemKind implements TurnItem.
func (*CommandExecution) ItemKind() ItemKind { return KindCommandExecution }

// ItemKind implements TurnItem.
func (*DynamicToolCall) ItemKind() ItemKind { return KindDynamicToolCall }

// ItemKind implements TurnItem.
func (*CollabAgentToolCall) ItemKind() ItemKind { return KindCollabAgentToolCall }

// ItemKind implements TurnItem.
func (*SubAgentActivity) ItemKind() ItemKind { return KindSubAgentActivity }

// ItemKind implements TurnItem.
func (*Sleep) ItemKind() ItemKind { return KindSleep }

// ItemKind implements TurnItem.
func (*ContextCompaction) ItemKind() ItemKind { return KindContextCompaction }

// MarshalJSON writes Codex's form of the item, with its "type".
func (m UserMessage) MarshalJSON() ([]byte, error) {
	type plain UserMessage
	p := plain(m)
	for i := range p.Content {
		if p.Content[i].TextElements == nil {
			p.Content[i].TextElements = json.RawMessage("[]")
		}
	}
	return marshalTagged(KindUserMessage, p)
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m AgentMessage) MarshalJSON() ([]byte, error) {
	type plain AgentMessage
	return marshalTagged(KindAgentMessage, plain(m))
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m Reasoning) MarshalJSON() ([]byte, error) {
	type plain Reasoning
	p := plain(m)
	if p.SummaryText == nil {
		p.SummaryText = []string{}
	}
	if p.RawContent == nil {
		p.RawContent = []string{}
	}
	return marshalTagged(KindReasoning, p)
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m CommandExecution) MarshalJSON() ([]byte, error) {
	type plain CommandExecution
	return marshalTagged(KindCommandExecution, plain(m))
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m DynamicToolCall) MarshalJSON() ([]byte, error) {
	type plain DynamicToolCall
	return marshalTagged(KindDynamicToolCall, plain(m))
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m CollabAgentToolCall) MarshalJSON() ([]byte, error) {
	type plain CollabAgentToolCall
	p := plain(m)
	if p.ReceiverThreadIDs == nil {
		p.ReceiverThreadIDs = []string{}
	}
	return marshalTagged(KindCollabAgentToolCall, p)
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m SubAgentActivity) MarshalJSON() ([]byte, error) {
	type plain SubAgentActivity
	return marshalTagged(KindSubAgentActivity, plain(m))
}

// MarshalJSON writes Codex's form of the item, with its "type".
func (m ContextCompaction) MarshalJSON() ([]byte, error) {
	type plain ContextCompaction
	return marshalTagged(KindContextCompaction, plain(m))
}

// SleepExtensionKind is the Extension kind Codex uses for sleep items.
const SleepExtensionKind = "clock.sleep"

type sleepJSON struct {
	Type       string `json:"type"`
	Kind       string `json:"kind"`
	ID         string `json:"id"`
	DurationMs int64  `json:"durationMs"`
	ElapsedMs  int64  `json:"elapsedMs,omitempty"`
	Woke       string `json:"woke,omitempty"`
}

// MarshalJSON writes Codex's Extension form of the sleep item.
func (m Sleep) MarshalJSON() ([]byte, error) {
	return json.Marshal(sleepJSON{Type: "Extension", Kind: SleepExtensionKind, ID: m.ID, DurationMs: m.RequestedMs, ElapsedMs: m.ElapsedMs, Woke: m.Woke})
}

// marshalTagged marshals v (a struct) with a leading "type" member.
func marshalTagged(kind ItemKind, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(kind)+10)
	out = append(out, `{"type":"`...)
	out = append(out, kind...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// ErrUnknownItem is matched by the error DecodeTurnItem returns for an item
// type it does not model.
var ErrUnknownItem = errors.New("agent: unknown turn item type")

// DecodeTurnItem decodes the JSON form of a turn item (as MarshalJSON and
// Codex write it). Items of other types (Plan, WebSearch, other Extension
// kinds, ...) return an error matching ErrUnknownItem.
func DecodeTurnItem(data []byte) (TurnItem, error) {
	var head struct {
		Type string `json:"type"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("agent: decode turn item: %w", err)
	}
	var item TurnItem
	switch ItemKind(head.Type) {
	case KindUserMessage:
		item = new(UserMessage)
	case KindAgentMessage:
		item = new(AgentMessage)
	case KindReasoning:
		item = new(Reasoning)
	case KindCommandExecution:
		item = new(CommandExecution)
	case KindDynamicToolCall:
		item = new(DynamicToolCall)
	case KindCollabAgentToolCall:
		item = new(CollabAgentToolCall)
	case KindSubAgentActivity:
		item = new(SubAgentActivity)
	case KindContextCompaction:
		item = new(ContextCompaction)
	case "Extension":
		if head.Kind != SleepExtensionKind {
			return nil, fmt.Errorf("%w: Extension kind %q", ErrUnknownItem, head.Kind)
		}
		var s sleepJSON
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("agent: decode sleep item: %w", err)
		}
		return &Sleep{ID: s.ID, RequestedMs: s.DurationMs, ElapsedMs: s.ElapsedMs, Woke: s.Woke}, nil
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownItem, head.Type)
	}
	// The concrete types' fields carry the JSON names; "type" is ignored.
	if err := json.Unmarshal(data, item); err != nil {
		return nil, fmt.Errorf("agent: decode %s item: %w", head.Type, err)
	}
	return item, nil
}
