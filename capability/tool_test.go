package capability

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSchemaValidate(t *testing.T) {
	const schema = `{
		"type": "object",
		"properties": {
			"duration_ms": {"type": "integer", "minimum": 1, "maximum": 3600000, "description": "how long"},
			"mode": {"type": "string", "enum": ["fast", "slow"]},
			"name": {"type": "string", "minLength": 1, "maxLength": 3},
			"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
			"ratio": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1}
		},
		"required": ["duration_ms"],
		"additionalProperties": false
	}`
	s, err := CompileSchema(json.RawMessage(schema))
	if err != nil {
		t.Fatalf("CompileSchema: %v", err)
	}
	tests := []struct {
		args    string
		wantErr string // "" means valid
	}{
		{`{"duration_ms": 1}`, ""},
		{`{"duration_ms": 3600000, "mode": "slow", "name": "abc", "tags": ["a","b"], "ratio": 0.5}`, ""},
		{`{"duration_ms": 5, "ratio": null}`, ""},
		{`{}`, `missing required property "duration_ms"`},
		{`{"duration_ms": 0}`, "duration_ms: 0 is less than the minimum 1"},
		{`{"duration_ms": 3600001}`, "duration_ms: 3600001 is greater than the maximum 3600000"},
		{`{"duration_ms": "60000"}`, "duration_ms: got string, want integer"},
		{`{"duration_ms": 1.5}`, "duration_ms: got number, want integer"},
		{`{"duration_ms": 1, "mode": "medium"}`, `mode: got "medium", want one of "fast" or "slow"`},
		{`{"duration_ms": 1, "name": ""}`, "name: string of 0 characters is shorter than 1"},
		{`{"duration_ms": 1, "name": "abcd"}`, "name: string of 4 characters is longer than 3"},
		{`{"duration_ms": 1, "tags": ["a", 2]}`, "tags[1]: got integer, want string"},
		{`{"duration_ms": 1, "tags": ["a","b","c"]}`, "tags: 3 items, want at most 2"},
		{`{"duration_ms": 1, "ratio": 1}`, "ratio: 1 must be less than 1"},
		{`{"duration_ms": 1, "extra": true}`, `unexpected property "extra"`},
		{`[]`, "got array, want object"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.args), &v); err != nil {
				t.Fatal(err)
			}
			err := s.Validate(v)
			got := ""
			if err != nil {
				got = err.Error()
				var se *SchemaError
				if !errors.As(err, &se) {
					t.Errorf("Validate(%s) error %T, want *SchemaError", tt.args, err)
				}
			}
			if got != tt.wantErr {
				t.Errorf("Validate(%s) = %q, want %q", tt.args, got, tt.wantErr)
			}
		})
	}
}

