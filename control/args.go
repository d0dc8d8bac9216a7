package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Tool arguments are parsed strictly, like Codex's serde structs with
// deny_unknown_fields: the first unknown member, a member of the wrong type
// or a missing required member is an error whose text is serde's, prefixed
// with "failed to parse function arguments: ".

// argKind is the JSON type of an argument.
type argKind uint8

const (
	argString argKind = iota
	argInt
	argBool
)

// argField declares one member of a tool's arguments, in the order of
// Codex's struct (serde lists expected fields in that order).
type argField struct {
	name     string
	kind     argKind
	required bool
}

// argValues are parsed arguments: strings, int64s or bools by name.
type argValues map[string]any

func (v argValues) str(name string) (string, bool) {
	s, ok := v[name].(string)
	return s, ok
}

func (v argValues) int(name string) (int64, bool) {
	n, ok := v[name].(int64)
	return n, ok
}

// errArgs is matched by every argument parse error.
var errArgs = errors.New("failed to parse function arguments")

type argError struct{ msg string }

func (e *argError) Error() string        { return "failed to parse function arguments: " + e.msg }
func (e *argError) Is(target error) bool { return target == errArgs }

// parseArgs parses raw (a JSON object; empty means {}) against fields. A
// member that is null counts as absent (serde's Option).
func parseArgs(raw []byte, fields []argField) (argValues, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, &argError{err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &argError{fmt.Sprintf("invalid type: %s, expected struct", describe(tok))}
	}
	vals := argValues{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &argError{err.Error()}
		}
		key, _ := tok.(string)
		var f *argField
		for i := range fields {
			if fields[i].name == key {
				f = &fields[i]
			}
		}
		if f == nil {
			return nil, &argError{"unknown field `" + key + "`, " + expected(fields)}
		}
		if _, dup := vals[key]; dup {
			return nil, &argError{"duplicate field `" + key + "`"}
		}
		var rv json.RawMessage
		if err := dec.Decode(&rv); err != nil {
			return nil, &argError{err.Error()}
		}
		if string(rv) == "null" {
			continue
		}
		v, err := decodeArg(rv, f.kind)
		if err != nil {
			return nil, err
		}
		vals[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, &argError{err.Error()}
	}
	if dec.More() {
		return nil, &argError{"trailing characters"}
	}
	for _, f := range fields {
		if _, ok := vals[f.name]; f.required && !ok {
			return nil, &argError{"missing field `" + f.name + "`"}
		}
	}
	return vals, nil
}

func decodeArg(rv json.RawMessage, kind argKind) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(rv))
	dec.UseNumber()
	tok, _ := dec.Token()
	switch kind {
	case argString:
		if s, ok := tok.(string); ok {
			return s, nil
		}
		return nil, &argError{fmt.Sprintf("invalid type: %s, expected a string", describe(tok))}
	case argBool:
		if b, ok := tok.(bool); ok {
			return b, nil
		}
		return nil, &argError{fmt.Sprintf("invalid type: %s, expected a boolean", describe(tok))}
	default:
		if n, ok := tok.(json.Number); ok {
			if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				return i, nil
			}
		}
		return nil, &argError{fmt.Sprintf("invalid type: %s, expected i64", describe(tok))}
	}
}

// describe names a JSON token the way serde does in "invalid type" errors.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return "string " + strconv.Quote(v)
	case bool:
		return "boolean `" + strconv.FormatBool(v) + "`"
	case json.Number:
		if _, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			if strings.HasPrefix(v.String(), "-") {
				return "integer `" + v.String() + "`"
			}
			return "integer `" + v.String() + "`"
		}
		return "floating point `" + v.String() + "`"
	case json.Delim:
		if v == '[' {
			return "sequence"
		}
		return "map"
	case nil:
		return "null"
	}
	return "value"
}

// expected is serde's list of the fields a struct accepts.
func expected(fields []argField) string {
	switch len(fields) {
	case 0:
		return "there are no fields"
	case 1:
		return "expected `" + fields[0].name + "`"
	case 2:
		return "expected `" + fields[0].name + "` or `" + fields[1].name + "`"
	}
	var b strings.Builder
	b.WriteString("expected one of ")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + f.name + "`")
	}
	return b.String()
}

// The argument structs of the multi-agent tools, in Codex's member order.
var (
	spawnFields = []argField{
		{name: "task_name", required: true},
		{name: "message", required: true},
		{name: "agent_type"},
		{name: "fork_turns"},
		{name: "fork_context", kind: argBool},
	}
	messageFields = []argField{
		{name: "target", required: true},
		{name: "message", required: true},
	}
	targetFields = []argField{{name: "target", required: true}}
	waitFields   = []argField{{name: "timeout_ms", kind: argInt}}
	listFields   = []argField{{name: "path_prefix"}}
)

