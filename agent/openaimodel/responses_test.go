package openaimodel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

func newResponses(t *testing.T, cfg Config) *Responses {
	t.Helper()
	m, err := NewResponses(cfg)
	if err != nil {
		t.Fatalf("NewResponses: %v", err)
	}
	return m
}

func TestResponsesText(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, serveSSE(fixture(t, "codex_text.sse")))
	m := newResponses(t, ts.config())
	evs, err := collect(t, m.Stream(t.Context(), request()))
	if err != nil {
		t.Fatalf("Stream error = %v, want nil", err)
	}
	want := []string{"output_item_added", "text_delta", "output_item_done", "completed"}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	const text = "The command printed: Chunk ID: 78055d\nWall time: 0.0257 seconds\nProcess exited with code 0\nOriginal token count: 1\nOutput:\nhi"
	if evs[1].Delta != text {
		t.Errorf("delta = %q, want %q", evs[1].Delta, text)
	}
	done := evs[2].Item
	if done.Type != rollout.ItemMessage || done.ID != "msg_resp_0002" || done.Phase != rollout.PhaseFinalAnswer || done.Text() != text {
		t.Errorf("done item = %+v, want the final_answer message msg_resp_0002", done)
	}
	c := evs[3]
	wantUsage := agent.TokenUsage{InputTokens: 120, OutputTokens: 12, TotalTokens: 132}
	if c.ResponseID != "resp_0002" || c.Usage == nil || *c.Usage != wantUsage || c.EndTurn != nil {
		t.Errorf("completed = %+v (usage %+v), want resp_0002 with usage %+v", c, c.Usage, wantUsage)
	}
	if r := ts.last(t); r.Path != "/v1/responses" || r.Method != http.MethodPost {
		t.Errorf("request = %s %s, want POST /v1/responses", r.Method, r.Path)
	}
}

func TestResponsesReasoningParallelCalls(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, serveSSE(fixture(t, "openai_reasoning_parallel.sse")))
	m := newResponses(t, ts.config())
	evs, err := collect(t, m.Stream(t.Context(), request()))
	if err != nil {
		t.Fatalf("Stream error = %v, want nil", err)
	}
	want := []string{
		"output_item_added", "reasoning_summary_delta", "reasoning_summary_delta", "reasoning_summary_delta", "output_item_done",
		"output_item_added", "output_item_done", "output_item_added", "output_item_done", "completed",
	}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	if d := evs[3]; d.Index != 1 || d.Delta != "Calling both at once." || d.ItemID != "rs_68a1" {
		t.Errorf("third summary delta = %+v, want index 1 of rs_68a1", d)
	}
	rs := evs[4].Item
	if rs.Type != rollout.ItemReasoning || rs.EncryptedContent != "gAAAAABoKzExampleEncryptedBlob==" || len(rs.Summary) != 2 {
		t.Errorf("reasoning item = %+v, want 2 summary parts and the encrypted content", rs)
	}
	var calls []string
	for _, e := range evs {
		if e.Kind == agent.StreamItemDone && e.Item.Type == rollout.ItemFunctionCall {
			calls = append(calls, e.Item.CallID+" "+e.Item.Name+" "+e.Item.Arguments)
		}
	}
	wantCalls := []string{`call_Paris get_weather {"city":"Paris"}`, `call_Oslo get_weather {"city":"Oslo"}`}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls = %q, want %q", calls, wantCalls)
	}
	c := evs[len(evs)-1]
	wantUsage := agent.TokenUsage{InputTokens: 2310, CachedInputTokens: 2048, OutputTokens: 190, ReasoningOutputTokens: 128, TotalTokens: 2500}
	if c.Usage == nil || *c.Usage != wantUsage {
		t.Errorf("usage = %+v, want %+v", c.Usage, wantUsage)
	}
	if c.EndTurn == nil || *c.EndTurn {
		t.Errorf("end_turn = %v, want false", c.EndTurn)
	}
}

