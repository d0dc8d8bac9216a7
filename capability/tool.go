package capability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Spec describes a tool to the model and to the runtime that dispatches it.
type Spec struct {
	// Name is the function name the model calls. It must be non-empty and
	// unique among the tools of one step.
	Name string
	// Description tells the model what the tool does.
	Description string
	// Parameters is the JSON Schema of the arguments object. Nil means an
	// object with no declared properties. The agent validates arguments
	// against it (see Schema) before the tool runs.
	Parameters json.RawMessage
	// ParallelSafe says that calls of this tool may run at the same time as
	// other parallel-safe calls of the same model response. A tool that is not
	// parallel-safe runs alone: no other call of the response runs while it
	// does.
	ParallelSafe bool
}

// Call is one invocation of a tool by the model.
type Call struct {
	// ID is the model's call id (call_id), unique within a thread.
	ID string
	// Name is the tool name the model used.
	Name string
	// Arguments is the raw JSON text the model sent. By the time a Tool sees
	// it, it is valid JSON that satisfies the tool's schema, unless the tool
	// validates its own arguments (ArgumentValidator).
	Arguments json.RawMessage
	// ThreadID and TurnID identify the calling agent's thread and turn.
	ThreadID string
	TurnID   string
	// NewInput is closed when new input for the calling agent arrives while
	// the call runs (steered user input or mail). Tools that wait for the
	// world (sleep, wait_agent) select on it to wake early. It is never nil
	// when the agent runs the tool; a nil channel (tests) never fires.
	NewInput <-chan struct{}
}

// Output is what the model sees as the call's result.
type Output struct {
	// Text is the output text given to the model.
	Text string
	// IsError marks an output that reports a failure (bad arguments, unknown
	// tool, the tool's own failure). The model still sees Text; IsError lets
	// the runtime and embedders show the call as failed.
	IsError bool
	// Detail is an optional structured form of the result for embedders
	// (never shown to the model), such as *ShellResult, from which the agent
	// builds a richer turn item.
	Detail any
}

// ErrorOutput returns an error output with the formatted text.
func ErrorOutput(format string, args ...any) Output {
	return Output{Text: fmt.Sprintf(format, args...), IsError: true}
}

// Tool is something an agent can do. Implementations must be safe for
// concurrent use when their Spec says ParallelSafe.
//
// Call returns the output the model sees. A tool that fails in a way the
// model should know about returns an Output with IsError set and a nil
// error. A non-nil error means the tool could not act at all (for example
// its context was cancelled); the agent turns it into an error output (or,
// when the turn was interrupted, into the "aborted by user" output), so an
// error never fails the turn.
type Tool interface {
	Spec() Spec
	Call(ctx context.Context, call Call) (Output, error)
}

// ArgumentValidator is an optional upgrade of Tool for a tool that parses
// and checks its own arguments, with error texts of its own (for example
// the multi-agent tools, which answer with Codex's serde texts such as
// "failed to parse function arguments: missing field `task_name`"). When
// ValidatesArguments reports true, Invoke skips the JSON and schema checks
// (the size limit still applies) and the tool receives the arguments as
// the model sent them, possibly not JSON at all. The schema is still
// compiled by Set.Add and shown to the model.
type ArgumentValidator interface {
	ValidatesArguments() bool
}

// Func adapts a function to the Tool interface.
type Func struct {
	S  Spec
	Fn func(ctx context.Context, call Call) (Output, error)
}

var _ Tool = Func{}

// Spec implements Tool.
func (f Func) Spec() Spec { return f.S }

// Call implements Tool.
func (f Func) Call(ctx context.Context, call Call) (Output, error) { return f.Fn(ctx, call) }

// ErrDuplicateTool is matched by the error Set.Add returns for a name that is
// already present.
var ErrDuplicateTool = errors.New("capability: duplicate tool name")

// ErrInvalidSpec is matched by the error Set.Add returns for a spec with an
// empty name or a schema that does not parse.
var ErrInvalidSpec = errors.New("capability: invalid tool spec")

