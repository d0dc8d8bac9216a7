package mailbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PartType names the kind of one content part, with the wire names of the
// Codex agent_message item.
type PartType string

const (
	// PartText is readable text: {"type":"input_text","text":...}.
	PartText PartType = "input_text"
	// PartSealed is opaque content: {"type":"encrypted_content","encrypted_content":...}.
	// It holds either provider ciphertext (forwarded untouched) or a troupe
	// seal envelope (see LocalSealer).
	PartSealed PartType = "encrypted_content"
)

// Part is one content part of a message. Its JSON form is exactly the one of
// a content part of a Codex agent_message item, so the agent can record it as
// is (the fields map one to one onto rollout.ContentPart). Text is set for
// PartText, EncryptedContent for PartSealed; the other field is ignored.
type Part struct {
	Type             PartType
	Text             string
	EncryptedContent string
}

// Text returns a plaintext part.
func Text(s string) Part { return Part{Type: PartText, Text: s} }

// Sealed returns a sealed part holding s verbatim.
func Sealed(s string) Part { return Part{Type: PartSealed, EncryptedContent: s} }

type partJSON struct {
	Type             PartType `json:"type"`
	Text             *string  `json:"text,omitempty"`
	EncryptedContent *string  `json:"encrypted_content,omitempty"`
}

// MarshalJSON writes the Codex shape of the part; an unknown type is an
// error wrapping ErrInvalid.
func (p Part) MarshalJSON() ([]byte, error) {
	switch p.Type {
	case PartText:
		return json.Marshal(partJSON{Type: p.Type, Text: &p.Text})
	case PartSealed:
		return json.Marshal(partJSON{Type: p.Type, EncryptedContent: &p.EncryptedContent})
	default:
		return nil, fmt.Errorf("%w: content part type %q", ErrInvalid, p.Type)
	}
}

// UnmarshalJSON reads the Codex shape of a part. An unknown type, or a part
// missing the field of its type, is an error wrapping ErrInvalid; fields
// that do not belong to the type are ignored.
func (p *Part) UnmarshalJSON(b []byte) error {
	var raw partJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: content part: %v", ErrInvalid, err)
	}
	switch raw.Type {
	case PartText:
		if raw.Text == nil {
			return fmt.Errorf("%w: input_text part without text", ErrInvalid)
		}
		*p = Text(*raw.Text)
	case PartSealed:
		if raw.EncryptedContent == nil {
			return fmt.Errorf("%w: encrypted_content part without encrypted_content", ErrInvalid)
		}
		*p = Sealed(*raw.EncryptedContent)
	default:
		return fmt.Errorf("%w: content part type %q", ErrInvalid, raw.Type)
	}
	return nil
}

// Message is one piece of mail between agents. The inbox treats Content as
// opaque: it never reads or changes the parts.
type Message struct {
	// ID identifies the message for its whole life (acknowledgement,
	// redelivery, deduplication on Restore). Send fills it from
	// Config.NewID when empty.
	ID string `json:"id"`
	// Author is the sender's agent path ("/root/researcher").
	Author string `json:"author"`
	// Recipient is the owner's agent path; Send fills it when empty and
	// refuses a message addressed to another agent.
	Recipient string `json:"recipient"`
	// Content is the body: plaintext and sealed parts in order.
	Content []Part `json:"content"`
	// TriggerTurn asks an idle recipient to start a turn for this mail.
	TriggerTurn bool `json:"trigger_turn"`
	// SentAt is when Send was called; Send fills it from Config.Now when
	// zero.
	SentAt time.Time `json:"sent_at"`
	// Seq is the per-sender sequence number, assigned by the inbox at
	// acceptance: the n-th message accepted from Author has Seq n (from 1).
	// Any value given to Send is replaced.
	Seq uint64 `json:"seq"`
}

// validate checks the structure the inbox relies on, never the meaning of
// the content.
func (m *Message) validate(owner string) error {
	switch {
	case m.Author == "":
		return fmt.Errorf("%w: no author", ErrInvalid)
	case m.Recipient != "" && m.Recipient != owner:
		return fmt.Errorf("%w: addressed to %s, delivered to the inbox of %s", ErrInvalid, m.Recipient, owner)
	case len(m.Content) == 0:
		return fmt.Errorf("%w: no content", ErrInvalid)
	}
	for i, p := range m.Content {
		if p.Type != PartText && p.Type != PartSealed {
			return fmt.Errorf("%w: content part %d has type %q", ErrInvalid, i, p.Type)
		}
	}
	return nil
}

// Kind is the message type written in the plain header Codex puts before a
// message's payload.
type Kind string

const (
	// KindNewTask is a task that triggers a turn (spawn_agent,
	// followup_task).
	KindNewTask Kind = "NEW_TASK"
	// KindMessage is mail that waits for the recipient's next turn
	// (send_message).
	KindMessage Kind = "MESSAGE"
	// KindFinalAnswer is the runtime's notice to a parent that a child's
	// turn completed.
	KindFinalAnswer Kind = "FINAL_ANSWER"
)

// Header returns the plain header of a message as Codex writes it:
// "Message Type: K\nTask name: <recipient>\nSender: <author>\nPayload:\n".
func Header(kind Kind, author, recipient string) string {
	return "Message Type: " + string(kind) + "\nTask name: " + recipient + "\nSender: " + author + "\nPayload:\n"
}

// PlainContent returns the content of a plaintext message (the runtime's
// completion notices): one input_text part, header then payload.
func PlainContent(kind Kind, author, recipient, payload string) []Part {
	return []Part{Text(Header(kind, author, recipient) + payload)}
}

// SealedContent returns the content of a tool-originated message
// (spawn_agent, send_message, followup_task): the header as input_text, then
// text sealed by s as encrypted_content. With Passthrough, text is the
// provider's ciphertext and is kept byte for byte; a nil s is Passthrough.
func SealedContent(s Sealer, kind Kind, author, recipient, text string) ([]Part, error) {
	if s == nil {
		s = Passthrough{}
	}
	sealed, err := s.Seal(text)
	if err != nil {
		return nil, err
	}
	return []Part{Text(Header(kind, author, recipient)), Sealed(sealed)}, nil
}

// PlainText joins the input_text parts of content with "\n", as Codex does
// when it needs readable text. ok is false when any part is sealed: sealed
// content is never readable here.
func PlainText(content []Part) (text string, ok bool) {
	var b strings.Builder
	for i, p := range content {
		if p.Type != PartText {
			return "", false
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String(), true
}

// OpenForRequest returns a copy of content for a model request: each sealed
// part that s can open becomes an input_text part with its plaintext; parts
// sealed by the provider (s.Open reports ErrProviderSealed) stay sealed for
// the provider to open. content itself is not changed, so the stored message
// stays sealed. Any other failure (tampering, wrong or unknown key) is
// returned with the part's index and nothing is opened: the model never sees
// garbage. A nil s is Passthrough: everything stays sealed.
func OpenForRequest(s Sealer, content []Part) ([]Part, error) {
	if s == nil {
		s = Passthrough{}
	}
	out := make([]Part, len(content))
	for i, p := range content {
		if p.Type != PartSealed {
			out[i] = p
			continue
		}
		plain, err := s.Open(p.EncryptedContent)
		switch {
		case err == nil:
			out[i] = Text(plain)
		case errors.Is(err, ErrProviderSealed):
			out[i] = p
		default:
			return nil, fmt.Errorf("content part %d: %w", i, err)
		}
	}
	return out, nil
}
