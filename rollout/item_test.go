package rollout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// corpusFiles lists the Codex 0.169 rollouts copied into testdata/corpus.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("testdata/corpus", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d corpus rollouts, want at least 8", len(files))
	}
	return files
}

// fileLines returns the non-empty lines of a file.
func fileLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for l := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// jsonValue decodes b generically, for semantic comparison.
func jsonValue(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestCorpusLinesRoundTrip(t *testing.T) {
	kinds := map[Kind]int{}
	for _, f := range corpusFiles(t) {
		for i, line := range fileLines(t, f) {
			it, err := ParseLine(line)
			if err != nil {
				t.Fatalf("%s:%d: ParseLine = %v", f, i+1, err)
			}
			kinds[it.Kind()]++
			if _, unknown := it.Payload.(*Unknown); unknown {
				t.Errorf("%s:%d: kind %q decoded as *Unknown, want a typed payload", f, i+1, it.Kind())
			}
			if !bytes.Equal(it.Raw(), line) {
				t.Errorf("%s:%d: Raw() differs from the line", f, i+1)
			}
			enc, err := MarshalLine(it)
			if err != nil {
				t.Fatalf("%s:%d: MarshalLine = %v", f, i+1, err)
			}
			// Every member survives: the re-encoded line means the same JSON.
			if got, want := jsonValue(t, enc), jsonValue(t, line); !reflect.DeepEqual(got, want) {
				t.Errorf("%s:%d: re-encoded line differs\n got %s\nwant %s", f, i+1, enc, line)
			}
			again, err := ParseLine(enc)
			if err != nil {
				t.Fatalf("%s:%d: ParseLine(MarshalLine) = %v", f, i+1, err)
			}
			if !reflect.DeepEqual(again.WithoutRaw(), it.WithoutRaw()) {
				t.Errorf("%s:%d: ParseLine(MarshalLine(x)) = %+v, want %+v", f, i+1, again, it)
			}
		}
	}
	for _, k := range []Kind{KindSessionMeta, KindResponseItem, KindEventMsg, KindTurnContext, KindCompacted, KindWorldState, KindInterAgentMetadata, KindTokenUsageRecord} {
		if kinds[k] == 0 {
			t.Errorf("corpus has no %s line; the test would not cover it", k)
		}
	}
}

func TestCorpusTypedFields(t *testing.T) {
	var sawSpawn, sawAgentMsg, sawCompaction, sawItemCompleted bool
	for _, f := range corpusFiles(t) {
		for i, line := range fileLines(t, f) {
			it, err := ParseLine(line)
			if err != nil {
				t.Fatal(err)
			}
			switch p := it.Payload.(type) {
			case *SessionMeta:
				if !p.ID.Valid() || !p.SessionID.Valid() {
					t.Errorf("%s:%d: session ids %q / %q not canonical", f, i+1, p.ID, p.SessionID)
				}
				if !p.Mode().Known() || p.ContextWindow == nil || p.ContextWindow.WindowID == "" {
					t.Errorf("%s:%d: SessionMeta mode %q window %+v", f, i+1, p.HistoryMode, p.ContextWindow)
				}
				if sp, ok := p.SubagentSpawn(); ok {
					sawSpawn = true
					if sp.ParentThreadID != p.ParentThreadID || sp.Depth < 1 || sp.AgentPath != p.AgentPath {
						t.Errorf("%s:%d: SubagentSpawn = %+v, meta parent %q path %q", f, i+1, sp, p.ParentThreadID, p.AgentPath)
					}
					if p.SourceName() != "subagent" {
						t.Errorf("SourceName() = %q, want subagent", p.SourceName())
					}
				}
			case *ResponseItem:
				if p.Type == ItemAgentMessage {
					sawAgentMsg = true
					if p.Author == "" || p.Recipient == "" || len(p.Content) == 0 {
						t.Errorf("%s:%d: agent_message = %+v", f, i+1, p)
					}
				}
				if p.Type == ItemFunctionCall && (p.CallID == "" || p.Name == "") {
					t.Errorf("%s:%d: function_call = %+v", f, i+1, p)
				}
				if p.Type == ItemFunctionCallOutput && (p.TurnID() == "" || p.CallID == "") {
					t.Errorf("%s:%d: function_call_output = %+v", f, i+1, p)
				}
			case *Compacted:
				sawCompaction = true
				if p.Message == "" || p.ReplacementHistory == nil {
					t.Errorf("%s:%d: compacted = %+v", f, i+1, p)
				}
			case *EventMsg:
				if p.Is(EventItemCompleted) {
					var ic ItemCompleted
					if err := p.Decode(&ic); err != nil {
						t.Fatal(err)
					}
					typ, id, _ := ic.ItemHeader()
					if typ == "" || id == "" || ic.TurnID == "" {
						t.Errorf("%s:%d: item_completed header %q %q turn %q", f, i+1, typ, id, ic.TurnID)
					}
					sawItemCompleted = true
				}
				if p.Is(EventTurnStarted) && p.TurnID == "" {
					t.Errorf("%s:%d: task_started without turn id", f, i+1)
				}
			}
		}
	}
	if !sawSpawn || !sawAgentMsg || !sawCompaction || !sawItemCompleted {
		t.Errorf("corpus coverage: spawn %v agent_message %v compaction %v item_completed %v", sawSpawn, sawAgentMsg, sawCompaction, sawItemCompleted)
	}
}

func TestParseLineVariants(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		check func(t *testing.T, it Item)
	}{
		{
			name: "unknown kind kept verbatim",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"future_kind","payload":{"b":1,"a":[true]}}`,
			check: func(t *testing.T, it Item) {
				u, ok := it.Payload.(*Unknown)
				if !ok || u.Type != "future_kind" || string(u.Raw) != `{"b":1,"a":[true]}` {
					t.Errorf("Payload = %#v, want Unknown future_kind", it.Payload)
				}
			},
		},
		{
			name: "unknown response item type and fields survive",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"response_item","payload":{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"go"},"zeta":null}}`,
			check: func(t *testing.T, it Item) {
				r := it.Payload.(*ResponseItem)
				if r.Type != ItemWebSearchCall || r.Status != "completed" || !extraIs(r.Extra, "action", `{"type":"search","query":"go"}`) || !extraIs(r.Extra, "zeta", "null") {
					t.Errorf("ResponseItem = %+v", r)
				}
			},
		},
		{
			name: "legacy numeric window_id is the window number",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"compacted","payload":{"message":"sum","window_id":3}}`,
			check: func(t *testing.T, it Item) {
				c := it.Payload.(*Compacted)
				if c.WindowNumber == nil || *c.WindowNumber != 3 || c.WindowID != "" || c.ReplacementHistory != nil {
					t.Errorf("Compacted = %+v, want window number 3, no replacement history", c)
				}
			},
		},
		{
			name: "string window_id and empty replacement history",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"compacted","payload":{"message":"","replacement_history":[],"window_number":2,"window_id":"w2"}}`,
			check: func(t *testing.T, it Item) {
				c := it.Payload.(*Compacted)
				if c.WindowNumber == nil || *c.WindowNumber != 2 || c.WindowID != "w2" || c.ReplacementHistory == nil || len(c.ReplacementHistory) != 0 {
					t.Errorf("Compacted = %+v", c)
				}
			},
		},
		{
			name: "missing session_id reads as id, agent_type as agent_role",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"session_meta","payload":{"id":"0194a1b2-0000-7000-8000-000000000001","timestamp":"2025-01-03T12:00:00.000Z","cwd":"/w","originator":"o","cli_version":"0.1","source":"cli","agent_type":"explorer","git":{"branch":"main"}}}`,
			check: func(t *testing.T, it Item) {
				m := it.Payload.(*SessionMeta)
				if m.SessionID != m.ID || m.AgentRole != "explorer" || m.Git == nil || m.Git.Branch != "main" || m.Mode() != HistoryModeLegacy || m.SourceName() != "cli" {
					t.Errorf("SessionMeta = %+v", m)
				}
			},
		},
		{
			name: "function output as content parts",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c1","output":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:x","detail":"high"}]}}`,
			check: func(t *testing.T, it Item) {
				r := it.Payload.(*ResponseItem)
				if len(r.Output.Parts) != 2 || r.Output.Parts[1].ImageURL != "data:x" || r.Output.String() != "a" {
					t.Errorf("Output = %+v", r.Output)
				}
			},
		},
		{
			name: "legacy inter_agent_communication",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","type":"inter_agent_communication","payload":{"author":"/root","recipient":"/root/w","other_recipients":[],"content":"","encrypted_content":"SEALED","trigger_turn":true}}`,
			check: func(t *testing.T, it Item) {
				c := it.Payload.(*InterAgentCommunication)
				am := c.AgentMessage()
				if am.Type != ItemAgentMessage || am.Author != "/root" || len(am.Content) != 2 || am.Content[1].EncryptedContent != "SEALED" || !strings.HasPrefix(am.Content[0].Text, "Message Type: NEW_TASK\nTask name: /root/w\nSender: /root\n") {
					t.Errorf("AgentMessage() = %+v", am)
				}
			},
		},
		{
			name: "metadata and ordinal kept",
			line: `{"timestamp":"2025-01-03T12:00:00.123Z","ordinal":0,"type":"world_state","payload":{"full":false,"state":{"a":1}},"metadata":{"k":"v"}}`,
			check: func(t *testing.T, it Item) {
				w := it.Payload.(*WorldState)
				if it.Ordinal == nil || *it.Ordinal != 0 || string(it.Metadata) != `{"k":"v"}` || w.Full || string(w.State) != `{"a":1}` {
					t.Errorf("Item = %+v", it)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := ParseLine([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseLine = %v", err)
			}
			if want := time.Date(2025, 1, 3, 12, 0, 0, 123e6, time.UTC); !it.Timestamp.Equal(want) {
				t.Errorf("Timestamp = %v, want %v", it.Timestamp, want)
			}
			tt.check(t, it)
			enc, err := MarshalLine(it)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseLine(enc)
			if err != nil {
				t.Fatalf("ParseLine(%s) = %v", enc, err)
			}
			if !reflect.DeepEqual(again.WithoutRaw(), it.WithoutRaw()) {
				t.Errorf("round trip:\n got %+v\nwant %+v\n line %s", again, it, enc)
			}
			tt.check(t, again)
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, line := range []string{
		``,
		`not json`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","type":"event_msg","payload":{"type":"x"`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","payload":{}}`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","type":"event_msg"}`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","type":"event_msg","payload":{}}`,
		`{"timestamp":"yesterday","type":"world_state","payload":{}}`,
		`{"type":"world_state","payload":{}}`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","type":"compacted","payload":{"message":"m","window_id":-1}}`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","type":"response_item","payload":{"type":"message","content":"x"}}`,
		`{"timestamp":"2025-01-03T12:00:00.123Z","ordinal":-1,"type":"world_state","payload":{}}`,
	} {
		_, err := ParseLine([]byte(line))
		if !errors.Is(err, ErrMalformedLine) {
			t.Errorf("ParseLine(%q) = %v, want ErrMalformedLine", line, err)
		}
	}
}

func TestMarshalLineFormat(t *testing.T) {
	ord := uint64(7)
	ts := time.Date(2025, 1, 3, 13, 0, 0, 123456789, time.FixedZone("x", 3600))
	got, err := MarshalLine(Item{Timestamp: ts, Ordinal: &ord, Payload: NewMessage(RoleUser, "<hi> & bye")})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2025-01-03T12:00:00.123Z","ordinal":7,"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"<hi> & bye"}]}}`
	if string(got) != want {
		t.Errorf("MarshalLine = %s\nwant %s", got, want)
	}
	got, err = MarshalLine(Item{Timestamp: ts, Payload: &InterAgentMetadata{TriggerTurn: true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"timestamp":"2025-01-03T12:00:00.123Z","type":"inter_agent_communication_metadata","payload":{"trigger_turn":true}}`; string(got) != want {
		t.Errorf("MarshalLine = %s\nwant %s", got, want)
	}
	if _, err := MarshalLine(Item{Timestamp: ts}); err == nil {
		t.Error("MarshalLine(no payload) = nil error, want error")
	}
}

func TestNewEvent(t *testing.T) {
	msg := "done"
	e, err := NewEvent(TurnComplete{TurnID: "t1", LastAgentMessage: &msg})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"task_complete","turn_id":"t1","last_agent_message":"done"}`; string(e.Raw) != want || e.TurnID != "t1" {
		t.Errorf("NewEvent = %s (turn %q), want %s", e.Raw, e.TurnID, want)
	}
	var tc TurnComplete
	if err := e.Decode(&tc); err != nil || *tc.LastAgentMessage != "done" {
		t.Errorf("Decode = %v, %+v", err, tc)
	}
	var ta TurnAborted
	if err := e.Decode(&ta); !errors.Is(err, ErrEventType) {
		t.Errorf("Decode(TurnAborted) = %v, want ErrEventType", err)
	}
	alias := &EventMsg{}
	if err := json.Unmarshal([]byte(`{"type":"turn_started","turn_id":"t2"}`), alias); err != nil {
		t.Fatal(err)
	}
	var ts TurnStarted
	if err := alias.Decode(&ts); err != nil || ts.TurnID != "t2" {
		t.Errorf("Decode(turn_started alias) = %v, %+v", err, ts)
	}
	e, err = NewEvent(ContextCompacted{})
	if err != nil || string(e.Raw) != `{"type":"context_compacted"}` {
		t.Errorf("NewEvent(ContextCompacted) = %s, %v", e.Raw, err)
	}
}

func TestParseThreadID(t *testing.T) {
	tests := []struct {
		in   string
		want ThreadID
		ok   bool
	}{
		{"01a21136-7150-7b40-aa2d-b145aff8eca1", "01a21136-7150-7b40-aa2d-b145aff8eca1", true},
		{"01A21136-7150-7B40-AA2D-B145AFF8ECA1", "01a21136-7150-7b40-aa2d-b145aff8eca1", true},
		{"01a21136-7150-7b40-aa2d-b145aff8eca", "", false},
		{"01a21136x7150-7b40-aa2d-b145aff8eca1", "", false},
		{"01a21136-7150-7b40-aa2d-b145aff8ecag", "", false},
		{"not-a-uuid", "", false},
	}
	for _, tt := range tests {
		got, err := ParseThreadID(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseThreadID(%q) = %q, %v, want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidThreadID) {
			t.Errorf("ParseThreadID(%q) error %v does not match ErrInvalidThreadID", tt.in, err)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, p := range corpusFiles(f) {
		file, err := os.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(nil, 1<<24)
		// Small lines only: huge seeds (30 KB instructions) make the
		// coverage-guided mutator crawl.
		for n := 0; sc.Scan() && n < 12; {
			if len(sc.Bytes()) <= 2048 {
				f.Add(append([]byte(nil), sc.Bytes()...))
				n++
			}
		}
		file.Close()
	}
	f.Add([]byte(`{"timestamp":"2025-01-03T12:00:00.123Z","type":"compacted","payload":{"message":"m","window_id":3}}`))
	f.Add([]byte(`{"timestamp":"2025-01-03T12:00:00Z","type":"x","payload":{}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		it, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrMalformedLine) {
				t.Fatalf("ParseLine error %v does not match ErrMalformedLine", err)
			}
			return
		}
		enc, err := MarshalLine(it)
		if err != nil {
			t.Fatalf("MarshalLine(ParseLine(%q)) = %v", line, err)
		}
		if bytes.ContainsRune(enc, '\n') {
			t.Fatalf("MarshalLine produced a newline: %q", enc)
		}
		again, err := ParseLine(enc)
		if err != nil {
			t.Fatalf("ParseLine(MarshalLine(ParseLine(%q))) = %v (encoded %q)", line, err, enc)
		}
		enc2, err := MarshalLine(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}

func extraIs(ms Members, key, want string) bool {
	v, ok := ms.Get(key)
	return ok && string(v) == want
}

func TestMembers(t *testing.T) {
	var ms Members
	ms.Set("b", json.RawMessage("1"))
	ms.Set("a", json.RawMessage("2"))
	ms.Set("b", json.RawMessage("3"))
	if len(ms) != 2 || !extraIs(ms, "b", "3") || ms[0].Key != "b" {
		t.Errorf("Members = %v", ms)
	}
	ms.Delete("b")
	ms.Delete("a")
	if ms != nil {
		t.Errorf("Members after deleting all = %v, want nil", ms)
	}
	// Order is kept through a round trip; a set field wins over a kept
	// explicit zero.
	var r ResponseItem
	if err := json.Unmarshal([]byte(`{"type":"x","zz":1,"content":null,"aa":{"k":[1, 2]}}`), &r); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"x","zz":1,"content":null,"aa":{"k":[1,2]}}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	r.Content = []ContentPart{{Type: PartInputText, Text: "t"}}
	b, _ = json.Marshal(r)
	if want := `{"type":"x","content":[{"type":"input_text","text":"t"}],"zz":1,"aa":{"k":[1,2]}}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
}