// Set is an ordered set of tools keyed by name, with each tool's schema
// compiled once. The zero value is empty and ready to use. A Set is not safe
// for concurrent mutation; once built it may be read concurrently.
type Set struct {
	order  []string
	byName map[string]setEntry
}

type setEntry struct {
	tool   Tool
	spec   Spec
	schema *Schema
}

// NewSet returns a set holding tools, in order. It fails on the first
// duplicate name or invalid spec.
func NewSet(tools ...Tool) (*Set, error) {
	s := &Set{}
	for _, t := range tools {
		if err := s.Add(t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add appends t to the set.
func (s *Set) Add(t Tool) error {
	spec := t.Spec()
	if spec.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidSpec)
	}
	if _, dup := s.byName[spec.Name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateTool, spec.Name)
	}
	schema, err := CompileSchema(spec.Parameters)
	if err != nil {
		return fmt.Errorf("%w: tool %q: %w", ErrInvalidSpec, spec.Name, err)
	}
	if s.byName == nil {
		s.byName = make(map[string]setEntry)
	}
	s.byName[spec.Name] = setEntry{tool: t, spec: spec, schema: schema}
	s.order = append(s.order, spec.Name)
	return nil
}

// Len returns the number of tools.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.order)
}

// Specs returns the specs in insertion order.
func (s *Set) Specs() []Spec {
	if s == nil {
		return nil
	}
	out := make([]Spec, len(s.order))
	for i, n := range s.order {
		out[i] = s.byName[n].spec
	}
	return out
}

// Tools returns the tools in insertion order.
func (s *Set) Tools() []Tool {
	if s == nil {
		return nil
	}
	out := make([]Tool, len(s.order))
	for i, n := range s.order {
		out[i] = s.byName[n].tool
	}
	return out
}

// Lookup returns the tool named name, its spec and compiled schema.
func (s *Set) Lookup(name string) (Tool, Spec, *Schema, bool) {
	if s == nil {
		return nil, Spec{}, nil, false
	}
	e, ok := s.byName[name]
	return e.tool, e.spec, e.schema, ok
}

// MaxArgumentBytes is the largest arguments text Invoke accepts. Larger
// arguments get an error output without being parsed: a model that emits
// megabytes of arguments is almost always looping, and parsing them would
// cost the whole runtime memory.
const MaxArgumentBytes = 1 << 20

// Invoke runs one call against the set with the checks every agent applies:
// an unknown name, arguments that are too large, not JSON or not valid for
// the schema get an error output (the model can correct itself), except
// that a tool that validates its own arguments (ArgumentValidator) gets
// any arguments within the size limit; a panic in
// the tool becomes an error output carrying the panic text. The returned
// error is the tool's own error (including ctx's), for the caller to map.
func (s *Set) Invoke(ctx context.Context, call Call) (out Output, err error) {
	tool, _, schema, ok := s.Lookup(call.Name)
	if !ok {
		return ErrorOutput("unsupported call: unknown tool %q", call.Name), nil
	}
	if v, self := tool.(ArgumentValidator); self && v.ValidatesArguments() {
		if len(call.Arguments) > MaxArgumentBytes {
			return argumentsTooLarge(len(call.Arguments)), nil
		}
	} else if o, bad := CheckArguments(schema, call.Arguments); bad {
		return o, nil
	}
	return SafeCall(ctx, tool, call)
}

// CheckArguments validates raw arguments against schema (nil accepts any
// JSON object) and returns the error output to give the model when they are
// not acceptable.
func CheckArguments(schema *Schema, args json.RawMessage) (Output, bool) {
	if len(args) > MaxArgumentBytes {
		return argumentsTooLarge(len(args)), true
	}
	raw := args
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return ErrorOutput("failed to parse function arguments: %v", err), true
	}
	if err := schema.Validate(v); err != nil {
		return ErrorOutput("invalid arguments: %v", err), true
	}
	return Output{}, false
}

func argumentsTooLarge(n int) Output {
	return ErrorOutput("failed to parse function arguments: arguments are %d bytes, the limit is %d bytes", n, MaxArgumentBytes)
}

