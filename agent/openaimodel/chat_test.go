package openaimodel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

func newChat(t *testing.T, cfg Config) *Chat {
	t.Helper()
	m, err := NewChat(cfg)
	if err != nil {
		t.Fatalf("NewChat: %v", err)
	}
	return m
}

func TestChatText(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, serveSSE(fixture(t, "chat_text.sse")))
	evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatalf("Stream error = %v, want nil", err)
	}
	want := []string{"output_item_added", "text_delta", "text_delta", "output_item_done", "completed"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	if evs[1].Delta+evs[2].Delta != "Hello, world." {
		t.Errorf("deltas = %q %q, want Hello, world.", evs[1].Delta, evs[2].Delta)
	}
	msg := evs[3].Item
	if msg.Type != rollout.ItemMessage || msg.Role != rollout.RoleAssistant || msg.Text() != "Hello, world." || msg.Content[0].Type != rollout.PartOutputText {
		t.Errorf("message = %+v, want the assistant's output_text", msg)
	}
	c := evs[4]
	wantUsage := agent.TokenUsage{InputTokens: 812, CachedInputTokens: 512, OutputTokens: 64, ReasoningOutputTokens: 20, TotalTokens: 876}
	if c.ResponseID != "chatcmpl-7x1" || c.Usage == nil || *c.Usage != wantUsage {
		t.Errorf("completed = %+v (usage %+v), want chatcmpl-7x1 with %+v", c, c.Usage, wantUsage)
	}
	r := ts.last(t)
	if r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" || r.Header.Get("X-Codex-Window-Id") == "" {
		t.Errorf("request = %s with headers %v", r.Path, r.Header)
	}
}

func TestChatToolCallDeltas(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, serveSSE(fixture(t, "chat_tool_calls.sse")))
	evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatalf("Stream error = %v, want nil", err)
	}
	want := []string{"output_item_added", "reasoning_content_delta", "reasoning_content_delta", "output_item_done", "output_item_done", "output_item_done", "completed"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	rs := evs[3].Item
	if rs.Type != rollout.ItemReasoning || len(rs.Content) != 1 || rs.Content[0].Text != "Two cities; call both." {
		t.Errorf("reasoning = %+v, want the streamed reasoning text", rs)
	}
	var calls []string
	for _, e := range evs[4:6] {
		calls = append(calls, e.Item.Type+" "+e.Item.CallID+" "+e.Item.Name+" "+e.Item.Arguments)
	}
	wantCalls := []string{`function_call call_p1 get_weather {"city":"Paris"}`, `function_call call_o2 get_weather {"city":"Oslo"}`}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls = %q, want %q", calls, wantCalls)
	}
}

