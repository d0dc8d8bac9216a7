package rollout

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Hand-written encoders for the payloads written on every model step
// (response items and their parts, events). Going through encoding/json,
// every nested MarshalJSON result was re-scanned and compacted by the outer
// encoder; these append straight to the line buffer. They write exactly
// what encoding/json writes for the same struct (field order, omitempty,
// string escaping with HTML escaping off), which TestFastEncoders checks.

// jsonAppender is implemented by payloads with a hand-written encoder.
type jsonAppender interface {
	appendJSON(dst []byte) ([]byte, error)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// with HTML escaping off: ", \ and control characters, U+2028 and U+2029;
// invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// objWriter appends the members of one JSON object.
type objWriter struct {
	dst   []byte
	first bool
	err   error
}

func newObj(dst []byte) *objWriter { return &objWriter{dst: append(dst, '{'), first: true} }

func (w *objWriter) key(k string) {
	if !w.first {
		w.dst = append(w.dst, ',')
	}
	w.first = false
	w.dst = append(w.dst, '"')
	w.dst = append(w.dst, k...) // field names need no escaping
	w.dst = append(w.dst, '"', ':')
}

// str writes k unless omit and v is empty.
func (w *objWriter) str(k, v string, omit bool) {
	if omit && v == "" {
		return
	}
	w.key(k)
	w.dst = appendString(w.dst, v)
}

// raw writes a json.RawMessage member, compacted, unless it is empty.
func (w *objWriter) raw(k string, v json.RawMessage) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.dst = appendCompactJSON(w.dst, v, &w.err)
}

// parts writes a []ContentPart member (omitzero: nil is omitted).
func (w *objWriter) parts(k string, ps []ContentPart) {
	if ps == nil {
		return
	}
	w.key(k)
	w.dst = appendParts(w.dst, ps, &w.err)
}

// extras writes the kept members; known reports whether a key names a
// modelled field that is set (and so already written).
func (w *objWriter) extras(ms Members, known func(string) bool) {
	for i, m := range ms {
		if known(m.Key) {
			continue
		}
		dup := false
		for _, o := range ms[:i] {
			if o.Key == m.Key {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if !w.first {
			w.dst = append(w.dst, ',')
		}
		w.first = false
		w.dst = appendString(w.dst, m.Key)
		w.dst = append(w.dst, ':')
		v := m.Value
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		w.dst = appendCompactJSON(w.dst, v, &w.err)
	}
}

func (w *objWriter) end() ([]byte, error) {
	return append(w.dst, '}'), w.err
}

// appendCompactJSON appends v without insignificant space; a value with no
// line breaks or tabs is appended as is after validation.
func appendCompactJSON(dst []byte, v []byte, errp *error) []byte {
	if bytes.ContainsAny(v, " \t\r\n") {
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, v); err != nil && *errp == nil {
			*errp = err
		}
		return buf.Bytes()
	}
	if !validJSON(v) && *errp == nil {
		*errp = errSyntax
	}
	return append(dst, v...)
}

func appendParts(dst []byte, ps []ContentPart, errp *error) []byte {
	dst = append(dst, '[')
	for i := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		dst, err = ps[i].appendJSON(dst)
		if err != nil && *errp == nil {
			*errp = err
		}
	}
	return append(dst, ']')
}

func (c *ContentPart) appendJSON(dst []byte) ([]byte, error) {
	w := newObj(dst)
	w.str("type", c.Type, false)
	w.str("text", c.Text, true)
	w.str("encrypted_content", c.EncryptedContent, true)
	w.str("image_url", c.ImageURL, true)
	w.str("detail", c.Detail, true)
	w.extras(c.Extra, func(k string) bool {
		switch k {
		case "type":
			return true
		case "text":
			return c.Text != ""
		case "encrypted_content":
			return c.EncryptedContent != ""
		case "image_url":
			return c.ImageURL != ""
		case "detail":
			return c.Detail != ""
		}
		return false
	})
	return w.end()
}

func (p *Passthrough) appendJSON(dst []byte) ([]byte, error) {
	w := newObj(dst)
	w.str("turn_id", p.TurnID, true)
	w.extras(p.Extra, func(k string) bool { return k == "turn_id" && p.TurnID != "" })
	return w.end()
}

