package rollout

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// Response item types (ResponseItem.Type) that the runtime handles by name.
// Others (web_search_call, local_shell_call, image_generation_call,
// tool_search_call, compaction, ...) are kept with all their members.
const (
	ItemMessage              = "message"
	ItemReasoning            = "reasoning"
	ItemFunctionCall         = "function_call"
	ItemFunctionCallOutput   = "function_call_output"
	ItemCustomToolCall       = "custom_tool_call"
	ItemCustomToolCallOutput = "custom_tool_call_output"
	ItemAgentMessage         = "agent_message"
	ItemAdditionalTools      = "additional_tools"
	ItemGhostSnapshot        = "ghost_snapshot"
	ItemCompactionTrigger    = "compaction_trigger"
	ItemWebSearchCall        = "web_search_call"
	ItemLocalShellCall       = "local_shell_call"
)

// Message roles and phases.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleDeveloper = "developer"
	RoleSystem    = "system"

	PhaseCommentary  = "commentary"
	PhaseFinalAnswer = "final_answer"
)

// Content part types.
const (
	PartInputText        = "input_text"
	PartOutputText       = "output_text"
	PartInputImage       = "input_image"
	PartSummaryText      = "summary_text"
	PartReasoningText    = "reasoning_text"
	PartEncryptedContent = "encrypted_content"
)