func TestChatToolCallsWithoutIndexOrID(t *testing.T) {
	// Ollama-style: whole calls in one chunk, no index; one server also
	// leaves out the call id.
	chunks := []string{
		`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},{"type":"function","function":{"name":"g","arguments":""}}]}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	ts := newTestServer(t, serveSSE(chatSSE(chunks...)))
	evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, e := range evs {
		if e.Kind == agent.StreamItemDone {
			calls = append(calls, e.Item.CallID+" "+e.Item.Name+" "+e.Item.Arguments)
		}
	}
	want := []string{`call_a f {"x":1}`, `call_c1_1 g {}`}
	if !slices.Equal(calls, want) {
		t.Errorf("calls = %q, want %q", calls, want)
	}

	chunks = []string{
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"function","function":{"name":"g","arguments":""}}]}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	}
	ts = newTestServer(t, serveSSE(chatSSE(chunks...)))
	evs, err = collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatal(err)
	}
	if it := evs[0].Item; it.CallID != "call_c2_0" || it.Arguments != "{}" {
		t.Errorf("id-less call = %+v, want call id call_c2_0 and arguments {}", it)
	}
}

// chatSSE frames chat chunks as a data-only event stream ending in [DONE].
func chatSSE(chunks ...string) string {
	var sb strings.Builder
	for _, c := range chunks {
		sb.WriteString("data: " + c + "\n\n")
	}
	sb.WriteString("data: [DONE]\n\n")
	return sb.String()
}

func TestChatFinishAndStreamErrors(t *testing.T) {
	text := `{"id":"c","choices":[{"index":0,"delta":{"content":"partial"}}]}`
	tests := []struct {
		name  string
		body  string
		class error
	}{
		{"no finish reason", "data: " + text + "\n\n", agent.ErrStreamClosed},
		{"length", chatSSE(text, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`), agent.ErrStreamClosed},
		{"content filter", chatSSE(text, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}`), agent.ErrInvalidRequest},
		{"error object mid-stream", "data: " + text + "\n\n" + `data: {"error":{"message":"Please try again in 3s","type":"rate_limit_error","code":"rate_limit_exceeded"}}` + "\n\n", agent.ErrRateLimited},
		{"malformed chunk", "data: " + text + "\n\ndata: {\"id\": \n\n", agent.ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, serveSSE(tt.body))
			evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) {
				t.Fatalf("error = %v, want class %v", err, tt.class)
			}
			for _, e := range evs {
				if e.Kind == agent.StreamItemDone || e.Kind == agent.StreamCompleted {
					t.Errorf("failed stream yielded %v; a partial item must not be reported done", e.Kind)
				}
			}
			if tt.name == "error object mid-stream" {
				if _, d := agent.Retryable(err); d != 3*time.Second {
					t.Errorf("retry delay = %v, want 3s", d)
				}
			}
			if tt.name == "malformed chunk" && !errors.Is(err, ErrMalformedEvent) {
				t.Errorf("error = %v, want ErrMalformedEvent", err)
			}
		})
	}
}

func TestChatHTTPStatus(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		class  error
		delay  time.Duration
	}{
		{"400 context", 400, nil, `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`, agent.ErrContextWindowExceeded, 0},
		{"400 plain", 400, nil, `bad request`, agent.ErrInvalidRequest, 0},
		{"404 ollama", 404, nil, `{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}`, agent.ErrInvalidRequest, 0},
		{"401", 401, nil, `{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}`, agent.ErrInvalidRequest, 0},
		{"429 header", 429, map[string]string{"Retry-After": "4"}, `{"error":{"message":"Too many requests","type":"rate_limit_error"}}`, agent.ErrRateLimited, 4 * time.Second},
		{"429 message", 429, nil, `{"error":{"message":"Rate limit reached. Please try again in 750ms.","type":"tokens","code":"rate_limit_exceeded"}}`, agent.ErrRateLimited, 750 * time.Millisecond},
		{"429 quota", 429, nil, `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}`, agent.ErrQuotaExceeded, 0},
		{"502 html", 502, nil, `<html>Bad Gateway</html>`, agent.ErrServer, 0},
		{"500 json", 500, nil, `{"error":{"message":"engine crashed","type":"server_error"}}`, agent.ErrServer, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, serveStatus(tt.status, tt.header, tt.body))
			_, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) {
				t.Fatalf("error = %v, want class %v", err, tt.class)
			}
			me := modelError(t, err)
			if me.StatusCode != tt.status || me.RetryAfter != tt.delay {
				t.Errorf("status, delay = %d, %v, want %d, %v", me.StatusCode, me.RetryAfter, tt.status, tt.delay)
			}
		})
	}
}

func TestChatCancelMidStream(t *testing.T) {
	checkGoroutines(t)
	handlerDone := make(chan struct{})
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var final error
	n := 0
	for _, err := range newChat(t, ts.config()).Stream(ctx, request()) {
		if err != nil {
			final = err
			continue
		}
		n++
		cancel()
	}
	if n == 0 || !errors.Is(final, context.Canceled) {
		t.Fatalf("Stream = %d events, %v, want events then context.Canceled", n, final)
	}
	<-handlerDone
}

func TestChatIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	handlerDone := make(chan struct{})
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	cfg := ts.config()
	cfg.IdleTimeout = 50 * time.Millisecond
	_, err := collect(t, newChat(t, cfg).Stream(t.Context(), request()))
	if !errors.Is(err, agent.ErrTimeout) {
		t.Fatalf("error = %v, want ErrTimeout", err)
	}
	<-handlerDone
}

// TestChatRequestMapping checks the lossy mapping of the package
// documentation, item by item, on what the server received.
func TestChatRequestMapping(t *testing.T) {
	var agentMsg rollout.ResponseItem
	if err := json.Unmarshal([]byte(`{"type":"agent_message","id":"amsg_1","author":"/root","recipient":"/root/worker","content":[{"type":"input_text","text":"Message Type: NEW_TASK\nTask name: /root/worker\nSender: /root\nPayload:\n"},{"type":"encrypted_content","encrypted_content":"compute 2+2"}]}`), &agentMsg); err != nil {
		t.Fatal(err)
	}
	img := rollout.ResponseItem{Type: rollout.ItemMessage, Role: rollout.RoleUser, Content: []rollout.ContentPart{
		{Type: rollout.PartInputText, Text: "what is this?"},
		{Type: rollout.PartInputImage, ImageURL: "data:image/png;base64,AAAA", Detail: "high"},
	}}
	input := []rollout.ResponseItem{
		{Type: rollout.ItemAdditionalTools, Role: rollout.RoleDeveloper, Tools: json.RawMessage(`[]`)},
		*rollout.NewMessage(rollout.RoleDeveloper, "<permissions>read-only</permissions>"),
		*rollout.NewMessage(rollout.RoleUser, "weather?"),
		{Type: rollout.ItemReasoning, Summary: []rollout.ContentPart{{Type: rollout.PartSummaryText, Text: "Need both cities."}}, EncryptedContent: "opaque"},
		{Type: rollout.ItemReasoning, EncryptedContent: "opaque-only"},
		{Type: rollout.ItemMessage, Role: rollout.RoleAssistant, Phase: rollout.PhaseCommentary, Content: []rollout.ContentPart{{Type: rollout.PartOutputText, Text: "Checking."}}},
		*rollout.NewFunctionCall("call_1", "get_weather", `{"city":"Paris"}`),
		*rollout.NewFunctionCall("call_2", "get_weather", `{"city":"Oslo"}`),
		*rollout.NewFunctionCallOutput("call_1", "sunny"),
		{Type: rollout.ItemFunctionCallOutput, CallID: "call_2", Output: rollout.ToolOutput{Parts: []rollout.ContentPart{{Type: rollout.PartInputText, Text: "rain"}, {Type: rollout.PartInputImage, ImageURL: "data:x"}}}},
		agentMsg,
		{Type: rollout.ItemWebSearchCall, Status: "completed"},
		img,
		*rollout.NewMessage(rollout.RoleAssistant, "Paris is sunny, Oslo rainy."),
	}
	ts := newTestServer(t, serveSSE(chatSSE(`{"id":"c","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`)))
	cfg := ts.config()
	cfg.ReasoningEffort = "low"
	cfg.Verbosity = "high"
	req := request()
	req.Input = input
	req.ParallelToolCalls = true
	req.Tools = []capability.Spec{{Name: "get_weather", Description: "Weather.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
	if _, err := collect(t, newChat(t, cfg).Stream(t.Context(), req)); err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(ts.last(t).Body, &body); err != nil {
		t.Fatal(err)
	}
	wantMessages := `[
	 {"role":"system","content":"You are a test."},
	 {"role":"system","content":"<permissions>read-only</permissions>"},
	 {"role":"user","content":"weather?"},
	 {"role":"assistant","content":"<reasoning>\nNeed both cities.\n</reasoning>\n\nChecking.","tool_calls":[
	   {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
	   {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
	 {"role":"tool","content":"sunny","tool_call_id":"call_1"},
	 {"role":"tool","content":"rain","tool_call_id":"call_2"},
	 {"role":"user","content":"[agent message from /root to /root/worker]\nMessage Type: NEW_TASK\nTask name: /root/worker\nSender: /root\nPayload:\n\ncompute 2+2"},
	 {"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}}]},
	 {"role":"assistant","content":"Paris is sunny, Oslo rainy."}
	]`
	if !jsonEqual(t, body["messages"], []byte(wantMessages)) {
		t.Errorf("messages =\n%s\nwant\n%s", body["messages"], wantMessages)
	}
	for k, v := range map[string]string{
		"model":               `"gpt-test"`,
		"stream":              `true`,
		"tool_choice":         `"auto"`,
		"parallel_tool_calls": `true`,
		"reasoning_effort":    `"low"`,
		"verbosity":           `"high"`,
		"stream_options":      `{"include_usage":true}`,
		"tools":               `[{"type":"function","function":{"name":"get_weather","description":"Weather.","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`,
	} {
		if !jsonEqual(t, body[k], []byte(v)) {
			t.Errorf("body[%q] = %s, want %s", k, body[k], v)
		}
	}
}

func TestChatNoToolsNoUsage(t *testing.T) {
	ts := newTestServer(t, serveSSE(chatSSE(`{"id":"c","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`)))
	cfg := ts.config()
	cfg.DisableStreamUsage = true
	req := request()
	req.ParallelToolCalls = true
	evs, err := collect(t, newChat(t, cfg).Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	if c := evs[len(evs)-1]; c.Kind != agent.StreamCompleted || c.Usage != nil {
		t.Errorf("last event = %+v, want completed without usage", c)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(ts.last(t).Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tools", "tool_choice", "parallel_tool_calls", "stream_options"} {
		if v, ok := body[k]; ok {
			t.Errorf("body has %s = %s, want it left out", k, v)
		}
	}
}

func TestChatConsumerStopsEarly(t *testing.T) {
	checkGoroutines(t)
	handlerDone := make(chan struct{})
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	for ev, err := range newChat(t, ts.config()).Stream(t.Context(), request()) {
		if err != nil || ev.Kind != agent.StreamItemAdded {
			t.Fatalf("first element = %+v, %v, want the added message", ev, err)
		}
		break
	}
	<-handlerDone
}

func TestChatUnreachable(t *testing.T) {
	ts := newTestServer(t, serveSSE(""))
	cfg := ts.config()
	ts.Close()
	_, err := collect(t, newChat(t, cfg).Stream(t.Context(), request()))
	if !errors.Is(err, agent.ErrStreamClosed) {
		t.Fatalf("error = %v, want a retryable ErrStreamClosed", err)
	}
}

func TestChatLateSystemAndEmptyOutput(t *testing.T) {
	input := []rollout.ResponseItem{
		*rollout.NewMessage(rollout.RoleDeveloper, "rules"),
		*rollout.NewMessage(rollout.RoleUser, "hi"),
		*rollout.NewFunctionCall("call_1", "noop", "{}"),
		*rollout.NewFunctionCallOutput("call_1", ""),
		*rollout.NewMessage(rollout.RoleDeveloper, "<world>changed</world>"),
	}
	for _, late := range []bool{false, true} {
		ts := newTestServer(t, serveSSE(chatSSE(`{"id":"c","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`)))
		cfg := ts.config()
		cfg.ChatLateSystemAsUser = late
		req := request()
		req.Instructions = ""
		req.Input = input
		if _, err := collect(t, newChat(t, cfg).Stream(t.Context(), req)); err != nil {
			t.Fatal(err)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(ts.last(t).Body, &body); err != nil {
			t.Fatal(err)
		}
		last := `{"role":"system","content":"<world>changed</world>"}`
		if late {
			last = `{"role":"user","content":"[developer]\n<world>changed</world>"}`
		}
		want := `[{"role":"system","content":"rules"},{"role":"user","content":"hi"},` +
			`{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"noop","arguments":"{}"}}]},` +
			`{"role":"tool","content":"(no output)","tool_call_id":"call_1"},` + last + `]`
		if !jsonEqual(t, body["messages"], []byte(want)) {
			t.Errorf("ChatLateSystemAsUser=%v: messages =\n%s\nwant\n%s", late, body["messages"], want)
		}
	}
}

func TestChatKeepAliveFlood(t *testing.T) {
	body := strings.Repeat(": keep-alive\n\n", 1000) + chatSSE(`{"id":"c","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`)
	ts := newTestServer(t, serveSSE(body))
	evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil || evs[len(evs)-1].Kind != agent.StreamCompleted {
		t.Fatalf("Stream = %v, %v, want a completed response", kinds(evs), err)
	}
}

func TestChatReasoningMember(t *testing.T) {
	ts := newTestServer(t, serveSSE(chatSSE(
		`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Think"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning":"ing.","reasoning_details":[{"type":"reasoning.text"}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning":{"unexpected":"object"}}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"stop"}]}`,
	)))
	evs, err := collect(t, newChat(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"output_item_added", "reasoning_content_delta", "reasoning_content_delta", "output_item_done", "output_item_added", "text_delta", "output_item_done", "completed"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	if rs := evs[3].Item; rs.Content[0].Text != "Thinking." {
		t.Errorf("reasoning = %q, want Thinking.", rs.Content[0].Text)
	}
}
