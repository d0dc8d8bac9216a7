package openaimodel

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/troupe-run/troupe/agent"
)

func readAll(r *sseReader) ([]sseEvent, error) {
	var evs []sseEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sseEvent
	}{
		{"named", "event: a\ndata: {\"x\":1}\n\n", []sseEvent{{"a", []byte(`{"x":1}`)}}},
		{"data only", "data: 1\n\ndata: 2\n\n", []sseEvent{{"", []byte("1")}, {"", []byte("2")}}},
		{"crlf", "event: a\r\ndata: x\r\n\r\n", []sseEvent{{"a", []byte("x")}}},
		{"cr", "data: x\r\rdata: y\r\r", []sseEvent{{"", []byte("x")}, {"", []byte("y")}}},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []sseEvent{{"", []byte("a\nb\n")}}},
		{"no space", "data:x\n\n", []sseEvent{{"", []byte("x")}}},
		{"two spaces keep one", "data:  x\n\n", []sseEvent{{"", []byte(" x")}}},
		{"comments and ids", ": ping\nid: 7\nretry: 10\nfoo: bar\ndata: x\n\n", []sseEvent{{"", []byte("x")}}},
		{"name without data is dropped", "event: a\n\ndata: x\n\n", []sseEvent{{"", []byte("x")}}},
		{"unterminated last event", "data: x\n\ndata: y", []sseEvent{{"", []byte("x")}, {"", []byte("y")}}},
		{"field without colon", "data\n\n", []sseEvent{{"", []byte("")}}},
		{"empty", "", nil},
		{"blank lines only", "\n\n\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := readAll(newSSEReader(r, 0))
				if err != nil {
					t.Fatalf("read error = %v", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("events = %q, want %q", got, tt.want)
				}
				for i := range got {
					if got[i].Name != tt.want[i].Name || !bytes.Equal(got[i].Data, tt.want[i].Data) {
						t.Errorf("event %d = %q, want %q", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestSSEReaderLimit(t *testing.T) {
	for _, in := range []string{
		"data: " + strings.Repeat("x", 100) + "\n\n",                    // one long line
		strings.Repeat("data: "+strings.Repeat("x", 30)+"\n", 5) + "\n", // many short lines
	} {
		_, err := readAll(newSSEReader(strings.NewReader(in), 64))
		if !errors.Is(err, errEventTooLarge) {
			t.Errorf("read of %d bytes with limit 64: error = %v, want errEventTooLarge", len(in), err)
		}
	}
}

func TestSSEReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := readAll(newSSEReader(io.MultiReader(strings.NewReader("data: x\n\ndata: y\n"), iotest.ErrReader(boom)), 0))
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
}

// encodeSSE writes events back in the wire form.
func encodeSSE(evs []sseEvent) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		if ev.Name != "" {
			b.WriteString("event: " + ev.Name + "\n")
		}
		for line := range strings.SplitSeq(string(ev.Data), "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// FuzzSSEReader checks that any input decodes without panic into events
// within the size limit, and that the events, written back, decode to
// themselves.
func FuzzSSEReader(f *testing.F) {
	for _, seed := range []string{
		"event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
		"data: a\r\ndata: b\r\n\r\n: c\n\nevent:x\ndata\n\n",
		"data: [DONE]\n\n",
		"data: {\"x\":\"\\r\"}\rdata: y",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 12
		evs, err := readAll(newSSEReader(bytes.NewReader(in), max))
		if err != nil && !errors.Is(err, errEventTooLarge) {
			t.Fatalf("read error = %v, want nil or errEventTooLarge", err)
		}
		for _, ev := range evs {
			if len(ev.Data)+len(ev.Name) > max+1 || bytes.ContainsAny(ev.Data, "\r") || strings.ContainsAny(ev.Name, "\r\n") {
				t.Fatalf("bad event %q", ev)
			}
		}
		if err != nil {
			return
		}
		again, err := readAll(newSSEReader(bytes.NewReader(encodeSSE(evs)), 1<<20))
		if err != nil || len(again) != len(evs) {
			t.Fatalf("re-read = %q, %v, want %q", again, err, evs)
		}
		for i := range evs {
			if again[i].Name != evs[i].Name || !bytes.Equal(again[i].Data, evs[i].Data) {
				t.Fatalf("re-read event %d = %q, want %q", i, again[i], evs[i])
			}
		}
	})
}

// FuzzResponsesEvent feeds arbitrary event data to the Responses event
// decoder: it must not panic, and every error it returns must be a
// classified *agent.ModelError.
func FuzzResponsesEvent(f *testing.F) {
	for _, seed := range []string{
		`{"type":"response.output_item.done","item":{"type":"reasoning","id":"rs","summary":[],"encrypted_content":"x"}}`,
		`{"type":"response.output_text.delta","item_id":"m","delta":"hi"}`,
		`{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":1,"input_tokens_details":{"cached_tokens":0},"output_tokens":1,"total_tokens":2},"end_turn":true}}`,
		`{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","message":"try again in 1s"}}}`,
		`{"type":"error","code":429,"message":"x"}`,
		`{"type":"response.output_item.added","item":{"type":"function_call","call_id":"c","output":[1]}}`,
		`[DONE]`,
		`{`,
	} {
		f.Add("", []byte(seed))
	}
	m := &Responses{s: &settings{log: slog.New(slog.DiscardHandler)}}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		out, done, err := m.decodeEvent(sseEvent{Name: name, Data: data})
		if err != nil {
			var me *agent.ModelError
			if !errors.As(err, &me) || me.Class == nil {
				t.Fatalf("decodeEvent error = %v (%T), want a classified *agent.ModelError", err, err)
			}
			if done || out.Kind != 0 {
				t.Fatalf("decodeEvent = %+v, %v with error %v", out, done, err)
			}
			return
		}
		if done != (out.Kind == agent.StreamCompleted) {
			t.Fatalf("done = %v for kind %v", done, out.Kind)
		}
		if (out.Kind == agent.StreamItemAdded || out.Kind == agent.StreamItemDone) && (out.Item == nil || out.Item.Type == "") {
			t.Fatalf("item event without an item: %+v", out)
		}
	})
}

// FuzzChatChunks feeds arbitrary chunk data to the chat decoder and
// assembler: no panic, errors classified, and a finished stream's events
// well formed.
func FuzzChatChunks(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"r","content":"x","tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]}}]}`),
		[]byte(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}},{"id":"b"}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"reasoning":"x"}}]}`), []byte(`{"choices":[{"index":0,"finish_reason":"length"}]}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var asm chatAssembler
		for _, raw := range [][]byte{a, b} {
			chunk, err := decodeChunk(raw)
			if err != nil {
				if !errors.Is(err, ErrMalformedEvent) {
					t.Fatalf("decodeChunk error = %v, want ErrMalformedEvent", err)
				}
				continue
			}
			for _, ev := range asm.add(chunk) {
				if (ev.Kind == agent.StreamItemAdded || ev.Kind == agent.StreamItemDone) && ev.Item == nil {
					t.Fatalf("item event without item: %+v", ev)
				}
			}
		}
		evs, err := asm.finish()
		if err != nil {
			var me *agent.ModelError
			if !errors.As(err, &me) {
				t.Fatalf("finish error = %v, want a *agent.ModelError", err)
			}
			return
		}
		if len(evs) == 0 || evs[len(evs)-1].Kind != agent.StreamCompleted {
			t.Fatalf("finish events = %v, want completed last", kinds(evs))
		}
		for _, ev := range evs[:len(evs)-1] {
			if ev.Kind != agent.StreamItemDone || ev.Item == nil {
				t.Fatalf("finish event %+v, want done items", ev)
			}
			if ev.Item.Type == "function_call" && (ev.Item.CallID == "" || ev.Item.Arguments == "") {
				t.Fatalf("call without id or arguments: %+v", ev.Item)
			}
		}
	})
}
