package rollout

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// reflectEncode encodes v's fields through encoding/json (the reference
// the hand-written encoders must match).
func reflectEncode(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch v := v.(type) {
	case *ResponseItem:
		type plain ResponseItem
		b, err = encodeObject(plain(*v), responseItemFields, v.Extra)
	case *ContentPart:
		type plain ContentPart
		b, err = encodeObject(plain(*v), contentPartFields, v.Extra)
	case *Passthrough:
		type plain Passthrough
		b, err = encodeObject(plain(*v), passthroughFields, v.Extra)
	default:
		t.Fatalf("no reference encoder for %T", v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFastEncoders(t *testing.T) {
	var items []*ResponseItem
	for _, f := range corpusFiles(t) {
		for _, line := range fileLines(t, f) {
			it, err := ParseLine(line)
			if err != nil {
				t.Fatal(err)
			}
			switch p := it.Payload.(type) {
			case *ResponseItem:
				items = append(items, p)
			case *Compacted:
				for i := range p.ReplacementHistory {
					items = append(items, &p.ReplacementHistory[i])
				}
			}
		}
	}
	items = append(items,
		&ResponseItem{Type: "x", Content: []ContentPart{}, Output: ToolOutput{Parts: []ContentPart{{Type: "input_image", ImageURL: "u", Detail: "d"}}}, Tools: json.RawMessage(`[ {"a": 1} ]`)},
		&ResponseItem{Type: "y", Output: ToolOutput{Raw: json.RawMessage(`{"content":"c","success":true}`)}, Extra: Members{{Key: "role", Value: json.RawMessage(`"shadowed"`)}, {Key: "content", Value: json.RawMessage(`null`)}, {Key: "z", Value: nil}}},
		&ResponseItem{Type: "z", Role: "user", Extra: Members{{Key: "role", Value: json.RawMessage(`"dup"`)}, {Key: "k", Value: json.RawMessage(`1`)}, {Key: "k", Value: json.RawMessage(`2`)}}},
		&ResponseItem{Type: "w", Content: []ContentPart{{Type: "t", Text: "a\u2028b\x01\"\\<>&\xff", Extra: Members{{Key: "text", Value: json.RawMessage(`"x"`)}, {Key: "q", Value: json.RawMessage(`[]`)}}}}},
	)
	for i, r := range items {
		got, err := r.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Same JSON; the bytes too unless a required member moved from the
		// kept extras to its field's place.
		want := reflectEncode(t, r)
		if !reflect.DeepEqual(jsonValue(t, got), jsonValue(t, want)) {
			t.Errorf("item %d:\n got %s\nwant %s", i, got, want)
		}
		if !bytes.Equal(got, want) && !requiredZero(r) {
			t.Errorf("item %d bytes differ:\n got %s\nwant %s", i, got, want)
		}
		for j := range r.Content {
			got, _ := r.Content[j].appendJSON(nil)
			if want := reflectEncode(t, &r.Content[j]); !bytes.Equal(got, want) {
				t.Errorf("item %d part %d:\n got %s\nwant %s", i, j, got, want)
			}
		}
		if r.Passthrough != nil {
			got, _ := r.Passthrough.appendJSON(nil)
			if want := reflectEncode(t, r.Passthrough); !bytes.Equal(got, want) {
				t.Errorf("item %d passthrough:\n got %s\nwant %s", i, got, want)
			}
		}
	}
	if _, err := (&ResponseItem{Type: "x", Tools: json.RawMessage(`{bad`)}).appendJSON(nil); err == nil {
		t.Error("appendJSON with invalid raw JSON = nil error")
	}
}

// requiredZero reports whether r has a required member at its zero value.
func requiredZero(r *ResponseItem) bool {
	for _, f := range responseItemRequired[r.Type] {
		if responseItemFieldZero(r, f) {
			return true
		}
	}
	return false
}

func TestRequiredMembers(t *testing.T) {
	tests := []struct {
		item *ResponseItem
		want string
	}{
		{NewFunctionCallOutput("c1", ""), `{"type":"function_call_output","call_id":"c1","output":""}`},
		{NewFunctionCall("c1", "f", ""), `{"type":"function_call","name":"f","arguments":"","call_id":"c1"}`},
		{&ResponseItem{Type: ItemMessage, Role: RoleUser}, `{"type":"message","role":"user","content":[]}`},
		{&ResponseItem{Type: ItemReasoning, ID: "r"}, `{"type":"reasoning","id":"r","summary":[]}`},
		{&ResponseItem{Type: ItemCustomToolCall, CallID: "c", Name: "exec"}, `{"type":"custom_tool_call","name":"exec","input":"","call_id":"c"}`},
		{&ResponseItem{Type: ItemAgentMessage, Author: "/root/a", Recipient: "/root"}, `{"type":"agent_message","author":"/root/a","recipient":"/root","content":[]}`},
		{&ResponseItem{Type: "web_search_call", ID: "w"}, `{"type":"web_search_call","id":"w"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.item)
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%s) = %s, %v; want %s", tt.item.Type, got, err, tt.want)
		}
		// A decoded empty output re-encodes once, in place.
		var back ResponseItem
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != tt.want {
			t.Errorf("re-encode(%s) = %s, want %s", tt.item.Type, again, tt.want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c\n\r\t\b\f\x00\x1f", "<>&", "\u2028\u2029", "\xff\xfe", "é漢字😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := marshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
