package rollout

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock returns times one millisecond apart.
func fakeClock() func() time.Time {
	t := time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}

func testMeta(id ThreadID, mode HistoryMode) *SessionMeta {
	return &SessionMeta{ID: id, SessionID: id, Timestamp: "2025-01-03T12:00:00.000Z", Cwd: "/w", Originator: "troupe", CLIVersion: "0", Source: []byte(`"exec"`), HistoryMode: mode}
}

func mustEvent(t testing.TB, p EventPayload) *EventMsg {
	t.Helper()
	e, err := NewEvent(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRecorderLazyCreateAndOrdinals(t *testing.T) {
	for _, mode := range []HistoryMode{HistoryModePaginated, HistoryModeLegacy} {
		t.Run(string(mode), func(t *testing.T) {
			home := t.TempDir()
			id := ThreadID("0194a1b2-0000-7000-8000-00000000000a")
			path := SessionPath(home, time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC), id)
			r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, mode), Clock: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("file exists after an empty Flush: %v", err)
			}
			if err := r.Append(NewMessage(RoleUser, "one"), NewMessage(RoleAssistant, "two")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("file exists before Flush (group commit): %v", err)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Append(&WorldState{Full: true, State: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
			if err := r.Append(NewMessage(RoleUser, "late")); !errors.Is(err, ErrClosed) {
				t.Errorf("Append after Close = %v, want ErrClosed", err)
			}
			items, errs := readAll(t, path, ReadOptions{})
			if len(errs) != 0 || len(items) != 4 {
				t.Fatalf("read back %d items, %v; want 4", len(items), errs)
			}
			if _, ok := items[0].Payload.(*SessionMeta); !ok {
				t.Fatalf("first line is %s, want session_meta", items[0].Kind())
			}
			for i, it := range items {
				if mode == HistoryModePaginated && (it.Ordinal == nil || *it.Ordinal != uint64(i)) {
					t.Errorf("item %d ordinal = %v, want %d", i, it.Ordinal, i)
				}
				if mode == HistoryModeLegacy && bytes.Contains(it.Raw(), []byte(`"ordinal"`)) {
					t.Errorf("legacy line has an ordinal: %s", it.Raw())
				}
				if want := time.Date(2025, 1, 3, 12, 0, 0, int(time.Millisecond), time.UTC); i < 3 && !it.Timestamp.Equal(want) {
					t.Errorf("item %d timestamp = %v, want %v (injected clock)", i, it.Timestamp, want)
				}
			}
			if got := items[2].Payload.(*ResponseItem).Text(); got != "two" {
				t.Errorf("item 2 text = %q", got)
			}
			st, _ := os.Stat(path)
			if st.Mode().Perm() != 0o600 {
				t.Errorf("file mode = %v, want 0600", st.Mode().Perm())
			}
			// A second NewRecorder for the same path refuses.
			if _, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, mode)}); err == nil {
				t.Error("NewRecorder over an existing rollout = nil error")
			}
		})
	}
}

func TestRecorderPersistencePolicy(t *testing.T) {
	userEv := mustEvent(t, UserMessage{Message: "hi"})
	userItem := mustEvent(t, ItemCompleted{TurnID: "t", Item: []byte(`{"type":"UserMessage","id":"u1"}`)})
	sleepItem := mustEvent(t, ItemCompleted{TurnID: "t", Item: []byte(`{"type":"Extension","kind":"clock.sleep","id":"s1"}`)})
	started := mustEvent(t, TurnStarted{TurnID: "t"})
	transient := &EventMsg{Type: "exec_command_begin", Raw: []byte(`{"type":"exec_command_begin"}`)}
	trigger := &ResponseItem{Type: ItemCompactionTrigger}
	all := []Payload{userEv, userItem, sleepItem, started, transient, trigger, NewMessage(RoleUser, "x")}
	tests := []struct {
		mode HistoryMode
		want []bool
	}{
		{HistoryModeLegacy, []bool{true, false, true, true, false, false, true}},
		{HistoryModePaginated, []bool{false, true, true, true, false, false, true}},
		{"future", []bool{false, false, false, false, false, false, false}},
	}
	for _, tt := range tests {
		for i, p := range all {
			if got := ShouldPersist(p, tt.mode); got != tt.want[i] {
				t.Errorf("ShouldPersist(%d, %s) = %v, want %v", i, tt.mode, got, tt.want[i])
			}
		}
	}
	home := t.TempDir()
	id := ThreadID("0194a1b2-0000-7000-8000-00000000000b")
	path := filepath.Join(home, FileName(time.Now(), id))
	if _, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, "future")}); !errors.Is(err, ErrUnsupportedHistoryMode) {
		t.Errorf("NewRecorder(future mode) = %v, want ErrUnsupportedHistoryMode", err)
	}
	obs := &countObserver{}
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Append(transient, trigger); err != nil {
		t.Fatal(err)
	}
	if obs.dropped["event_msg/exec_command_begin"] == 0 || obs.dropped["response_item/compaction_trigger"] == 0 || len(obs.kept) != 0 {
		t.Errorf("observer saw kept %v dropped %v", obs.kept, obs.dropped)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("only dropped items appended, yet the file exists (%v)", err)
	}
	r, err = NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Append(NewMessage(RoleUser, "kept")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	lines := fileLines(t, path)
	if got, want := obs.kept["response_item/message"], len(lines[1])+1; got != want {
		t.Errorf("observer kept bytes = %d, want %d (the line)", got, want)
	}
}

