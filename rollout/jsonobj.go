package rollout

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
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
// with no UnmarshalJSON method of its own) and returns the members ptr's
// fields do not keep: unknown members, and known members whose value decodes
// to a zero the encoder would omit (an explicit null, "", 0, false, or an
// empty object), so that encoding reproduces them.
func decodeObject(data []byte, ptr any, fs fieldSet) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(data, ptr); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	var extra map[string]json.RawMessage
	rv := reflect.ValueOf(ptr).Elem()
	for k, raw := range members {
		if fi, ok := fs[k]; ok {
			if !fi.omit || !rv.FieldByIndex(fi.index).IsZero() {
				continue
			}
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[k] = raw
	}
	return extra, nil
}

// encodeObject encodes v (a struct value with no MarshalJSON method of its
// own) and merges extra into the resulting object, in sorted key order. A
// member of extra that names a modelled field is written only while that
// field is zero (and so omitted by the encoder): once a caller sets the
// field, the field wins.
func encodeObject(v any, fs fieldSet, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := marshalJSON(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	rv := reflect.ValueOf(v)
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if fi, ok := fs[k]; ok && (!fi.omit || !rv.FieldByIndex(fi.index).IsZero()) {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return b, nil
	}
	slices.Sort(keys)
	out := b[:len(b)-1] // strip '}'
	first := len(out) == 1
	for _, k := range keys {
		if !first {
			out = append(out, ',')
		}
		first = false
		kb, err := marshalJSON(k)
		if err != nil {
			return nil, err
		}
		out = append(out, kb...)
		out = append(out, ':')
		val := extra[k]
		if len(val) == 0 {
			val = json.RawMessage("null")
		}
		// Compact so that a caller-built value can never break the
		// one-object-per-line framing.
		buf := bytes.NewBuffer(out)
		if err := json.Compact(buf, val); err != nil {
			return nil, err
		}
		out = buf.Bytes()
	}
	return append(out, '}'), nil
}

// isJSONNull reports whether raw is absent or the JSON literal null.
func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