// SafeCall runs tool.Call, turning a panic into an error output that carries
// the panic value.
func SafeCall(ctx context.Context, tool Tool, call Call) (out Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = ErrorOutput("tool %q panicked: %v", call.Name, r), nil
		}
	}()
	return tool.Call(ctx, call)
}

// Schema is a compiled JSON Schema for tool arguments. It implements the
// subset tools use: type (a name or a list of names), properties, required,
// additionalProperties (boolean or schema), items, enum, const, minimum,
// maximum, exclusiveMinimum, exclusiveMaximum (numbers), minLength,
// maxLength, minItems, maxItems. Other keywords (description, title,
// default, format, $schema, ...) are accepted and ignored, so a schema
// written for a real provider compiles. A nil *Schema accepts any value.
type Schema struct {
	types        []string
	properties   map[string]*Schema
	propOrder    []string
	required     []string
	additional   *Schema // nil: anything allowed
	noAdditional bool
	items        *Schema
	enum         []any
	hasConst     bool
	constVal     any
	minimum      *float64
	maximum      *float64
	exclMin      *float64
	exclMax      *float64
	minLength    *int
	maxLength    *int
	minItems     *int
	maxItems     *int
}

// CompileSchema parses a JSON Schema document. Empty input compiles to nil
// (no constraints).
func CompileSchema(doc json.RawMessage) (*Schema, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	return compileSchema(v, "")
}

