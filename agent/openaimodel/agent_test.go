package openaimodel

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// scripted answers the n-th request with bodies[n], and any request past
// the script with a 404 (which fails the turn).
func scripted(bodies ...func(w http.ResponseWriter)) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(bodies) {
			http.Error(w, `{"error":{"message":"no scripted response left","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		bodies[i](w)
	}
}

func stream(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

// runTurn runs one agent turn with model and the exec_command tool and
// returns its result.
func runTurn(t *testing.T, model agent.Model, prompt string) agent.TurnResult {
	t.Helper()
	tool := capability.Func{
		S: capability.Spec{
			Name:         "exec_command",
			Description:  "Runs a command.",
			Parameters:   json.RawMessage(`{"type":"object","properties":{"cmd":{"type":"string"},"yield_time_ms":{"type":"number"}},"required":["cmd"]}`),
			ParallelSafe: true,
		},
		Fn: func(ctx context.Context, call capability.Call) (capability.Output, error) {
			var args struct{ Cmd string }
			if err := json.Unmarshal(call.Arguments, &args); err != nil {
				return capability.ErrorOutput("%v", err), nil
			}
			return capability.Output{Text: strings.TrimPrefix(args.Cmd, "echo ") + "\n"}, nil
		},
	}
	a, err := agent.New(agent.Config{
		ThreadID:     "01a21136-7d39-7431-8f25-0511c98852d5",
		AgentPath:    "/root",
		Model:        model,
		Instructions: "You are a test.",
		Tools:        []capability.Tool{tool},
		DisableSleep: true,
		Jitter:       func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	turn, err := a.Submit(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := turn.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAgentTurnOverResponses replays the Codex "tools" scenario through a
// real agent: a 500 the agent retries, the model's exec_command call, the
// tool's output sent back, and the final answer.
func TestAgentTurnOverResponses(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, scripted(
		func(w http.ResponseWriter) {
			w.Header().Set("Retry-After-Ms", "1")
			http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
		},
		stream(fixture(t, "codex_reasoning_call.sse")),
		stream(fixture(t, "codex_text.sse")),
	))
	res := runTurn(t, newResponses(t, ts.config()), "Run echo hi.")
	if res.Err != nil {
		t.Fatalf("turn error = %+v", res.Err)
	}
	if !strings.HasPrefix(res.LastAgentMessage, "The command printed:") {
		t.Errorf("last agent message = %q", res.LastAgentMessage)
	}
	reqs := ts.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3 (failed, call, answer)", len(reqs))
	}
	var body struct {
		Input []rollout.ResponseItem `json:"input"`
	}
	if err := json.Unmarshal(reqs[2].Body, &body); err != nil {
		t.Fatal(err)
	}
	var types []string
	var output string
	for _, it := range body.Input {
		types = append(types, it.Type)
		if it.Passthrough != nil {
			t.Errorf("item %s sent with passthrough metadata to a non-OpenAI server", it.Type)
		}
		if it.Type == rollout.ItemFunctionCallOutput && it.CallID == "call_shell_1" {
			output = it.Output.String()
		}
	}
	if got, want := strings.Join(types, ","), "message,reasoning,function_call,function_call_output"; !strings.HasSuffix(got, want) {
		t.Errorf("input types = %s, want them to end with %s", got, want)
	}
	if output != "hi\n" {
		t.Errorf("function_call_output = %q, want %q", output, "hi\n")
	}
	if reqs[2].Header.Get("X-Codex-Window-Id") != "01a21136-7d39-7431-8f25-0511c98852d5:0" {
		t.Errorf("x-codex-window-id = %q", reqs[2].Header.Get("X-Codex-Window-Id"))
	}
}

func TestAgentTurnOverChat(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, scripted(
		stream(chatSSE(
			`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Run it."}}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"exec_command","arguments":"{\"cmd\":"}}]}}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"echo hi\"}"}}]}}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		)),
		stream(chatSSE(
			`{"id":"c2","choices":[{"index":0,"delta":{"role":"assistant","content":"It printed hi."}}]}`,
			`{"id":"c2","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		)),
	))
	res := runTurn(t, newChat(t, ts.config()), "Run echo hi.")
	if res.Err != nil {
		t.Fatalf("turn error = %+v", res.Err)
	}
	if res.LastAgentMessage != "It printed hi." {
		t.Errorf("last agent message = %q, want %q", res.LastAgentMessage, "It printed hi.")
	}
	reqs := ts.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	var body struct {
		Messages []struct {
			Role       string `json:"role"`
			Content    any    `json:"content"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	n := len(body.Messages)
	if n < 2 {
		t.Fatalf("messages = %+v", body.Messages)
	}
	asst, tool := body.Messages[n-2], body.Messages[n-1]
	if asst.Role != "assistant" || len(asst.ToolCalls) != 1 || asst.ToolCalls[0].ID != "call_1" || asst.Content != "<reasoning>\nRun it.\n</reasoning>" {
		t.Errorf("assistant message = %+v, want the reasoning and call_1", asst)
	}
	if tool.Role != "tool" || tool.ToolCallID != "call_1" || tool.Content != "hi\n" {
		t.Errorf("tool message = %+v, want call_1's output hi", tool)
	}
}