func TestResponsesCodexReasoningCall(t *testing.T) {
	ts := newTestServer(t, serveSSE(fixture(t, "codex_reasoning_call.sse")))
	m := newResponses(t, ts.config())
	evs, err := collect(t, m.Stream(t.Context(), request()))
	if err != nil {
		t.Fatalf("Stream error = %v, want nil", err)
	}
	if got, want := kinds(evs), []string{"output_item_done", "output_item_done", "completed"}; !slices.Equal(got, want) {
		t.Fatalf("event kinds = %v, want %v", got, want)
	}
	fc := evs[1].Item
	if fc.Type != rollout.ItemFunctionCall || fc.CallID != "call_shell_1" || fc.Name != "exec_command" || fc.ID != "fc_call_shell_1" {
		t.Errorf("function call = %+v", fc)
	}
}

func TestResponsesFailed(t *testing.T) {
	tests := []struct {
		name      string
		code      string
		message   string
		class     error
		retryable bool
		delay     time.Duration
	}{
		{"context window", "context_length_exceeded", "Your input exceeds the context window of this model.", agent.ErrContextWindowExceeded, false, 0},
		{"quota", "insufficient_quota", "You exceeded your current quota.", agent.ErrQuotaExceeded, false, 0},
		{"usage not included", "usage_not_included", "Upgrade your plan.", agent.ErrQuotaExceeded, false, 0},
		{"rate limit", "rate_limit_exceeded", "Rate limit reached for gpt-5 on tokens per min (TPM): Limit 30000, Used 30000. Please try again in 11.054s. Visit https://platform.openai.com/account/rate-limits.", agent.ErrRateLimited, true, 11054 * time.Millisecond},
		{"rate limit ms", "rate_limit_exceeded", "Please try again in 35ms.", agent.ErrRateLimited, true, 35 * time.Millisecond},
		{"server error", "server_error", "The server had an error while processing your request.", agent.ErrServer, true, 0},
		{"invalid prompt", "invalid_prompt", "Invalid prompt: flagged.", agent.ErrInvalidRequest, false, 0},
		{"unknown code", "something_new", "Try again in 2s", agent.ErrServer, true, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := mustJSON(t, map[string]any{
				"type": "response.failed",
				"response": map[string]any{
					"id": "resp_f", "status": "failed",
					"error": map[string]any{"code": tt.code, "message": tt.message},
				},
			})
			ts := newTestServer(t, serveSSE(sseEvents(`{"type":"response.created","response":{"id":"resp_f"}}`, string(failed))))
			_, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) {
				t.Fatalf("error = %v, want class %v", err, tt.class)
			}
			me := modelError(t, err)
			if !strings.Contains(me.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", me.Message, tt.message)
			}
			retry, delay := agent.Retryable(err)
			if retry != tt.retryable || delay != tt.delay {
				t.Errorf("Retryable = %v, %v, want %v, %v", retry, delay, tt.retryable, tt.delay)
			}
		})
	}
}

func TestResponsesErrorEventAndIncomplete(t *testing.T) {
	tests := []struct {
		name  string
		event string
		class error
		msg   string
	}{
		{"error event", `{"type":"error","code":"rate_limit_exceeded","message":"Please try again in 1.5s","param":null}`, agent.ErrRateLimited, "try again"},
		{"incomplete", `{"type":"response.incomplete","response":{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}}`, agent.ErrStreamClosed, "max_output_tokens"},
		{"failed without error", `{"type":"response.failed","response":{"id":"r"}}`, agent.ErrServer, "without an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serveSSE(sseEvents(tt.event)))
			_, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error = %v, want class %v mentioning %q", err, tt.class, tt.msg)
			}
		})
	}
}

func TestResponsesEarlyClose(t *testing.T) {
	full := fixture(t, "codex_text.sse")
	cut := full[:strings.Index(full, "event: response.completed")]
	tests := []struct {
		name       string
		body       string
		wantEvents int
	}{
		{"before completed", cut, 3},
		{"mid event", cut + "event: response.completed\ndata: {\"type\":\"response.comp", 3},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, serveSSE(tt.body))
			evs, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
			if len(evs) != tt.wantEvents {
				t.Errorf("events = %v, want %d", kinds(evs), tt.wantEvents)
			}
			if tt.name == "mid event" {
				// The torn last event is dispatched at end of input and
				// is not JSON.
				if !errors.Is(err, ErrMalformedEvent) {
					t.Fatalf("error = %v, want ErrMalformedEvent", err)
				}
				return
			}
			if !errors.Is(err, agent.ErrStreamClosed) {
				t.Fatalf("error = %v, want ErrStreamClosed", err)
			}
			if retry, _ := agent.Retryable(err); !retry {
				t.Errorf("Retryable(%v) = false, want true", err)
			}
		})
	}
}

