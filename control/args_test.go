package control

import (
	"encoding/json"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
)

func TestParseSpawnArgs(t *testing.T) {
	tests := []struct {
		in   string
		want spawnArgs
		err  string
	}{
		{in: `{"task_name":"w","message":"m"}`, want: spawnArgs{taskName: "w", message: "m"}},
		{in: `{"task_name":"w","message":"m","fork_turns":"NONE"}`, want: spawnArgs{taskName: "w", message: "m", fork: ForkMode{Kind: ForkNone}}},
		{in: `{"task_name":"w","message":"m","fork_turns":"3"}`, want: spawnArgs{taskName: "w", message: "m", fork: ForkLastTurns(3)}},
		{in: `{"task_name":"w","message":"m","agent_type":" explorer ","fork_turns":null}`, want: spawnArgs{taskName: "w", message: "m", agentType: "explorer"}},
		{in: `{"message":"m"}`, err: "failed to parse function arguments: missing field `task_name`"},
		{in: `{"task_name":"w","message":"m","items":[]}`, err: "failed to parse function arguments: unknown field `items`, expected one of `task_name`, `message`, `agent_type`, `fork_turns`, `fork_context`"},
		{in: `{"task_name":"w","message":"m","fork_context":true}`, err: "fork_context is not supported in MultiAgentV2; use fork_turns instead"},
		{in: `{"task_name":"w","message":"m","fork_turns":"bogus"}`, err: "fork_turns must be `none`, `all`, or a positive integer string"},
		{in: `{"task_name":"w","message":"m","fork_turns":"0"}`, err: "fork_turns must be `none`, `all`, or a positive integer string"},
		{in: `{"task_name":"w","message":"  "}`, err: "Empty message can't be sent to an agent"},
		{in: `{"task_name":5,"message":"m"}`, err: "failed to parse function arguments: invalid type: integer `5`, expected a string"},
		{in: `[1]`, err: "failed to parse function arguments: invalid type: sequence, expected struct"},
	}
	for _, tt := range tests {
		got, err := parseSpawnArgs([]byte(tt.in))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseSpawnArgs(%s) = %v; want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSpawnArgs(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMessageArgs(t *testing.T) {
	if _, err := parseMessageArgs([]byte(`{"target":"w","message":"x","interrupt":true}`)); err == nil ||
		err.Error() != "failed to parse function arguments: unknown field `interrupt`, expected `target` or `message`" {
		t.Errorf("parseMessageArgs(interrupt) = %v", err)
	}
	if a, err := parseMessageArgs([]byte(`{"target":"w","message":"x"}`)); err != nil || a.target != "w" || a.message != "x" {
		t.Errorf("parseMessageArgs = %+v, %v", a, err)
	}
	if _, err := parseTargetArgs([]byte(`{}`)); err == nil || err.Error() != "failed to parse function arguments: missing field `target`" {
		t.Errorf("parseTargetArgs({}) = %v", err)
	}
}

func TestParseWaitArgs(t *testing.T) {
	tests := []struct {
		in            string
		min, def, max int64
		want          int64
		err           string
	}{
		{in: `{}`, min: 10, def: 30, max: 60, want: 30},
		{in: ``, min: 10, def: 30, max: 60, want: 30},
		{in: `{"timeout_ms":1}`, min: 50, def: 50, max: 100, err: "timeout_ms must be at least 50"},
		{in: `{"timeout_ms":500}`, min: 0, def: 50, max: 50, err: "timeout_ms must be at most 50"},
		{in: `{"timeout_ms":1.5}`, min: 0, def: 50, max: 50, err: "failed to parse function arguments: invalid type: floating point `1.5`, expected i64"},
		{in: `{"timeout_ms":20}`, min: 0, def: 50, max: 50, want: 20},
	}
	for _, tt := range tests {
		got, err := parseWaitArgs([]byte(tt.in), tt.min, tt.def, tt.max)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseWaitArgs(%s) = %v; want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseWaitArgs(%s) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Status{Kind: StatusRunning}, `"running"`},
		{Status{Kind: StatusCompleted, Message: "done", HasMessage: true}, `{"completed":"done"}`},
		{Status{Kind: StatusCompleted}, `{"completed":null}`},
		{Status{Kind: StatusErrored, Message: "boom", HasMessage: true}, `{"errored":"boom"}`},
		{Status{Kind: StatusPendingInit}, `"pending_init"`},
		{Status{Kind: StatusShutdown}, `"shutdown"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.s)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.s, b, err, tt.want)
		}
		var back Status
		if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.s)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{`{"task_name":"w","message":"m"}`, `{}`, `[`, `{"fork_turns":"2","task_name":"a","message":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSpawnArgs(b)
		_, _ = parseMessageArgs(b)
		_, _ = parseWaitArgs(b, 0, 1, 10)
	})
}

func TestParseListArgs(t *testing.T) {
	if p, err := parseListArgs([]byte(`{"path_prefix":"worker"}`)); err != nil || p != "worker" {
		t.Errorf("parseListArgs = %q, %v", p, err)
	}
	if _, err := parseListArgs([]byte(`{"x":1}`)); err == nil || err.Error() != "failed to parse function arguments: unknown field `x`, expected `path_prefix`" {
		t.Errorf("parseListArgs(x) = %v", err)
	}
}

// TestArgumentErrorsReachModel: the multi-agent tools validate their own
// arguments (capability.ArgumentValidator), so the model gets Codex's
// serde-style texts, not the schema validator's.
func TestArgumentErrorsReachModel(t *testing.T) {
	e := newEnv(t, nil)
	calls := []struct{ id, tool, args, want string }{
		{"c1", "spawn_agent", `{"message":"m"}`, "failed to parse function arguments: missing field `task_name`"},
		{"c2", "spawn_agent", `{"task_name":"w","message":"m","items":[]}`, "failed to parse function arguments: unknown field `items`, expected one of `task_name`, `message`, `agent_type`, `fork_turns`, `fork_context`"},
		{"c3", "spawn_agent", `{"task_name":7,"message":"m"}`, "failed to parse function arguments: invalid type: integer `7`, expected a string"},
		{"c4", "send_message", `{"target":"w","message":"x","interrupt":true}`, "failed to parse function arguments: unknown field `interrupt`, expected `target` or `message`"},
		{"c5", "spawn_agent", `{"task_name":"w","message":"m","fork_context":true}`, "fork_context is not supported in MultiAgentV2; use fork_turns instead"},
	}
	var script []modeltest.Scripted
	for _, c := range calls {
		script = append(script, modeltest.CallID(c.id, c.tool, c.args))
	}
	e.model.Route(modeltest.ForAgent("/root"), append(script, modeltest.Text("done"))...)
	root := e.start()
	e.submit(root, "try")
	reqs := e.requestsOf("/root")
	for i, c := range calls {
		if out, _ := modeltest.Output(reqs[i+1], c.id); out != c.want {
			t.Errorf("%s(%s) output = %q, want %q", c.tool, c.args, out, c.want)
		}
	}
}
