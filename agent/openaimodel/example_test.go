package openaimodel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/openaimodel"
	"github.com/troupe-run/troupe/rollout"
)

// An httptest server stands in for the provider; in real use BaseURL is
// left empty (OpenAI) or names the provider, and APIKey is set.
func ExampleNewResponses() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `event: response.output_item.added
data: {"type":"response.output_item.added","item":{"type":"message","role":"assistant","id":"msg_1","content":[]}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","item_id":"msg_1","delta":"Hello!"}

event: response.output_item.done
data: {"type":"response.output_item.done","item":{"type":"message","role":"assistant","id":"msg_1","content":[{"type":"output_text","text":"Hello!"}],"phase":"final_answer"}}

event: response.completed
data: {"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":10,"output_tokens":2,"total_tokens":12}}}

`)
	}))
	defer srv.Close()

	model, err := openaimodel.NewResponses(openaimodel.Config{BaseURL: srv.URL + "/v1", Model: "gpt-5"})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &agent.Request{
		Instructions: "Be brief.",
		Input:        []rollout.ResponseItem{*rollout.NewMessage(rollout.RoleUser, "Say hello.")},
	}
	for ev, err := range model.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Kind {
		case agent.StreamTextDelta:
			fmt.Printf("delta %q\n", ev.Delta)
		case agent.StreamItemDone:
			fmt.Printf("done %s %s: %s\n", ev.Item.Type, ev.Item.ID, ev.Item.Text())
		case agent.StreamCompleted:
			fmt.Printf("completed %s, %d tokens\n", ev.ResponseID, ev.Usage.TotalTokens)
		}
	}
	// Output:
	// delta "Hello!"
	// done message msg_1: Hello!
	// completed resp_1, 12 tokens
}

func ExampleNewChat() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":"}}]}}]}

data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2,\"b\":2}"}}]}}]}

data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}

data: [DONE]

`)
	}))
	defer srv.Close()

	// For Ollama: BaseURL "http://localhost:11434/v1", Model "qwen3:8b".
	model, err := openaimodel.NewChat(openaimodel.Config{BaseURL: srv.URL + "/v1", Model: "qwen3:8b"})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &agent.Request{Input: []rollout.ResponseItem{*rollout.NewMessage(rollout.RoleUser, "What is 2+2?")}}
	for ev, err := range model.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Kind {
		case agent.StreamItemDone:
			fmt.Printf("call %s %s(%s)\n", ev.Item.CallID, ev.Item.Name, ev.Item.Arguments)
		case agent.StreamCompleted:
			fmt.Printf("completed %s, %d tokens\n", ev.ResponseID, ev.Usage.TotalTokens)
		}
	}
	// Output:
	// call call_1 add({"a":2,"b":2})
	// completed chatcmpl-1, 39 tokens
}