func TestResponsesConnectionReset(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sseEvents(`{"type":"response.created","response":{"id":"r"}}`))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	_, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
	if !errors.Is(err, agent.ErrStreamClosed) {
		t.Fatalf("error = %v, want ErrStreamClosed", err)
	}
}

func TestResponsesHTTPStatus(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		class  error
		delay  time.Duration
	}{
		{"400", 400, nil, `{"error":{"message":"Invalid value for 'input'.","type":"invalid_request_error","param":"input","code":"invalid_value"}}`, agent.ErrInvalidRequest, 0},
		{"400 context", 400, nil, `{"error":{"message":"Your input exceeds the context window of this model.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}`, agent.ErrContextWindowExceeded, 0},
		{"401", 401, nil, `{"error":{"message":"Incorrect API key provided: sk-test.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, agent.ErrInvalidRequest, 0},
		{"403 quota", 403, nil, `{"error":{"message":"Your plan does not include this model.","type":"insufficient_quota","param":null,"code":null}}`, agent.ErrQuotaExceeded, 0},
		{"404", 404, nil, `{"error":{"message":"The model 'gpt-test' does not exist","type":"invalid_request_error","code":"model_not_found"}}`, agent.ErrInvalidRequest, 0},
		{"422 plain", 422, nil, `unprocessable`, agent.ErrInvalidRequest, 0},
		{"404 no endpoint", 404, nil, `404 page not found`, agent.ErrInvalidRequest, 0},
		{"404 item", 404, nil, `{"error":{"message":"Item with id 'rs_1' not found. Items are not persisted when ` + "`store`" + ` is set to false.","type":"invalid_request_error","param":"input","code":null}}`, agent.ErrInvalidRequest, 0},
		{"429 header", 429, map[string]string{"Retry-After": "7"}, `{"error":{"message":"Rate limit reached.","type":"requests","code":"rate_limit_exceeded"}}`, agent.ErrRateLimited, 7 * time.Second},
		{"429 header ms", 429, map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`, agent.ErrRateLimited, 1500 * time.Millisecond},
		{"429 date", 429, map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, `{}`, agent.ErrRateLimited, 30 * time.Second},
		{"429 message", 429, nil, `{"error":{"message":"Rate limit reached for gpt-5 in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2.4s.","type":"tokens","code":"rate_limit_exceeded"}}`, agent.ErrRateLimited, 2400 * time.Millisecond},
		{"429 quota", 429, nil, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, agent.ErrQuotaExceeded, 0},
		{"500", 500, nil, `{"error":{"message":"The server had an error processing your request.","type":"server_error","code":null}}`, agent.ErrServer, 0},
		{"503 retry after", 503, map[string]string{"Retry-After": "3"}, `upstream overloaded`, agent.ErrServer, 3 * time.Second},
		{"408", 408, nil, ``, agent.ErrTimeout, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, serveStatus(tt.status, tt.header, tt.body))
			cfg := ts.config()
			cfg.Now = func() time.Time { return now }
			_, err := collect(t, newResponses(t, cfg).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) {
				t.Fatalf("error = %v, want class %v", err, tt.class)
			}
			me := modelError(t, err)
			if me.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", me.StatusCode, tt.status)
			}
			if me.RetryAfter != tt.delay {
				t.Errorf("RetryAfter = %v, want %v", me.RetryAfter, tt.delay)
			}
			if hint := strings.Contains(me.Message, "NewChat"); hint != (tt.name == "404 no endpoint") {
				t.Errorf("message %q: has the NewChat hint = %v", me.Message, hint)
			}
		})
	}
}

