package agent

import (
	"bytes"
	"encoding/json"
	"testing"
)

func canon(t testing.TB, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("json %q: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func TestMergePatchCreateApply(t *testing.T) {
	tests := []struct {
		name, old, new, patch string
	}{
		{"same", `{"a":1}`, `{"a":1}`, `{}`},
		{"add key", `{"a":1}`, `{"a":1,"b":2}`, `{"b":2}`},
		{"removed top key", `{"a":1,"b":2}`, `{"a":1}`, `{"b":null}`},
		{"removed nested key", `{"env":{"e1":{"cwd":"/x","status":"ready"}}}`, `{"env":{"e1":{"cwd":"/x"}}}`, `{"env":{"e1":{"status":null}}}`},
		{"changed nested", `{"a":{"b":1,"c":2}}`, `{"a":{"b":3,"c":2}}`, `{"a":{"b":3}}`},
		{"array replaced whole", `{"a":[1,2]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"object to scalar", `{"a":{"b":1}}`, `{"a":"s"}`, `{"a":"s"}`},
		{"scalar to object", `{"a":1}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
		{"root not object", `[1]`, `{"a":1}`, `{"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := createMergePatch([]byte(tc.old), []byte(tc.new))
			if err != nil {
				t.Fatalf("createMergePatch: %v", err)
			}
			if got, want := canon(t, p), canon(t, []byte(tc.patch)); got != want {
				t.Errorf("createMergePatch(%s, %s) = %s, want %s", tc.old, tc.new, got, want)
			}
			got, err := applyMergePatch([]byte(tc.old), p)
			if err != nil {
				t.Fatalf("applyMergePatch: %v", err)
			}
			if g, w := canon(t, got), canon(t, []byte(tc.new)); g != w {
				t.Errorf("applyMergePatch(%s, %s) = %s, want %s", tc.old, p, g, w)
			}
		})
	}
}

func TestMergePatchApplyRFCExamples(t *testing.T) {
	// RFC 7386 appendix A.
	tests := []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{``, `{"a":1}`, `{"a":1}`},
	}
	for _, tc := range tests {
		got, err := applyMergePatch([]byte(tc.doc), []byte(tc.patch))
		if err != nil {
			t.Fatalf("applyMergePatch(%s, %s): %v", tc.doc, tc.patch, err)
		}
		if g, w := canon(t, got), canon(t, []byte(tc.want)); g != w {
			t.Errorf("applyMergePatch(%s, %s) = %s, want %s", tc.doc, tc.patch, g, w)
		}
	}
}

func TestMergePatchBadInput(t *testing.T) {
	if _, err := createMergePatch([]byte(`{`), []byte(`{}`)); err == nil {
		t.Errorf("createMergePatch(bad old) err = nil, want error")
	}
	if _, err := createMergePatch([]byte(`{}`), []byte(`nope`)); err == nil {
		t.Errorf("createMergePatch(bad new) err = nil, want error")
	}
	if _, err := applyMergePatch([]byte(`{`), []byte(`{}`)); err == nil {
		t.Errorf("applyMergePatch(bad doc) err = nil, want error")
	}
	if _, err := applyMergePatch([]byte(`{}`), []byte(`{`)); err == nil {
		t.Errorf("applyMergePatch(bad patch) err = nil, want error")
	}
}

func FuzzApplyMergePatch(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`{"a":{"b":null,"c":[1]}}`))
	f.Add([]byte(`[1]`), []byte(`null`))
	f.Add([]byte(``), []byte(`{"x":{"y":{}}}`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := applyMergePatch(doc, patch)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("applyMergePatch(%q, %q) = %q, not valid JSON", doc, patch, out)
		}
		// Applying a patch is idempotent.
		again, err := applyMergePatch(out, patch)
		if err != nil {
			t.Fatalf("second applyMergePatch: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("applyMergePatch not idempotent: %q then %q", out, again)
		}
	})
}