func compileSchema(v any, at string) (*Schema, error) {
	if b, ok := v.(bool); ok {
		if b {
			return &Schema{}, nil
		}
		return &Schema{types: []string{"never"}}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema%s: want an object, got %s", at, jsonType(v))
	}
	s := &Schema{}
	switch t := m["type"].(type) {
	case nil:
	case string:
		s.types = []string{t}
	case []any:
		for _, e := range t {
			name, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("schema%s: type list holds %s, want strings", at, jsonType(e))
			}
			s.types = append(s.types, name)
		}
	default:
		return nil, fmt.Errorf("schema%s: type is %s, want a string or a list", at, jsonType(t))
	}
	for _, t := range s.types {
		switch t {
		case "object", "array", "string", "number", "integer", "boolean", "null":
		default:
			return nil, fmt.Errorf("schema%s: unknown type %q", at, t)
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		s.properties = make(map[string]*Schema, len(props))
		for name, pv := range props {
			ps, err := compileSchema(pv, at+"."+name)
			if err != nil {
				return nil, err
			}
			s.properties[name] = ps
			s.propOrder = append(s.propOrder, name)
		}
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			name, ok := r.(string)
			if !ok {
				return nil, fmt.Errorf("schema%s: required holds %s, want strings", at, jsonType(r))
			}
			s.required = append(s.required, name)
		}
	}
	switch ap := m["additionalProperties"].(type) {
	case nil:
	case bool:
		s.noAdditional = !ap
	default:
		as, err := compileSchema(ap, at+".additionalProperties")
		if err != nil {
			return nil, err
		}
		s.additional = as
	}
	if it, ok := m["items"]; ok {
		is, err := compileSchema(it, at+"[]")
		if err != nil {
			return nil, err
		}
		s.items = is
	}
	if e, ok := m["enum"].([]any); ok {
		s.enum = e
	}
	if c, ok := m["const"]; ok {
		s.hasConst, s.constVal = true, c
	}
	num := func(key string) (*float64, error) {
		v, ok := m[key]
		if !ok {
			return nil, nil
		}
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("schema%s: %s is %s, want a number", at, key, jsonType(v))
		}
		return &f, nil
	}
	count := func(key string) (*int, error) {
		f, err := num(key)
		if f == nil || err != nil {
			return nil, err
		}
		n := int(*f)
		if float64(n) != *f || n < 0 {
			return nil, fmt.Errorf("schema%s: %s is %v, want a non-negative integer", at, key, *f)
		}
		return &n, nil
	}
	var err error
	for _, p := range []struct {
		key string
		dst **float64
	}{{"minimum", &s.minimum}, {"maximum", &s.maximum}, {"exclusiveMinimum", &s.exclMin}, {"exclusiveMaximum", &s.exclMax}} {
		if *p.dst, err = num(p.key); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct {
		key string
		dst **int
	}{{"minLength", &s.minLength}, {"maxLength", &s.maxLength}, {"minItems", &s.minItems}, {"maxItems", &s.maxItems}} {
		if *p.dst, err = count(p.key); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SchemaError reports where a value breaks its schema.
type SchemaError struct {
	// Path locates the value: "" for the root, ".a.b[2]" below it.
	Path string
	// Msg says what is wrong.
	Msg string
}

func (e *SchemaError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path[1:] + ": " + e.Msg
}

// Validate checks a decoded JSON value (as encoding/json produces into an
// any) against s and returns the first violation as a *SchemaError.
func (s *Schema) Validate(v any) error {
	if s == nil {
		return nil
	}
	return s.validate(v, "")
}

func (s *Schema) validate(v any, at string) error {
	fail := func(format string, args ...any) error {
		return &SchemaError{Path: at, Msg: fmt.Sprintf(format, args...)}
	}
	if len(s.types) > 0 {
		ok := false
		for _, t := range s.types {
			if typeMatches(t, v) {
				ok = true
				break
			}
		}
		if !ok {
			if len(s.types) == 1 && s.types[0] == "never" {
				return fail("not allowed")
			}
			return fail("got %s, want %s", jsonType(v), joinOr(s.types))
		}
	}
	if s.hasConst && !jsonEqual(v, s.constVal) {
		return fail("must be %s", compact(s.constVal))
	}
	if s.enum != nil {
		ok := false
		for _, e := range s.enum {
			if jsonEqual(v, e) {
				ok = true
				break
			}
		}
		if !ok {
			vals := make([]string, len(s.enum))
			for i, e := range s.enum {
				vals[i] = compact(e)
			}
			return fail("got %s, want one of %s", compact(v), joinOr(vals))
		}
	}
	switch x := v.(type) {
	case float64:
		switch {
		case s.minimum != nil && x < *s.minimum:
			return fail("%s is less than the minimum %s", fmtNum(x), fmtNum(*s.minimum))
		case s.maximum != nil && x > *s.maximum:
			return fail("%s is greater than the maximum %s", fmtNum(x), fmtNum(*s.maximum))
		case s.exclMin != nil && x <= *s.exclMin:
			return fail("%s must be greater than %s", fmtNum(x), fmtNum(*s.exclMin))
		case s.exclMax != nil && x >= *s.exclMax:
			return fail("%s must be less than %s", fmtNum(x), fmtNum(*s.exclMax))
		}
	case string:
		n := len([]rune(x))
		switch {
		case s.minLength != nil && n < *s.minLength:
			return fail("string of %d characters is shorter than %d", n, *s.minLength)
		case s.maxLength != nil && n > *s.maxLength:
			return fail("string of %d characters is longer than %d", n, *s.maxLength)
		}
	case []any:
		switch {
		case s.minItems != nil && len(x) < *s.minItems:
			return fail("%d items, want at least %d", len(x), *s.minItems)
		case s.maxItems != nil && len(x) > *s.maxItems:
			return fail("%d items, want at most %d", len(x), *s.maxItems)
		}
		if s.items != nil {
			for i, e := range x {
				if err := s.items.validate(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		for _, r := range s.required {
			if _, ok := x[r]; !ok {
				return fail("missing required property %q", r)
			}
		}
		// Check declared properties in declaration order and the others in
		// sorted order, so the first error reported is deterministic.
		for _, name := range s.propOrder {
			if pv, ok := x[name]; ok {
				if err := s.properties[name].validate(pv, at+"."+name); err != nil {
					return err
				}
			}
		}
		if s.noAdditional || s.additional != nil {
			extra := make([]string, 0)
			for k := range x {
				if _, declared := s.properties[k]; !declared {
					extra = append(extra, k)
				}
			}
			slices.Sort(extra)
			for _, k := range extra {
				if s.noAdditional {
					return fail("unexpected property %q", k)
				}
				if err := s.additional.validate(x[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func typeMatches(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f) && !math.IsInf(f, 0)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func jsonEqual(a, b any) bool {
	return compact(a) == compact(b)
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
