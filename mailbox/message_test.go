package mailbox

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Content arrays of agent_message items as Codex 0.169 wrote them
// (corpus/codex-0.169/multiagent).
const (
	codexTask   = `[{"type":"input_text","text":"Message Type: NEW_TASK\nTask name: /root/worker\nSender: /root\nPayload:\n"},{"type":"encrypted_content","encrypted_content":"WORKER TASK: compute 2+2 and report. Spawn one helper named checker to double-check."}]`
	codexFinal  = `[{"type":"input_text","text":"Message Type: FINAL_ANSWER\nTask name: /root\nSender: /root/worker\nPayload:\nWorker result: 2+2=4 (checked by checker)."}]`
	codexNotify = `[{"type":"input_text","text":"Message Type: MESSAGE\nTask name: /root/worker\nSender: /root\nPayload:\n"},{"type":"encrypted_content","encrypted_content":"FYI NOTE: root says thanks."}]`
)

func TestPartJSONMatchesCodex(t *testing.T) {
	tests := []struct {
		name  string
		codex string
		build func() ([]Part, error)
	}{
		{"new task", codexTask, func() ([]Part, error) {
			return SealedContent(Passthrough{}, KindNewTask, "/root", "/root/worker",
				"WORKER TASK: compute 2+2 and report. Spawn one helper named checker to double-check.")
		}},
		{"message", codexNotify, func() ([]Part, error) {
			return SealedContent(Passthrough{}, KindMessage, "/root", "/root/worker", "FYI NOTE: root says thanks.")
		}},
		{"final answer", codexFinal, func() ([]Part, error) {
			return PlainContent(KindFinalAnswer, "/root/worker", "/root", "Worker result: 2+2=4 (checked by checker)."), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []Part
			if err := json.Unmarshal([]byte(tt.codex), &parts); err != nil {
				t.Fatalf("Unmarshal(codex content): %v", err)
			}
			built, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(built, parts) {
				t.Errorf("built content = %+v, want Codex's %+v", built, parts)
			}
			out, err := json.Marshal(built)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.codex {
				t.Errorf("Marshal = %s, want %s", out, tt.codex)
			}
		})
	}
}

func TestPartJSON(t *testing.T) {
	good := []struct {
		in   string
		want Part
		out  string
	}{
		{`{"type":"input_text","text":""}`, Text(""), `{"type":"input_text","text":""}`},
		{`{"type":"encrypted_content","encrypted_content":""}`, Sealed(""), `{"type":"encrypted_content","encrypted_content":""}`},
		{`{"type":"input_text","text":"a","encrypted_content":"ignored","extra":1}`, Text("a"), `{"type":"input_text","text":"a"}`},
	}
	for _, tt := range good {
		var p Part
		if err := json.Unmarshal([]byte(tt.in), &p); err != nil || p != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v, want %+v", tt.in, p, err, tt.want)
			continue
		}
		out, err := json.Marshal(p)
		if err != nil || string(out) != tt.out {
			t.Errorf("Marshal(%+v) = %s, %v, want %s", p, out, err, tt.out)
		}
	}
	bad := []string{
		`{"type":"input_text"}`,
		`{"type":"encrypted_content","text":"x"}`,
		`{"type":"input_image","image_url":"x"}`,
		`{"text":"x"}`,
		`{"type":"input_text","text":3}`,
		`[]`,
		`null`,
	}
	for _, in := range bad {
		p := Text("unchanged")
		if err := json.Unmarshal([]byte(in), &p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unmarshal(%s) = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := json.Marshal(Part{Type: "input_image"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal(unknown type) = %v, want ErrInvalid", err)
	}
}

func TestMessageJSON(t *testing.T) {
	m := Message{ID: "m-1", Author: "/root", Recipient: "/root/w", Content: []Part{Text("h"), Sealed("c")},
		TriggerTurn: true, SentAt: epoch, Seq: 3}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"m-1","author":"/root","recipient":"/root/w","content":[{"type":"input_text","text":"h"},{"type":"encrypted_content","encrypted_content":"c"}],"trigger_turn":true,"sent_at":"2026-11-25T06:00:00Z","seq":3}`
	if string(data) != want {
		t.Errorf("Marshal(Message) = %s, want %s", data, want)
	}
	var back Message
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("round trip = %+v, %v, want %+v", back, err, m)
	}
}

func TestPlainText(t *testing.T) {
	tests := []struct {
		content []Part
		want    string
		ok      bool
	}{
		{nil, "", true},
		{[]Part{Text("a")}, "a", true},
		{[]Part{Text("a"), Text("b")}, "a\nb", true},
		{[]Part{Text("a"), Sealed("b")}, "", false},
	}
	for _, tt := range tests {
		got, ok := PlainText(tt.content)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PlainText(%+v) = %q, %v, want %q, %v", tt.content, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSealedContentSealError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := SealedContent(failingSealer{boom}, KindNewTask, "/root", "/root/w", "x"); !errors.Is(err, boom) {
		t.Errorf("SealedContent with a failing sealer = %v, want %v", err, boom)
	}
}

type failingSealer struct{ err error }

func (f failingSealer) Seal(string) (string, error) { return "", f.err }
func (f failingSealer) Open(string) (string, error) { return "", f.err }