func TestSchemaAdditionalPropertiesSchema(t *testing.T) {
	s, err := CompileSchema(json.RawMessage(`{"type":"object","additionalProperties":{"type":"integer"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(map[string]any{"a": 1.0}); err != nil {
		t.Errorf("Validate(a=1) = %v, want nil", err)
	}
	if err := s.Validate(map[string]any{"a": "x"}); err == nil || err.Error() != "a: got string, want integer" {
		t.Errorf("Validate(a=x) = %v, want a: got string, want integer", err)
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	for _, doc := range []string{
		`{"type": 3}`,
		`{"type": "objekt"}`,
		`{"properties": {"a": 3}}`,
		`{"minimum": "1"}`,
		`{"maxLength": -1}`,
		`{"required": [1]}`,
		`not json`,
	} {
		if s, err := CompileSchema(json.RawMessage(doc)); err == nil {
			t.Errorf("CompileSchema(%s) = %v, nil; want an error", doc, s)
		}
	}
	if s, err := CompileSchema(nil); s != nil || err != nil {
		t.Errorf("CompileSchema(nil) = %v, %v; want nil, nil", s, err)
	}
}

func echoTool(name string, parallel bool) Tool {
	return Func{
		S: Spec{Name: name, Description: "echo", ParallelSafe: parallel,
			Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)},
		Fn: func(ctx context.Context, call Call) (Output, error) {
			var a struct{ Text string }
			if err := json.Unmarshal(call.Arguments, &a); err != nil {
				return Output{}, err
			}
			if a.Text == "panic" {
				panic("boom")
			}
			return Output{Text: a.Text}, nil
		},
	}
}

func TestSetInvoke(t *testing.T) {
	set, err := NewSet(echoTool("echo", true))
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"text":"` + strings.Repeat("x", MaxArgumentBytes) + `"}`
	tests := []struct {
		name, tool, args string
		want             Output
		wantPrefix       string
	}{
		{"ok", "echo", `{"text":"hi"}`, Output{Text: "hi"}, ""},
		{"unknown tool", "nope", `{}`, Output{}, `unsupported call: unknown tool "nope"`},
		{"invalid json", "echo", `{"text":`, Output{}, "failed to parse function arguments: "},
		{"schema violation", "echo", `{"text": 3}`, Output{}, "invalid arguments: text: got integer, want string"},
		{"empty args", "echo", ``, Output{}, `invalid arguments: missing required property "text"`},
		{"huge", "echo", huge, Output{}, "failed to parse function arguments: arguments are 1048587 bytes, the limit is 1048576 bytes"},
		{"panic", "echo", `{"text":"panic"}`, Output{}, `tool "echo" panicked: boom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set.Invoke(context.Background(), Call{ID: "c1", Name: tt.tool, Arguments: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatalf("Invoke error = %v", err)
			}
			if tt.wantPrefix == "" {
				if got != tt.want {
					t.Errorf("Invoke = %+v, want %+v", got, tt.want)
				}
				return
			}
			if !got.IsError || !strings.HasPrefix(got.Text, tt.wantPrefix) {
				t.Errorf("Invoke = %+v, want an error output starting %q", got, tt.wantPrefix)
			}
		})
	}
}

func TestSetAdd(t *testing.T) {
	var s Set
	if err := s.Add(echoTool("a", false)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(echoTool("a", false)); !errors.Is(err, ErrDuplicateTool) {
		t.Errorf("Add(duplicate) = %v, want ErrDuplicateTool", err)
	}
	if err := s.Add(Func{S: Spec{}}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Add(empty name) = %v, want ErrInvalidSpec", err)
	}
	if err := s.Add(Func{S: Spec{Name: "b", Parameters: json.RawMessage(`{"type":1}`)}}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Add(bad schema) = %v, want ErrInvalidSpec", err)
	}
	if err := s.Add(echoTool("c", true)); err != nil {
		t.Fatal(err)
	}
	specs := s.Specs()
	if len(specs) != 2 || specs[0].Name != "a" || specs[1].Name != "c" || !specs[1].ParallelSafe {
		t.Errorf("Specs() = %+v, want a then parallel-safe c", specs)
	}
}

func FuzzCheckArguments(f *testing.F) {
	s, err := CompileSchema(json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":1},"s":{"enum":["a",1,null]}},"required":["n"],"additionalProperties":false}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"n":1}`, `{"n":"1"}`, `{`, `null`, `{"s":[1]}`, `{"n":1e400}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, args string) {
		out, bad := CheckArguments(s, json.RawMessage(args))
		if bad && (!out.IsError || out.Text == "") {
			t.Errorf("CheckArguments(%q) = %+v, want an error output with text", args, out)
		}
	})
}

func FuzzCompileSchema(f *testing.F) {
	for _, seed := range []string{`{"type":"object","properties":{"a":{"type":"integer","minimum":1}}}`, `{"type":["string","null"],"enum":["a",null]}`, `true`, `{"items":false}`} {
		f.Add(seed, `{"a":1}`)
	}
	f.Fuzz(func(t *testing.T, schema, value string) {
		s, err := CompileSchema(json.RawMessage(schema))
		if err != nil {
			return
		}
		var v any
		if json.Unmarshal([]byte(value), &v) != nil {
			return
		}
		if err := s.Validate(v); err != nil {
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Validate error %T, want *SchemaError", err)
			}
		}
	})
}

// selfChecked is a tool that validates its own arguments when self is set.
type selfChecked struct {
	Func
	self bool
}

func (s selfChecked) ValidatesArguments() bool { return s.self }

func TestInvokeSelfValidatingTool(t *testing.T) {
	spec := Spec{Name: "t", Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"string"}},"required":["n"],"additionalProperties":false}`)}
	raw := Func{S: spec, Fn: func(_ context.Context, c Call) (Output, error) {
		return Output{Text: "got " + string(c.Arguments)}, nil
	}}
	huge := `{"n":"` + strings.Repeat("x", MaxArgumentBytes) + `"}`
	tests := []struct {
		name string
		self bool
		args string
		want Output
	}{
		{"self, schema violation reaches the tool", true, `{"m":1}`, Output{Text: `got {"m":1}`}},
		{"self, not JSON reaches the tool", true, `{"n":`, Output{Text: `got {"n":`}},
		{"self, too large", true, huge, Output{Text: "failed to parse function arguments: arguments are 1048584 bytes, the limit is 1048576 bytes", IsError: true}},
		{"declined, schema applies", false, `{"m":1}`, Output{Text: `invalid arguments: missing required property "n"`, IsError: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := NewSet(selfChecked{Func: raw, self: tt.self})
			if err != nil {
				t.Fatal(err)
			}
			got, err := set.Invoke(context.Background(), Call{ID: "c1", Name: "t", Arguments: json.RawMessage(tt.args)})
			if err != nil || got != tt.want {
				t.Errorf("Invoke(%.40s) = %+v, %v; want %+v", tt.args, got, err, tt.want)
			}
		})
	}
}