// writeLines writes a rollout made of lines (each followed by a newline)
// and an optional unterminated tail.
func writeLines(t *testing.T, path string, lines []string, tail string) []byte {
	t.Helper()
	data := []byte(strings.Join(lines, "\n") + "\n" + tail)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func paginatedLine(ord uint64, text string) string {
	return `{"timestamp":"2025-01-03T12:00:01.000Z","ordinal":` + strconv.FormatUint(ord, 10) + `,"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"` + text + `"}]}}`
}

func metaLine(id ThreadID, mode string, extra string) string {
	return `{"timestamp":"2025-01-03T12:00:00.000Z","ordinal":0,"type":"session_meta","payload":{"id":"` + string(id) + `","timestamp":"2025-01-03T12:00:00.000Z","cwd":"/w","originator":"o","cli_version":"0","source":"exec","history_mode":"` + mode + `"` + extra + `}}`
}

func TestResumeRecorderTail(t *testing.T) {
	id := ThreadID("0194a1b2-0000-7000-8000-000000000002")
	tests := []struct {
		name     string
		lines    []string
		tail     string
		wantNext uint64
		keep     int // bytes of the original that must survive unchanged
		newline  bool
	}{
		{"gap in ordinals", []string{metaLine(id, "paginated", ""), paginatedLine(4, "a")}, "", 5, -1, false},
		{"valid unterminated tail", []string{metaLine(id, "paginated", ""), paginatedLine(4, "a")}, paginatedLine(5, "b"), 6, -1, true},
		{"invalid unterminated tail", []string{metaLine(id, "paginated", ""), paginatedLine(4, "a")}, paginatedLine(5, "b")[:40], 5, 0, false},
		{"malformed middle line", []string{metaLine(id, "paginated", ""), "garbage", paginatedLine(7, "a"), "more garbage"}, "", 8, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
			orig := writeLines(t, path, tt.lines, tt.tail)
			r, err := ResumeRecorder(RecorderConfig{Path: path, Clock: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			if next, ok := r.NextOrdinal(); !ok || next != tt.wantNext {
				t.Errorf("NextOrdinal = %d %v, want %d", next, ok, tt.wantNext)
			}
			if err := r.Append(NewMessage(RoleUser, "new")); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			prefix := orig
			if tt.tail != "" && !tt.newline {
				prefix = orig[:len(orig)-len(tt.tail)]
			}
			if tt.newline {
				prefix = append(append([]byte(nil), orig...), '\n')
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("complete lines were not kept:\n got %q\nwant prefix %q", got, prefix)
			}
			last, err := ParseLine(bytes.TrimRight(got[len(prefix):], "\n"))
			if err != nil || last.Ordinal == nil || *last.Ordinal != tt.wantNext {
				t.Errorf("appended line = %s (%v), want ordinal %d", got[len(prefix):], err, tt.wantNext)
			}
		})
	}
}

func TestResumeRecorderRefusals(t *testing.T) {
	id := ThreadID("0194a1b2-0000-7000-8000-000000000003")
	tests := []struct {
		name    string
		lines   []string
		wantErr error
		wantMsg string
	}{
		{"unknown history mode", []string{metaLine(id, "future", ""), paginatedLine(1, "a")}, ErrUnsupportedHistoryMode, ""},
		{"ordinal overflow", []string{metaLine(id, "paginated", ""), paginatedLine(math.MaxUint64, "a")}, nil, "overflow"},
		{"incomplete sub-agent prefix", []string{metaLine(id, "paginated", `,"subagent_history_start_ordinal":3`), paginatedLine(1, "a")}, nil, "incomplete"},
		{"no ordinal on last record", []string{metaLine(id, "paginated", ""), `{"timestamp":"2025-01-03T12:00:01.000Z","type":"world_state","payload":{"full":true,"state":{}}}`}, nil, "no ordinal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
			orig := writeLines(t, path, tt.lines, "")
			r, err := ResumeRecorder(RecorderConfig{Path: path})
			if err == nil {
				err = r.Append(NewMessage(RoleUser, "x"))
				if err == nil {
					err = r.Flush(context.Background())
				}
				r.Close()
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("resume+append = %v, want %v / %q", err, tt.wantErr, tt.wantMsg)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) {
				t.Errorf("file changed:\n got %q\nwant %q", got, orig)
			}
			if _, err := ReadMeta(path); err != nil {
				t.Errorf("ReadMeta after refusal = %v; metadata reads must work", err)
			}
		})
	}
}

func TestRecorderLock(t *testing.T) {
	id := ThreadID("0194a1b2-0000-7000-8000-000000000004")
	path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
	r1, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModeLegacy)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Append(NewMessage(RoleUser, "a")); err != nil {
		t.Fatal(err)
	}
	if err := r1.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeRecorder(RecorderConfig{Path: path}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second recorder = %v, want ErrLocked", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := ResumeRecorder(RecorderConfig{Path: path})
	if err != nil {
		t.Fatalf("resume after Close = %v", err)
	}
	if err := r2.Append(NewMessage(RoleUser, "b")); err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	items, errs := readAll(t, path, ReadOptions{})
	if len(items) != 3 || len(errs) != 0 {
		t.Errorf("read back %d items %v, want 3", len(items), errs)
	}
}

func TestRecorderGroupCommitAndRetry(t *testing.T) {
	home := t.TempDir()
	id := ThreadID("0194a1b2-0000-7000-8000-000000000005")
	path := SessionPath(home, time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC), id)
	// Block the sessions directory with a regular file: writes fail.
	if err := os.WriteFile(filepath.Join(home, SessionsDir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated), BufferSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Append(NewMessage(RoleUser, "kept")); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("Flush with a blocked sessions dir = nil error")
	}
	if err := os.Remove(filepath.Join(home, SessionsDir)); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after unblocking = %v", err)
	}
	// Past the threshold, appends reach the file without Flush.
	st0, _ := os.Stat(path)
	for range 20 {
		if err := r.Append(NewMessage(RoleUser, strings.Repeat("z", 100))); err != nil {
			t.Fatal(err)
		}
	}
	st1, _ := os.Stat(path)
	if st1.Size() <= st0.Size() {
		t.Errorf("size %d -> %d: group commit did not write past the threshold", st0.Size(), st1.Size())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	items, errs := readAll(t, path, ReadOptions{})
	if len(items) != 22 || len(errs) != 0 || items[1].Payload.(*ResponseItem).Text() != "kept" {
		t.Errorf("read back %d items %v, want 22 with the buffered one kept", len(items), errs)
	}
}

