package openaimodel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// benchStream is a long answer: 2000 text deltas, then a done message
// and completion, as OpenAI frames them.
func benchStream() []byte {
	var sb strings.Builder
	sb.WriteString(sseEvents(`{"type":"response.output_item.added","item":{"type":"message","role":"assistant","id":"msg_1","content":[]}}`))
	for i := range 2000 {
		sb.WriteString(sseEvents(fmt.Sprintf(`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"word%d "}`, i, i)))
	}
	sb.WriteString(sseEvents(`{"type":"response.output_item.done","item":{"type":"message","role":"assistant","id":"msg_1","content":[{"type":"output_text","text":"..."}]}}`,
		`{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":1,"output_tokens":2000,"total_tokens":2001}}}`))
	return []byte(sb.String())
}

// BenchmarkSSE compares the adapter's decoding of a stream (SSE framing,
// event JSON, mapping to stream events) with a baseline that only splits
// the same bytes into lines with bufio.Scanner and unmarshals each data
// line into a map.
func BenchmarkSSE(b *testing.B) {
	data := benchStream()
	m := &Responses{s: &settings{log: slog.New(slog.DiscardHandler)}}
	b.Run("baseline=scanner+map", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 64<<10), DefaultMaxEventBytes)
			for sc.Scan() {
				if d, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: ")); ok {
					var v map[string]any
					if err := json.Unmarshal(d, &v); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
	b.Run("adapter", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r := newSSEReader(bytes.NewReader(data), 0)
			for {
				ev, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := m.decodeEvent(ev); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkRequestBody compares building a Responses request body from a
// 54 kB Codex history (with passthrough stripping) with a baseline that
// only marshals the same items.
func BenchmarkRequestBody(b *testing.B) {
	raw, err := readFixture("codex_input_multiagent.json")
	if err != nil {
		b.Fatal(err)
	}
	var items []rollout.ResponseItem
	if err := json.Unmarshal(raw, &items); err != nil {
		b.Fatal(err)
	}
	for i := range items {
		items[i].Passthrough = &rollout.Passthrough{TurnID: "t"}
	}
	m := &Responses{s: &settings{model: "m", log: slog.New(slog.DiscardHandler)}}
	req := &agent.Request{Instructions: "x", Input: items}
	b.Run("baseline=json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(items); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("adapter", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.requestBody(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
