package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the machinery that lets the typed payloads keep the
// members they do not model. Codex adds fields release after release; a
// reader that dropped them would silently change what goes back to the
// model provider, or what another Codex build reads from a re-written
// rollout. Each typed payload therefore carries an Extra map, filled on
// decode and merged back on encode.

// fieldInfo describes one JSON member of a typed payload.
type fieldInfo struct {
	index []int
	// omit is true when the field is tagged omitempty or omitzero, i.e.
	// when encoding drops it at its zero value.
	omit bool
}

// fieldSet maps JSON member names to the struct fields that model them.
type fieldSet map[string]fieldInfo

// jsonFields lists the JSON members of struct type t from its tags.
func jsonFields(t reflect.Type) fieldSet {
	fs := make(fieldSet)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				omit = true
			}
		}
		fs[name] = fieldInfo{index: f.Index, omit: omit}
	}
	return fs
}

// marshalJSON encodes v like json.Marshal but without HTML escaping, as
// Codex (serde_json) writes "<", ">" and "&" literally.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // drop the newline Encode adds
}

// decodeObject decodes the JSON object data into ptr (a pointer to a struct
// with no UnmarshalJSON method of its own) in one validating pass, and
// returns the members ptr's fields do not keep: unknown members, and known
// members whose value decodes to a zero the encoder would omit (an explicit
// null, "", 0, false, or an empty object), so that encoding reproduces them.
// It accepts what json.Unmarshal accepts.
func decodeObject(data []byte, ptr any, fs fieldSet) (Members, error) {
	rv := reflect.ValueOf(ptr).Elem()
	var extra Members
	err := eachMember(data, func(key []byte, keyEscaped bool, val []byte) error {
		k := ""
		if keyEscaped {
			if err := json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k); err != nil {
				return err
			}
		}
		var fi fieldInfo
		var ok bool
		if keyEscaped {
			fi, ok = fs[k]
		} else {
			fi, ok = fs[string(key)]
		}
		if ok {
			fv := rv.Field(fi.index[0])
			if len(fi.index) > 1 {
				fv = rv.FieldByIndex(fi.index)
			}
			if err := decodeValue(val, fv); err != nil {
				if keyEscaped {
					return fmt.Errorf("%s: %w", k, err)
				}
				return fmt.Errorf("%s: %w", key, err)
			}
			if !fi.omit || !fv.IsZero() {
				return nil
			}
		}
		if !keyEscaped {
			k = string(key)
		}
		// A repeated key replaces the earlier value, as in encoding/json.
		extra.Set(k, bytes.Clone(val))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return extra, nil
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// decodeValue decodes one validated JSON value into fv, directly for the
// kinds rollout payloads use and through encoding/json otherwise.
func decodeValue(val []byte, fv reflect.Value) error {
	if val[0] == 'n' { // null: leave the zero value, as encoding/json does
		return nil
	}
	if fv.Type() == rawMessageType {
		fv.SetBytes(bytes.Clone(val))
		return nil
	}
	if fv.CanAddr() && fv.Addr().Type().Implements(unmarshalerType) {
		return fv.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(val)
	}
	switch fv.Kind() {
	case reflect.String:
		if val[0] == '"' {
			s, err := decodeString(val)
			if err != nil {
				return err
			}
			fv.SetString(s)
			return nil
		}
	case reflect.Bool:
		switch val[0] {
		case 't':
			fv.SetBool(true)
			return nil
		case 'f':
			fv.SetBool(false)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, err := strconv.ParseInt(string(val), 10, fv.Type().Bits()); err == nil {
			fv.SetInt(n)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, err := strconv.ParseUint(string(val), 10, fv.Type().Bits()); err == nil {
			fv.SetUint(n)
			return nil
		}
	case reflect.Pointer:
		p := reflect.New(fv.Type().Elem())
		if err := decodeValue(val, p.Elem()); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	case reflect.Slice:
		et := fv.Type().Elem()
		if val[0] == '[' && reflect.PointerTo(et).Implements(unmarshalerType) {
			s := reflect.MakeSlice(fv.Type(), 0, 0) // most arrays hold one element: no spare capacity kept
			err := eachElement(val, func(elem []byte) error {
				s = reflect.Append(s, reflect.Zero(et))
				return decodeValue(elem, s.Index(s.Len()-1))
			})
			if err != nil {
				return err
			}
			fv.Set(s)
			return nil
		}
	}
	return json.Unmarshal(val, fv.Addr().Interface())
}

// decodeString decodes a validated JSON string literal; plain ASCII or
// valid UTF-8 without escapes is a copy.
func decodeString(val []byte) (string, error) {
	inner := val[1 : len(val)-1]
	if s, ok := commonString(inner); ok {
		return s, nil
	}
	ascii := true
	for _, c := range inner {
		if c == '\\' {
			var s string
			err := json.Unmarshal(val, &s)
			return s, err
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(inner) {
		var s string
		err := json.Unmarshal(val, &s)
		return s, err
	}
	return string(inner), nil
}

// encodeObject encodes v (a struct value with no MarshalJSON method of its
// own) and appends the extra members after its own, in their order. A
// member of extra that names a modelled field is written only while that
// field is zero (and so omitted by the encoder): once a caller sets the
// field, the field wins. Of duplicate extra keys only the first is written.
func encodeObject(v any, fs fieldSet, extra Members) ([]byte, error) {
	b, err := marshalJSON(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	rv := reflect.ValueOf(v)
	out := b[:len(b)-1] // strip '}'
	first := len(out) == 1
	for i, m := range extra {
		if fi, ok := fs[m.Key]; ok && (!fi.omit || !rv.FieldByIndex(fi.index).IsZero()) {
			continue
		}
		if slices.ContainsFunc(extra[:i], func(o Member) bool { return o.Key == m.Key }) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		kb, err := marshalJSON(m.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, kb...)
		out = append(out, ':')
		val := m.Value
		if len(val) == 0 {
			val = json.RawMessage("null")
		}
		// Compact so that a caller-built value can never break the
		// one-object-per-line framing.
		buf := bytes.NewBuffer(out)
		if err := json.Compact(buf, val); err != nil {
			return nil, fmt.Errorf("extra member %q: %w", m.Key, err)
		}
		out = buf.Bytes()
	}
	return append(out, '}'), nil
}

// Member is one JSON object member kept verbatim.
type Member struct {
	Key   string
	Value json.RawMessage
}

// Members are the members of a JSON object that a typed payload does not
// model, kept verbatim and in their original order so that encoding writes
// them back. A slice rather than a map: most payloads carry a few such
// members, and a loaded history holds millions of payloads.
type Members []Member

// Get returns the value of key and whether it is present.
func (ms Members) Get(key string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// Set sets key to value, replacing an existing member or appending one.
func (ms *Members) Set(key string, value json.RawMessage) {
	for i := range *ms {
		if (*ms)[i].Key == key {
			(*ms)[i].Value = value
			return
		}
	}
	*ms = append(*ms, Member{Key: key, Value: value})
}

// Delete removes key.
func (ms *Members) Delete(key string) {
	*ms = slices.DeleteFunc(*ms, func(m Member) bool { return m.Key == key })
	if len(*ms) == 0 {
		*ms = nil
	}
}

// isJSONNull reports whether raw is absent or the JSON literal null.
func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// commonString returns the shared copy of the short strings every line
// repeats (item, part and event types, roles, phases), so a loaded history
// does not hold millions of copies of "message" or "input_text".
func commonString(b []byte) (string, bool) {
	if len(b) > 24 {
		return "", false
	}
	switch string(b) { // no allocation: the compiler compares in place
	case ItemMessage:
		return ItemMessage, true
	case ItemReasoning:
		return ItemReasoning, true
	case ItemFunctionCall:
		return ItemFunctionCall, true
	case ItemFunctionCallOutput:
		return ItemFunctionCallOutput, true
	case ItemCustomToolCall:
		return ItemCustomToolCall, true
	case ItemCustomToolCallOutput:
		return ItemCustomToolCallOutput, true
	case ItemAgentMessage:
		return ItemAgentMessage, true
	case PartInputText:
		return PartInputText, true
	case PartOutputText:
		return PartOutputText, true
	case PartSummaryText:
		return PartSummaryText, true
	case PartReasoningText:
		return PartReasoningText, true
	case PartEncryptedContent:
		return PartEncryptedContent, true
	case RoleUser:
		return RoleUser, true
	case RoleAssistant:
		return RoleAssistant, true
	case RoleDeveloper:
		return RoleDeveloper, true
	case PhaseCommentary:
		return PhaseCommentary, true
	case PhaseFinalAnswer:
		return PhaseFinalAnswer, true
	case "completed":
		return "completed", true
	case EventTurnStarted:
		return EventTurnStarted, true
	case EventTurnComplete:
		return EventTurnComplete, true
	case EventTokenCount:
		return EventTokenCount, true
	case EventItemCompleted:
		return EventItemCompleted, true
	case EventTurnAborted:
		return EventTurnAborted, true
	case "":
		return "", true
	}
	return "", false
}