func TestResumeRecorderMaterializesZstd(t *testing.T) {
	dir := t.TempDir()
	id := ThreadID("0194a1b2-0000-7000-8000-000000000001")
	plain := filepath.Join(dir, filepath.Base(legacyFixture))
	data, err := os.ReadFile(legacyFixture)
	if err != nil {
		t.Fatal(err)
	}
	writeZstd(t, plain+ZstdExt, data)
	r, err := ResumeRecorder(RecorderConfig{Path: plain + ZstdExt})
	if err != nil {
		t.Fatal(err)
	}
	if r.Path() != plain || r.Meta().ID != id || r.Mode() != HistoryModeLegacy {
		t.Errorf("recorder path %q meta %s mode %s", r.Path(), r.Meta().ID, r.Mode())
	}
	if _, err := os.Stat(plain + ZstdExt); !os.IsNotExist(err) {
		t.Errorf(".zst still present after materialize: %v", err)
	}
	if err := r.Append(NewMessage(RoleUser, "after")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(plain)
	if !bytes.HasPrefix(got, data) {
		t.Error("materialized file does not start with the original bytes")
	}
	st, _ := os.Stat(plain)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("materialized mode = %v, want the .zst's 0640", st.Mode().Perm())
	}
}

func TestAppendItemsCopiesRaw(t *testing.T) {
	src := "testdata/corpus/multiagent/sessions/2026/11/25/rollout-2026-11-25T05-38-40-01a21136-9763-7800-b22b-e3b009215564.jsonl"
	items, _ := readAll(t, src, ReadOptions{})
	id := ThreadID("0194a1b2-0000-7000-8000-000000000006")
	path := filepath.Join(t.TempDir(), FileName(time.Now(), id))
	r, err := NewRecorder(RecorderConfig{Path: path, Meta: testMeta(id, HistoryModePaginated)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AppendItems(items[1:]...); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, path, ReadOptions{})
	if len(got) != len(items) {
		t.Fatalf("copied %d items, want %d", len(got), len(items))
	}
	for i := 1; i < len(items); i++ {
		// Same bytes apart from the ordinal.
		want := items[i].Raw()
		g := got[i].Raw()
		if *got[i].Ordinal != uint64(i) {
			t.Errorf("copy %d ordinal = %d", i, *got[i].Ordinal)
		}
		strip := func(b []byte) string {
			s := string(b)
			a := strings.Index(s, `"ordinal":`)
			e := strings.Index(s, `,"type"`)
			return s[:a] + s[e:]
		}
		if strip(g) != strip(want) {
			t.Errorf("copy %d differs beyond the ordinal:\n got %s\nwant %s", i, g, want)
		}
	}
}

type countObserver struct{ kept, dropped map[string]int }

func (o *countObserver) ObservePersist(kind Kind, typ string, n int, kept bool) {
	if o.kept == nil {
		o.kept, o.dropped = map[string]int{}, map[string]int{}
	}
	m := o.dropped
	if kept {
		m = o.kept
	}
	m[string(kind)+"/"+typ] += n
}