func TestResponsesMalformedEvents(t *testing.T) {
	created := `{"type":"response.created","response":{"id":"r"}}`
	tests := []struct {
		name string
		body string
		max  int
	}{
		{"not json", sseEvents(created) + "event: response.output_text.delta\ndata: {not json}\n\n", 0},
		{"item not an object", sseEvents(created, `{"type":"response.output_item.done","item":"oops"}`), 0},
		{"item without type", sseEvents(created, `{"type":"response.output_item.added","item":{"id":"x"}}`), 0},
		{"missing item", sseEvents(created, `{"type":"response.output_item.done"}`), 0},
		{"delta not a string", sseEvents(created, `{"type":"response.output_text.delta","delta":42}`), 0},
		{"completed without response", sseEvents(created, `{"type":"response.completed"}`), 0},
		{"usage of the wrong type", sseEvents(created, `{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":"many"}}}`), 0},
		{"oversized event", sseEvents(created, `{"type":"response.output_text.delta","delta":"`+strings.Repeat("x", 4096)+`"}`), 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, serveSSE(tt.body))
			cfg := ts.config()
			cfg.MaxEventBytes = tt.max
			_, err := collect(t, newResponses(t, cfg).Stream(t.Context(), request()))
			if !errors.Is(err, ErrMalformedEvent) || !errors.Is(err, agent.ErrServer) {
				t.Fatalf("error = %v, want ErrMalformedEvent of class ErrServer", err)
			}
			var ee *EventError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v holds no *EventError", err)
			}
		})
	}
}

func TestResponsesIgnoresUnknownEvents(t *testing.T) {
	body := sseEvents(
		`{"type":"response.created","response":{"id":"r"}}`,
		`{"type":"response.brand_new_event","whatever":[1,2,3]}`,
		`{"type":"response.completed","response":{"id":"r"}}`,
	) + ": keep-alive comment\n\n"
	ts := newTestServer(t, serveSSE(body))
	evs, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
	if err != nil || len(evs) != 1 || evs[0].Kind != agent.StreamCompleted || evs[0].Usage != nil {
		t.Fatalf("Stream = %v, %v, want one completed event without usage", kinds(evs), err)
	}
}

// blockingServer sends one event, then holds the stream open until the
// client goes away; handlerDone is closed when the handler has returned.
func blockingServer(t *testing.T) (ts *testServer, handlerDone chan struct{}) {
	handlerDone = make(chan struct{})
	ts = newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, sseEvents(`{"type":"response.output_item.added","item":{"type":"message","role":"assistant","id":"m1","content":[]}}`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	return ts, handlerDone
}

func TestResponsesCancelMidStream(t *testing.T) {
	checkGoroutines(t)
	ts, handlerDone := blockingServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var evs []agent.StreamEvent
	var final error
	for ev, err := range newResponses(t, ts.config()).Stream(ctx, request()) {
		if err != nil {
			final = err
			continue
		}
		evs = append(evs, ev)
		cancel()
	}
	if len(evs) != 1 {
		t.Errorf("events = %v, want the one sent before cancelling", kinds(evs))
	}
	if !errors.Is(final, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", final)
	}
	if retry, _ := agent.Retryable(final); retry {
		t.Errorf("Retryable(%v) = true, want false", final)
	}
	<-handlerDone // the server saw the connection go away
}

func TestResponsesConsumerStopsEarly(t *testing.T) {
	checkGoroutines(t)
	ts, handlerDone := blockingServer(t)
	for ev, err := range newResponses(t, ts.config()).Stream(t.Context(), request()) {
		if err != nil || ev.Kind != agent.StreamItemAdded {
			t.Fatalf("first element = %+v, %v, want the added item", ev, err)
		}
		break
	}
	<-handlerDone
}

func TestResponsesTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		checkGoroutines(t)
		ts, handlerDone := blockingServer(t)
		cfg := ts.config()
		cfg.IdleTimeout = 50 * time.Millisecond
		evs, err := collect(t, newResponses(t, cfg).Stream(t.Context(), request()))
		if len(evs) != 1 || !errors.Is(err, agent.ErrTimeout) {
			t.Fatalf("Stream = %v, %v, want one event then ErrTimeout", kinds(evs), err)
		}
		if retry, _ := agent.Retryable(err); !retry {
			t.Errorf("Retryable(%v) = false, want true", err)
		}
		<-handlerDone
	})
	t.Run("headers", func(t *testing.T) {
		checkGoroutines(t)
		handlerDone := make(chan struct{})
		ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			defer close(handlerDone)
			<-r.Context().Done()
		})
		cfg := ts.config()
		cfg.RequestTimeout = 50 * time.Millisecond
		_, err := collect(t, newResponses(t, cfg).Stream(t.Context(), request()))
		if !errors.Is(err, agent.ErrTimeout) {
			t.Fatalf("error = %v, want ErrTimeout", err)
		}
		<-handlerDone
	})
}