func (o *ToolOutput) appendJSON(dst []byte) ([]byte, error) {
	var err error
	switch {
	case o.Parts != nil:
		dst = appendParts(dst, o.Parts, &err)
	case o.Raw != nil:
		dst = appendCompactJSON(dst, o.Raw, &err)
	default:
		dst = appendString(dst, o.Text)
	}
	return dst, err
}

// responseItemRequired lists, per item type, the members Codex requires
// when it reads the item: they are written even when empty, so an item
// built here (say a function call output with an empty output) stays
// readable by Codex.
var responseItemRequired = map[string][]string{
	ItemMessage:              {"role", "content"},
	ItemAgentMessage:         {"author", "recipient", "content"},
	ItemReasoning:            {"summary"},
	ItemFunctionCall:         {"name", "arguments", "call_id"},
	ItemFunctionCallOutput:   {"call_id", "output"},
	ItemCustomToolCall:       {"call_id", "name", "input"},
	ItemCustomToolCallOutput: {"call_id", "output"},
}

func (r *ResponseItem) requires(field string) bool {
	for _, f := range responseItemRequired[r.Type] {
		if f == field {
			return true
		}
	}
	return false
}

func (r *ResponseItem) appendJSON(dst []byte) ([]byte, error) {
	w := newObj(dst)
	str := func(k, v string) { w.str(k, v, !r.requires(k)) }
	parts := func(k string, ps []ContentPart) {
		if ps == nil && r.requires(k) {
			ps = []ContentPart{}
		}
		w.parts(k, ps)
	}
	w.str("type", r.Type, false)
	str("id", r.ID)
	str("role", r.Role)
	str("author", r.Author)
	str("recipient", r.Recipient)
	str("name", r.Name)
	str("namespace", r.Namespace)
	parts("content", r.Content)
	parts("summary", r.Summary)
	str("encrypted_content", r.EncryptedContent)
	str("arguments", r.Arguments)
	str("input", r.Input)
	str("call_id", r.CallID)
	if !r.Output.IsZero() || r.requires("output") {
		w.key("output")
		var err error
		if w.dst, err = r.Output.appendJSON(w.dst); err != nil && w.err == nil {
			w.err = err
		}
	}
	str("status", r.Status)
	str("phase", r.Phase)
	w.raw("tools", r.Tools)
	if r.Passthrough != nil {
		w.key("internal_chat_message_metadata_passthrough")
		var err error
		if w.dst, err = r.Passthrough.appendJSON(w.dst); err != nil && w.err == nil {
			w.err = err
		}
	}
	if len(r.Extra) > 0 {
		w.extras(r.Extra, func(k string) bool {
			fi, ok := responseItemFields[k]
			if !ok {
				return false
			}
			// Written above unless an omitted zero.
			return !fi.omit || !responseItemFieldZero(r, k) || r.requires(k)
		})
	}
	return w.end()
}

// responseItemFieldZero reports whether the field named k is zero.
func responseItemFieldZero(r *ResponseItem, k string) bool {
	switch k {
	case "id":
		return r.ID == ""
	case "role":
		return r.Role == ""
	case "author":
		return r.Author == ""
	case "recipient":
		return r.Recipient == ""
	case "name":
		return r.Name == ""
	case "namespace":
		return r.Namespace == ""
	case "content":
		return r.Content == nil
	case "summary":
		return r.Summary == nil
	case "encrypted_content":
		return r.EncryptedContent == ""
	case "arguments":
		return r.Arguments == ""
	case "input":
		return r.Input == ""
	case "call_id":
		return r.CallID == ""
	case "output":
		return r.Output.IsZero()
	case "status":
		return r.Status == ""
	case "phase":
		return r.Phase == ""
	case "tools":
		return len(r.Tools) == 0
	case "internal_chat_message_metadata_passthrough":
		return r.Passthrough == nil
	}
	return false
}

func (e *EventMsg) appendJSON(dst []byte) ([]byte, error) {
	if e.Raw == nil {
		w := newObj(dst)
		w.str("type", e.Type, false)
		return w.end()
	}
	var err error
	dst = appendCompactJSON(dst, e.Raw, &err)
	return dst, err
}

func (u *Unknown) appendJSON(dst []byte) ([]byte, error) {
	if u.Raw == nil {
		return append(dst, "null"...), nil
	}
	var err error
	dst = appendCompactJSON(dst, u.Raw, &err)
	return dst, err
}

// appendUint appends n in decimal.
func appendUint(dst []byte, n uint64) []byte { return strconv.AppendUint(dst, n, 10) }