// ForkMode says how much of a thread's history a fork starts with: a
// spawned child (spawn_agent's fork_turns; the messages of the parent's
// model-visible history, filtered as Codex does) or a forked thread
// (Runtime.Fork; the rollout lines themselves, see rollout.Fork).
type ForkMode struct {
	// Kind is ForkNone, ForkFullHistory or ForkLastN.
	Kind ForkKind
	// Turns is the number of user turns kept by ForkLastN.
	Turns int
}

// ForkKind names a fork mode.
type ForkKind uint8

// The fork modes of spawn_agent's fork_turns ("none", "all", "N").
const (
	// ForkFullHistory copies the parent's model-visible history (the
	// default when fork_turns is omitted, as in Codex).
	ForkFullHistory ForkKind = iota
	// ForkNone starts the child with a fresh context and the task.
	ForkNone
	// ForkLastN copies the parent's last N user turns.
	ForkLastN
)

// ForkLastTurns returns the mode keeping the last n turns.
func ForkLastTurns(n int) ForkMode { return ForkMode{Kind: ForkLastN, Turns: n} }

// String returns the fork_turns argument form.
func (m ForkMode) String() string {
	switch m.Kind {
	case ForkNone:
		return "none"
	case ForkLastN:
		return strconv.Itoa(m.Turns)
	}
	return "all"
}

const errForkTurns = "fork_turns must be `none`, `all`, or a positive integer string"

// parseForkTurns parses fork_turns; "" means the default, all.
func parseForkTurns(s string) (ForkMode, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); t {
	case "", "all":
		return ForkMode{Kind: ForkFullHistory}, nil
	case "none":
		return ForkMode{Kind: ForkNone}, nil
	default:
		n, err := strconv.Atoi(t)
		if err != nil || n <= 0 {
			return ForkMode{}, errors.New(errForkTurns)
		}
		return ForkLastTurns(n), nil
	}
}

// spawnArgs are spawn_agent's arguments.
type spawnArgs struct {
	taskName  string
	message   string
	agentType string
	fork      ForkMode
}

func parseSpawnArgs(raw []byte) (spawnArgs, error) {
	v, err := parseArgs(raw, spawnFields)
	if err != nil {
		return spawnArgs{}, err
	}
	if _, ok := v["fork_context"]; ok {
		return spawnArgs{}, errors.New("fork_context is not supported in MultiAgentV2; use fork_turns instead")
	}
	var a spawnArgs
	a.taskName, _ = v.str("task_name")
	a.message, _ = v.str("message")
	a.agentType, _ = v.str("agent_type")
	a.agentType = strings.TrimSpace(a.agentType)
	ft, _ := v.str("fork_turns")
	if a.fork, err = parseForkTurns(ft); err != nil {
		return spawnArgs{}, err
	}
	if strings.TrimSpace(a.message) == "" {
		return spawnArgs{}, toolError(errEmptyMessage)
	}
	return a, nil
}

const errEmptyMessage = "Empty message can't be sent to an agent"

// toolError is an error whose text is given to the model verbatim (Codex's
// texts start with a capital letter, which Go error strings should not).
type toolError string

func (e toolError) Error() string { return string(e) }

// messageArgs are send_message's and followup_task's arguments.
type messageArgs struct{ target, message string }

func parseMessageArgs(raw []byte) (messageArgs, error) {
	v, err := parseArgs(raw, messageFields)
	if err != nil {
		return messageArgs{}, err
	}
	var a messageArgs
	a.target, _ = v.str("target")
	a.message, _ = v.str("message")
	if strings.TrimSpace(a.message) == "" {
		return messageArgs{}, toolError(errEmptyMessage)
	}
	return a, nil
}

func parseTargetArgs(raw []byte) (string, error) {
	v, err := parseArgs(raw, targetFields)
	if err != nil {
		return "", err
	}
	s, _ := v.str("target")
	return s, nil
}

// parseWaitArgs returns timeout_ms, or def when absent, checked against
// [min, max] with Codex's texts.
func parseWaitArgs(raw []byte, min, def, max int64) (int64, error) {
	v, err := parseArgs(raw, waitFields)
	if err != nil {
		return 0, err
	}
	n, ok := v.int("timeout_ms")
	if !ok {
		return def, nil
	}
	if n < min {
		return 0, fmt.Errorf("timeout_ms must be at least %d", min)
	}
	if n > max {
		return 0, fmt.Errorf("timeout_ms must be at most %d", max)
	}
	return n, nil
}

func parseListArgs(raw []byte) (string, error) {
	v, err := parseArgs(raw, listFields)
	if err != nil {
		return "", err
	}
	s, _ := v.str("path_prefix")
	return s, nil
}