// ResponseItem is one OpenAI Responses API item as Codex persists it in a
// response_item line (and in compacted.replacement_history). One struct
// covers every variant; which fields are meaningful depends on Type:
//
//   - message: Role, Content, Phase
//   - reasoning: Summary, Content (reasoning_text parts), EncryptedContent
//   - function_call: CallID, Name, Namespace, Arguments
//   - function_call_output, custom_tool_call_output: CallID, Output
//   - custom_tool_call: CallID, Name, Input, Status
//   - agent_message: Author, Recipient, Content (input_text and
//     encrypted_content parts)
//   - additional_tools: Role, Tools
//
// Members not modelled here (and modelled members whose value was an
// explicit zero, such as "content":null) are kept in Extra and written back,
// so an item of a type this package does not know reaches the model provider
// unchanged.
type ResponseItem struct {
	Type             string        `json:"type"`
	ID               string        `json:"id,omitempty"`
	Role             string        `json:"role,omitempty"`
	Author           string        `json:"author,omitempty"`
	Recipient        string        `json:"recipient,omitempty"`
	Name             string        `json:"name,omitempty"`
	Namespace        string        `json:"namespace,omitempty"`
	Content          []ContentPart `json:"content,omitzero"`
	Summary          []ContentPart `json:"summary,omitzero"`
	EncryptedContent string        `json:"encrypted_content,omitempty"`
	Arguments        string        `json:"arguments,omitempty"`
	Input            string        `json:"input,omitempty"`
	CallID           string        `json:"call_id,omitempty"`
	Output           ToolOutput    `json:"output,omitzero"`
	Status           string        `json:"status,omitempty"`
	Phase            string        `json:"phase,omitempty"`
	// Tools is the tool list of an additional_tools item, verbatim.
	Tools json.RawMessage `json:"tools,omitempty"`
	// Passthrough is Codex's internal_chat_message_metadata_passthrough.
	Passthrough *Passthrough `json:"internal_chat_message_metadata_passthrough,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var responseItemFields = jsonFields(reflect.TypeFor[ResponseItem]())

// Kind implements Payload.
func (*ResponseItem) Kind() Kind { return KindResponseItem }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (r *ResponseItem) UnmarshalJSON(b []byte) error {
	type plain ResponseItem
	var p plain
	extra, err := decodeObject(b, &p, responseItemFields)
	if err != nil {
		return err
	}
	*r = ResponseItem(p)
	r.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (r ResponseItem) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// TurnID returns the turn id from the passthrough metadata, or "".
func (r *ResponseItem) TurnID() string {
	if r.Passthrough == nil {
		return ""
	}
	return r.Passthrough.TurnID
}

// Text joins the text of r's content parts (for a message or an
// agent_message) with newlines. Encrypted parts are skipped.
func (r *ResponseItem) Text() string {
	var sb strings.Builder
	for i, p := range r.Content {
		if p.Text == "" {
			continue
		}
		if i > 0 && sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(p.Text)
	}
	return sb.String()
}

// IsUserMessage reports whether r is a message with role user.
func (r *ResponseItem) IsUserMessage() bool {
	return r.Type == ItemMessage && r.Role == RoleUser
}

// NewMessage returns a message item with one text part. The part type is
// output_text for the assistant role and input_text otherwise, as the
// Responses API expects.
func NewMessage(role, text string) *ResponseItem {
	pt := PartInputText
	if role == RoleAssistant {
		pt = PartOutputText
	}
	return &ResponseItem{Type: ItemMessage, Role: role, Content: []ContentPart{{Type: pt, Text: text}}}
}

// NewFunctionCall returns a function_call item.
func NewFunctionCall(callID, name, arguments string) *ResponseItem {
	return &ResponseItem{Type: ItemFunctionCall, CallID: callID, Name: name, Arguments: arguments}
}

// NewFunctionCallOutput returns a function_call_output item with a text
// output.
func NewFunctionCallOutput(callID, output string) *ResponseItem {
	return &ResponseItem{Type: ItemFunctionCallOutput, CallID: callID, Output: ToolOutput{Text: output}}
}

// ContentPart is one part of a message's or agent message's content (or of
// a reasoning summary): input_text, output_text, input_image, summary_text,
// reasoning_text, encrypted_content, ... Unknown members are kept in Extra.
type ContentPart struct {
	Type             string `json:"type"`
	Text             string `json:"text,omitempty"`
	EncryptedContent string `json:"encrypted_content,omitempty"`
	ImageURL         string `json:"image_url,omitempty"`
	Detail           string `json:"detail,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var contentPartFields = jsonFields(reflect.TypeFor[ContentPart]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (c *ContentPart) UnmarshalJSON(b []byte) error {
	type plain ContentPart
	var p plain
	extra, err := decodeObject(b, &p, contentPartFields)
	if err != nil {
		return err
	}
	*c = ContentPart(p)
	c.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (c ContentPart) MarshalJSON() ([]byte, error) { return c.appendJSON(nil) }

// Passthrough is Codex's internal_chat_message_metadata_passthrough: the
// turn that produced an item, plus members Codex adds (create_time,
// content_item_kinds, ...), kept in Extra.
type Passthrough struct {
	TurnID string `json:"turn_id,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var passthroughFields = jsonFields(reflect.TypeFor[Passthrough]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (p *Passthrough) UnmarshalJSON(b []byte) error {
	type plain Passthrough
	var v plain
	extra, err := decodeObject(b, &v, passthroughFields)
	if err != nil {
		return err
	}
	*p = Passthrough(v)
	p.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (p Passthrough) MarshalJSON() ([]byte, error) { return p.appendJSON(nil) }

// ToolOutput is the output of a function or custom tool call. Codex writes
// it either as a JSON string (Text) or as an array of content parts (Parts);
// any other JSON value is kept verbatim in Raw. Exactly one form is written:
// Parts when non-nil, else Raw when non-nil, else Text.
type ToolOutput struct {
	Text  string
	Parts []ContentPart
	Raw   json.RawMessage
}

// IsZero reports whether o is the empty text output (so omitzero drops it).
func (o ToolOutput) IsZero() bool { return o.Text == "" && o.Parts == nil && o.Raw == nil }

// UnmarshalJSON implements json.Unmarshaler.
func (o *ToolOutput) UnmarshalJSON(b []byte) error {
	*o = ToolOutput{}
	t := bytes.TrimSpace(b)
	switch {
	case string(t) == "null":
		return nil
	case len(t) > 0 && t[0] == '"':
		if !validJSON(t) {
			return json.Unmarshal(t, &o.Text) // the decoder's syntax error
		}
		s, err := decodeString(t)
		o.Text = s
		return err
	case len(t) > 0 && t[0] == '[':
		o.Parts = []ContentPart{}
		return eachElement(t, func(elem []byte) error {
			var p ContentPart
			if err := p.UnmarshalJSON(elem); err != nil {
				return err
			}
			o.Parts = append(o.Parts, p)
			return nil
		})
	default:
		if !validJSON(t) {
			return errSyntax
		}
		o.Raw = bytes.Clone(t)
		return nil
	}
}

// MarshalJSON implements json.Marshaler.
func (o ToolOutput) MarshalJSON() ([]byte, error) { return o.appendJSON(nil) }

// String returns the output as text: Text, or the text parts joined with
// newlines, or Raw.
func (o ToolOutput) String() string {
	switch {
	case o.Parts != nil:
		var sb strings.Builder
		for _, p := range o.Parts {
			if p.Text == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(p.Text)
		}
		return sb.String()
	case o.Raw != nil:
		return string(o.Raw)
	default:
		return o.Text
	}
}
