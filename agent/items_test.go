package agent

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// The JSON forms below are item_completed items from the Codex 0.169 corpus.
func TestTurnItemJSON(t *testing.T) {
	zero := 0
	tests := []struct {
		item TurnItem
		want string
	}{
		{&UserMessage{ID: "u1", Content: []UserInput{{Type: "text", Text: "hi"}}},
			`{"type":"UserMessage","id":"u1","content":[{"type":"text","text":"hi","text_elements":[]}]}`},
		{&AgentMessage{ID: "msg_resp_0002", Content: []AgentContent{{Type: "Text", Text: "done"}}, Phase: "final_answer"},
			`{"type":"AgentMessage","id":"msg_resp_0002","content":[{"type":"Text","text":"done"}],"phase":"final_answer"}`},
		{&Reasoning{ID: "rs_resp_0001", SummaryText: []string{"I will run echo hi."}},
			`{"type":"Reasoning","id":"rs_resp_0001","summary_text":["I will run echo hi."],"raw_content":[]}`},
		{&Sleep{ID: "call_sleep_1", RequestedMs: 150},
			`{"type":"Extension","kind":"clock.sleep","id":"call_sleep_1","durationMs":150}`},
		{&Sleep{ID: "call_sleep_1", RequestedMs: 60000, ElapsedMs: 12, Woke: "interrupted by new input"},
			`{"type":"Extension","kind":"clock.sleep","id":"call_sleep_1","durationMs":60000,"elapsedMs":12,"woke":"interrupted by new input"}`},
		{&ContextCompaction{ID: "c1"}, `{"type":"ContextCompaction","id":"c1"}`},
		{&CommandExecution{ID: "call_shell_1", Command: []string{"/bin/bash", "-lc", "echo hi"}, Cwd: "/w", Status: StatusCompleted, AggregatedOutput: "hi\n", ExitCode: &zero},
			`{"type":"CommandExecution","id":"call_shell_1","command":["/bin/bash","-lc","echo hi"],"cwd":"/w","status":"completed","aggregated_output":"hi\n","exit_code":0}`},
		{&SubAgentActivity{ID: "call_root_send", Kind: "interacted", AgentThreadID: "t2", AgentPath: "/root/worker"},
			`{"type":"SubAgentActivity","id":"call_root_send","kind":"interacted","agent_thread_id":"t2","agent_path":"/root/worker","model":null,"reasoning_effort":null}`},
		{&CollabAgentToolCall{ID: "call_root_wait1", Tool: "wait", Status: StatusCompleted, SenderThreadID: "t1"},
			`{"type":"CollabAgentToolCall","id":"call_root_wait1","tool":"wait","status":"completed","sender_thread_id":"t1","receiver_thread_ids":[]}`},
		{&DynamicToolCall{ID: "c9", Tool: "lookup", Arguments: json.RawMessage(`{"q":1}`), Status: StatusFailed, Output: "no"},
			`{"type":"DynamicToolCall","id":"c9","tool":"lookup","arguments":{"q":1},"status":"failed","output":"no"}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.item.ItemKind()), func(t *testing.T) {
			got, err := json.Marshal(tt.item)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%T) = %s, want %s", tt.item, got, tt.want)
			}
			back, err := DecodeTurnItem(got)
			if err != nil {
				t.Fatalf("DecodeTurnItem(%s): %v", got, err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tt.want || reflect.TypeOf(back) != reflect.TypeOf(tt.item) {
				t.Errorf("DecodeTurnItem round trip = %T %s, want %T %s", back, again, tt.item, tt.want)
			}
		})
	}
}

func TestDecodeTurnItemUnknown(t *testing.T) {
	for _, in := range []string{`{"type":"Plan","id":"p"}`, `{"type":"Extension","kind":"other"}`} {
		if _, err := DecodeTurnItem([]byte(in)); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("DecodeTurnItem(%s) = %v, want ErrUnknownItem", in, err)
		}
	}
	if _, err := DecodeTurnItem([]byte(`{`)); err == nil || errors.Is(err, ErrUnknownItem) {
		t.Errorf("DecodeTurnItem({) = %v, want a syntax error", err)
	}
}

func FuzzDecodeTurnItem(f *testing.F) {
	for _, seed := range []string{
		`{"type":"UserMessage","id":"u","content":[{"type":"text","text":"hi","text_elements":[]}]}`,
		`{"type":"Extension","kind":"clock.sleep","id":"c","durationMs":150}`,
		`{"type":"CommandExecution","id":"c","command":["a"],"cwd":"/","status":"completed","exit_code":0}`,
		`{"type":"AgentMessage","content":null}`, `[]`, `{"type":7}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		item, err := DecodeTurnItem(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(item)
		if err != nil {
			t.Fatalf("Marshal(DecodeTurnItem(%q)) = %v", data, err)
		}
		again, err := DecodeTurnItem(out)
		if err != nil || again.ItemKind() != item.ItemKind() || again.ItemID() != item.ItemID() {
			t.Fatalf("round trip of %q: %v %v", data, again, err)
		}
	})
}