func TestResponsesUnreachable(t *testing.T) {
	ts := newTestServer(t, serveSSE(""))
	cfg := ts.config()
	ts.Close()
	_, err := collect(t, newResponses(t, cfg).Stream(t.Context(), request()))
	if retry, _ := agent.Retryable(err); err == nil || !retry {
		t.Fatalf("error = %v, want a retryable error", err)
	}
}

// loadInput reads a Codex request's input array.
func loadInput(t *testing.T, name string) (raw json.RawMessage, items []rollout.ResponseItem) {
	t.Helper()
	raw = json.RawMessage(fixture(t, name))
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	return raw, items
}

func TestResponsesRequestBody(t *testing.T) {
	for _, name := range []string{"codex_input_tools.json", "codex_input_multiagent.json"} {
		t.Run(name, func(t *testing.T) {
			raw, items := loadInput(t, name)
			// An item type nobody knows yet travels verbatim.
			items = append(items, rollout.ResponseItem{Type: "future_item", Extra: rollout.Members{{Key: "payload", Value: json.RawMessage(`{"a":[1,"<b>"]}`)}}})
			var want []any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			want = append(want, map[string]any{"type": "future_item", "payload": map[string]any{"a": []any{1.0, "<b>"}}})

			ts := newTestServer(t, serveSSE(sseEvents(`{"type":"response.completed","response":{"id":"r"}}`)))
			cfg := ts.config()
			cfg.Organization = "org-1"
			cfg.Project = "proj-1"
			cfg.Header = http.Header{"X-Extra": {"yes"}}
			cfg.ReasoningEffort = "medium"
			cfg.Verbosity = "low"
			req := request()
			req.Input = items
			req.ParallelToolCalls = true
			req.Tools = []capability.Spec{
				{Name: "get_weather", Description: "Weather for a city.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)},
				{Name: "noop", Description: "Does nothing."},
			}
			if _, err := collect(t, newResponses(t, cfg).Stream(t.Context(), req)); err != nil {
				t.Fatal(err)
			}
			got := ts.last(t)
			var body map[string]json.RawMessage
			if err := json.Unmarshal(got.Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if !jsonEqual(t, body["input"], mustJSON(t, want)) {
				t.Errorf("input differs from the Codex request it came from:\n got %.2000s", body["input"])
			}
			wantMembers := map[string]string{
				"model":               `"gpt-test"`,
				"instructions":        `"You are a test."`,
				"tool_choice":         `"auto"`,
				"parallel_tool_calls": `true`,
				"store":               `false`,
				"stream":              `true`,
				"include":             `["reasoning.encrypted_content"]`,
				"prompt_cache_key":    `"01a21136-7d39-7431-8f25-0511c98852d5"`,
				"reasoning":           `{"effort":"medium"}`,
				"text":                `{"verbosity":"low"}`,
				"tools": `[{"type":"function","name":"get_weather","description":"Weather for a city.","strict":false,"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}},` +
					`{"type":"function","name":"noop","description":"Does nothing.","strict":false,"parameters":{"type":"object","properties":{}}}]`,
				"client_metadata": `{"session_id":"01a21136-7d39-7431-8f25-0511c98852d5","thread_id":"01a21136-7d39-7431-8f25-0511c98852d5","turn_id":"01a21136-7d91-78f1-ae1c-a86346596790","x-codex-window-id":"01a21136-7d39-7431-8f25-0511c98852d5:0","agent_name":"/root"}`,
			}
			for k, v := range wantMembers {
				if !jsonEqual(t, body[k], []byte(v)) {
					t.Errorf("body[%q] = %s, want %s", k, body[k], v)
				}
			}
			wantHeaders := map[string]string{
				"Authorization":       "Bearer sk-test",
				"Content-Type":        "application/json",
				"Accept":              "text/event-stream",
				"Session-Id":          "01a21136-7d39-7431-8f25-0511c98852d5",
				"Thread-Id":           "01a21136-7d39-7431-8f25-0511c98852d5",
				"X-Codex-Window-Id":   "01a21136-7d39-7431-8f25-0511c98852d5:0",
				"Openai-Organization": "org-1",
				"Openai-Project":      "proj-1",
				"X-Extra":             "yes",
			}
			for k, v := range wantHeaders {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			var tm map[string]string
			if err := json.Unmarshal([]byte(got.Header.Get("X-Codex-Turn-Metadata")), &tm); err != nil || tm["turn_id"] != "01a21136-7d91-78f1-ae1c-a86346596790" || tm["agent_name"] != "/root" {
				t.Errorf("x-codex-turn-metadata = %q, want the turn and agent", got.Header.Get("X-Codex-Turn-Metadata"))
			}
		})
	}
}

func TestResponsesPassthrough(t *testing.T) {
	item := func() rollout.ResponseItem {
		it := *rollout.NewMessage(rollout.RoleUser, "hi")
		it.Passthrough = &rollout.Passthrough{TurnID: "turn-1", Extra: rollout.Members{{Key: "create_time", Value: json.RawMessage(`1`)}}}
		return it
	}
	nullPT := rollout.ResponseItem{}
	if err := json.Unmarshal([]byte(`{"type":"message","role":"user","content":[{"type":"input_text","text":"x"}],"internal_chat_message_metadata_passthrough":null}`), &nullPT); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		policy PassthroughPolicy
		base   string // replaces the host when not empty (never dialled: see below)
		keep   bool
	}{
		{"auto, other provider", PassthroughAuto, "", false},
		{"keep", PassthroughKeep, "", true},
		{"strip", PassthroughStrip, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serveSSE(sseEvents(`{"type":"response.completed","response":{"id":"r"}}`)))
			cfg := ts.config()
			cfg.Passthrough = tt.policy
			req := request()
			req.Input = []rollout.ResponseItem{item(), nullPT}
			before := mustJSON(t, req.Input)
			if _, err := collect(t, newResponses(t, cfg).Stream(t.Context(), req)); err != nil {
				t.Fatal(err)
			}
			body := string(ts.last(t).Body)
			if got := strings.Contains(body, passthroughMember); got != tt.keep {
				t.Errorf("body has passthrough = %v, want %v: %s", got, tt.keep, body)
			}
			if tt.keep && !strings.Contains(body, `"turn_id":"turn-1"`) {
				t.Errorf("kept passthrough lost its turn id: %s", body)
			}
			if after := mustJSON(t, req.Input); string(after) != string(before) {
				t.Errorf("Stream modified the caller's items:\n before %s\n after  %s", before, after)
			}
		})
	}
	// Auto keeps the metadata for OpenAI itself; checked on the settings,
	// as tests never reach api.openai.com.
	for base, want := range map[string]bool{"https://api.openai.com/v1": true, "https://API.openai.com/v1/": true, "http://localhost:8000/v1": false, "https://openrouter.ai/api/v1": false} {
		s, err := Config{BaseURL: base, Model: "m"}.settings()
		if err != nil {
			t.Fatal(err)
		}
		if s.passthrough != want {
			t.Errorf("Auto passthrough for %s = %v, want %v", base, s.passthrough, want)
		}
	}
}

func TestNewResponsesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Model: "gpt-5"}, true},
		{"no model", Config{}, false},
		{"bad scheme", Config{Model: "m", BaseURL: "ftp://x"}, false},
		{"no host", Config{Model: "m", BaseURL: "http://"}, false},
		{"negative request timeout", Config{Model: "m", RequestTimeout: -1}, false},
		{"negative max event", Config{Model: "m", MaxEventBytes: -1}, false},
		{"bad passthrough", Config{Model: "m", Passthrough: 9}, false},
		{"negative idle timeout disables it", Config{Model: "m", IdleTimeout: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewResponses(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewResponses(%+v) error = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error = %v, want ErrInvalidConfig", err)
			}
			if err == nil && tt.name == "defaults" {
				if m.url != DefaultBaseURL+"/responses" || m.s.idleTimeout != DefaultIdleTimeout || m.s.maxEvent != DefaultMaxEventBytes || !m.s.passthrough {
					t.Errorf("defaults = %+v", m.s)
				}
			}
		})
	}
}

var _ = reflect.DeepEqual

func TestResponsesDropItemIDs(t *testing.T) {
	for _, drop := range []bool{false, true} {
		ts := newTestServer(t, serveSSE(sseEvents(`{"type":"response.completed","response":{"id":"r"}}`)))
		cfg := ts.config()
		cfg.DropItemIDs = drop
		cfg.Passthrough = PassthroughKeep
		req := request()
		rs := rollout.ResponseItem{Type: rollout.ItemReasoning, ID: "rs_1", Summary: []rollout.ContentPart{}, EncryptedContent: "e"}
		var explicit rollout.ResponseItem // an id kept verbatim because it was ""
		if err := json.Unmarshal([]byte(`{"type":"message","id":"","role":"user","content":[]}`), &explicit); err != nil {
			t.Fatal(err)
		}
		req.Input = []rollout.ResponseItem{rs, explicit}
		if _, err := collect(t, newResponses(t, cfg).Stream(t.Context(), req)); err != nil {
			t.Fatal(err)
		}
		var body struct {
			Input []map[string]any `json:"input"`
		}
		if err := json.Unmarshal(ts.last(t).Body, &body); err != nil {
			t.Fatal(err)
		}
		for i, it := range body.Input {
			if _, has := it["id"]; has == drop {
				t.Errorf("DropItemIDs=%v: input[%d] = %v, want id present %v", drop, i, it, !drop)
			}
		}
		if req.Input[0].ID != "rs_1" {
			t.Errorf("Stream changed the caller's item id to %q", req.Input[0].ID)
		}
		if _, ok := req.Input[1].Extra.Get("id"); !ok {
			t.Errorf("Stream removed the caller's explicit id member")
		}
	}
}

func TestResponsesNilInputAndNoTools(t *testing.T) {
	ts := newTestServer(t, serveSSE(sseEvents(`{"type":"response.completed","response":{"id":"r"}}`)))
	req := &agent.Request{}
	if _, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), req)); err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(ts.last(t).Body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body["input"]) != "[]" || string(body["tools"]) != "[]" {
		t.Errorf("input, tools = %s, %s, want [] and []", body["input"], body["tools"])
	}
	for _, k := range []string{"instructions", "client_metadata", "prompt_cache_key", "reasoning", "text"} {
		if v, ok := body[k]; ok {
			t.Errorf("body has %s = %s, want it left out", k, v)
		}
	}
}

func TestResponsesJSONInsteadOfStream(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		class error
	}{
		{"error object", `{"error":{"message":"Your input exceeds the context window.","type":"invalid_request_error","code":"context_length_exceeded"}}`, agent.ErrContextWindowExceeded},
		{"whole response", `{"id":"resp_1","object":"response","status":"completed","output":[]}`, agent.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serveStatus(http.StatusOK, nil, tt.body))
			_, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
			if !errors.Is(err, tt.class) {
				t.Fatalf("error = %v, want class %v", err, tt.class)
			}
		})
	}
}

// TestConcurrentStreams runs many streams of one adapter at once (under
// -race this checks that the adapters hold no shared mutable state).
func TestConcurrentStreams(t *testing.T) {
	checkGoroutines(t)
	rts := newTestServer(t, serveSSE(fixture(t, "openai_reasoning_parallel.sse")))
	cts := newTestServer(t, serveSSE(fixture(t, "chat_tool_calls.sse")))
	models := []agent.Model{newResponses(t, rts.config()), newChat(t, cts.config())}
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() {
			req := request()
			req.Input = []rollout.ResponseItem{*rollout.NewMessage(rollout.RoleUser, "go")}
			var last agent.StreamEvent
			for ev, err := range models[i%2].Stream(t.Context(), req) {
				if err != nil {
					errs <- err
					return
				}
				last = ev
			}
			if last.Kind != agent.StreamCompleted {
				errs <- errors.New("stream ended without completion")
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestResponsesTypeFromEventName(t *testing.T) {
	body := "event: response.output_text.delta\ndata: {\"delta\":\"x\"}\n\n" +
		"data: [DONE]\n\n" +
		"event: response.completed\ndata: {\"response\":{\"id\":\"r\"}}\n\n"
	ts := newTestServer(t, serveSSE(body))
	evs, err := collect(t, newResponses(t, ts.config()).Stream(t.Context(), request()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(evs), []string{"text_delta", "completed"}; !slices.Equal(got, want) || evs[0].Delta != "x" {
		t.Errorf("events = %v (%+v), want %v", got, evs, want)
	}
}
