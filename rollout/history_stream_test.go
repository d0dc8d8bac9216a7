package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// checkStream checks that StreamHistory on path gives what
// ReconstructHistory gives on the items read (and the same corrupt lines).
func checkStream(t *testing.T, path string) *History {
	t.Helper()
	items, errs := readAll(t, path, ReadOptions{DropRaw: true})
	want, wantErr := ReconstructHistory(items)
	got, corrupt, err := StreamHistory(path, nil)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("StreamHistory(%s) error = %v, want %v", path, err, wantErr)
	}
	if fmt.Sprint(corrupt) != fmt.Sprint(errs) {
		t.Errorf("StreamHistory(%s) corrupt = %v, want %v", path, corrupt, errs)
	}
	if err != nil {
		return nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StreamHistory(%s) differs from ReconstructHistory:\n got %s\nwant %s", path, dumpHistory(got), dumpHistory(want))
	}
	return got
}

func dumpHistory(h *History) string {
	var b strings.Builder
	for _, s := range texts(h.Items) {
		fmt.Fprintf(&b, "item %.60q\n", s)
	}
	fmt.Fprintf(&b, "window %+v compactions %d usage %+v after %d\n", h.Window, h.Compactions, h.TokenUsage, h.ItemsAfterUsage)
	fmt.Fprintf(&b, "turn context %+v\nlast %+v\n", h.TurnContext, h.LastTurnContext)
	for _, w := range h.WorldState {
		fmt.Fprintf(&b, "world %s %s\n", w.Kind(), w.Timestamp)
	}
	return b.String()
}

func TestStreamHistoryCorpus(t *testing.T) {
	var paths []string
	for _, root := range []string{"testdata/corpus", "sqlitestore/testdata"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasPrefix(d.Name(), "rollout-") && (strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".jsonl.zst")) {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(paths) < 10 {
		t.Fatalf("found %d corpus rollouts, want at least 10", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			checkStream(t, p)
			// The same rollout compressed.
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(p, ".zst") {
				checkStream(t, writeZst(t, data))
			}
		})
	}
}

// writeZst writes data compressed to a .jsonl.zst file and returns its
// path.
func writeZst(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rollout-2025-01-01T00-00-00-0194a1b2-0000-7000-8000-000000000011.jsonl.zst")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeItems renders items as rollout lines.
func encodeItems(t *testing.T, items []Item) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, it := range items {
		line, err := MarshalLine(it)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.TrimRight(line, "\n"))
	}
	return lines
}

func TestStreamHistorySynthetic(t *testing.T) {
	meta := testMeta("0194a1b2-0000-7000-8000-000000000011", HistoryModePaginated)
	ws := func(s string) *WorldState { return &WorldState{Full: true, State: json.RawMessage(`"` + s + `"`)} }
	tc := func(id string) *TurnContext { return &TurnContext{TurnID: id, Model: "m-" + id} }
	num := func(n uint64) *uint64 { return &n }
	turn := func(id, text string, extra ...Payload) []Payload {
		ps := []Payload{ev(t, TurnStarted{TurnID: id}), NewMessage(RoleUser, text)}
		ps = append(ps, extra...)
		ps = append(ps, ws(id), tc(id))
		return append(ps, NewMessage(RoleAssistant, "re "+text), ev(t, TokenCount{Info: &TokenCountInfo{}}), ev(t, TurnComplete{TurnID: id}))
	}
	repl := func(n uint64, texts ...string) *Compacted {
		c := &Compacted{Message: "sum", WindowNumber: num(n), WindowID: fmt.Sprint("w", n)}
		for _, s := range texts {
			c.ReplacementHistory = append(c.ReplacementHistory, *NewMessage(RoleUser, s))
		}
		return c
	}
	join := func(parts ...[]Payload) []Payload {
		out := []Payload{meta}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	one := func(p ...Payload) []Payload { return p }
	cases := []struct {
		name string
		ps   []Payload
		// damage edits the lines before they are written.
		damage func(lines [][]byte) [][]byte
	}{
		{name: "no compaction", ps: join(turn("a", "one"), turn("b", "two"), turn("c", "three"))},
		{name: "rollback", ps: join(turn("a", "one"), turn("b", "two"), one(ev(t, ThreadRolledBack{NumTurns: 1})))},
		{name: "rollback across a compaction", ps: join(turn("a", "one"), turn("b", "two", repl(1, "one", SummaryPrefix+"\nsum")),
			turn("c", "three"), one(ev(t, ThreadRolledBack{NumTurns: 2})))},
		{name: "rollback across two compactions", ps: join(turn("a", "one", repl(1, "x")), turn("b", "two", repl(2, "y")),
			turn("c", "three", repl(3, "z")), one(ev(t, ThreadRolledBack{NumTurns: 2})), turn("d", "four"))},
		{name: "compaction base", ps: join(turn("a", "one"), turn("b", "two", repl(1, "one", "s")), turn("c", "three"), turn("d", "four", repl(2, "s2")), turn("e", "five"))},
		{name: "legacy compactions", ps: join(turn("a", "one"), turn("b", "two", &Compacted{Message: "s1"}), turn("c", "three"),
			turn("d", "four", &Compacted{Message: "s2"}), turn("e", "five"))},
		{name: "legacy after numbered", ps: join(turn("a", "one", repl(1, "x")), turn("b", "two", &Compacted{Message: "s1"}), turn("c", "three"))},
		{name: "legacy before base", ps: join(turn("a", "one", &Compacted{Message: "s1"}), turn("b", "two", repl(1, "x")), turn("c", "three"))},
		{name: "turn context after a compaction without user turn", ps: join(turn("a", "one"),
			one(ev(t, TurnStarted{TurnID: "k"}), repl(1, "x"), tc("k"), ev(t, TurnComplete{TurnID: "k"})), turn("b", "two"))},
		{name: "torn tail", ps: join(turn("a", "one"), turn("b", "two")), damage: func(l [][]byte) [][]byte {
			last := l[len(l)-1]
			return append(l[:len(l)-1], last[:len(last)/2])
		}},
		{name: "corrupt middle line", ps: join(turn("a", "one"), turn("b", "two", repl(1, "x")), turn("c", "three")), damage: func(l [][]byte) [][]byte {
			l[5] = []byte(`{"timestamp":"2025-01-01T00:00:05Z","type":"response_item","payload":{`)
			return l
		}},
		{name: "blank lines", ps: join(turn("a", "one")), damage: func(l [][]byte) [][]byte {
			return append(l[:2], append([][]byte{[]byte("  ")}, l[2:]...)...)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := encodeItems(t, synth(tc.ps...))
			torn := tc.damage != nil && strings.HasPrefix(tc.name, "torn")
			if tc.damage != nil {
				lines = tc.damage(lines)
			}
			data := bytes.Join(lines, []byte("\n"))
			if !torn {
				data = append(data, '\n')
			}
			p := filepath.Join(t.TempDir(), "rollout-2025-01-01T00-00-00-0194a1b2-0000-7000-8000-000000000011.jsonl")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			h := checkStream(t, p)
			if h == nil {
				t.Fatal("no history")
			}
			checkStream(t, writeZst(t, data))
			if tc.name == "corrupt middle line" {
				_, corrupt, _ := StreamHistory(p, nil)
				var ce *CorruptError
				if len(corrupt) != 1 || !errors.As(corrupt[0], &ce) || ce.Line != 6 {
					t.Errorf("corrupt = %v, want line 6", corrupt)
				}
			}
		})
	}
}

func TestStreamHistoryVisit(t *testing.T) {
	n := 0
	h, _, err := StreamHistory(compactionCorpus, func(Item) { n++ })
	if err != nil {
		t.Fatal(err)
	}
	items, _ := readAll(t, compactionCorpus, ReadOptions{})
	if n != len(items) || h.Compactions != 2 {
		t.Errorf("visited %d items (want %d), compactions %d", n, len(items), h.Compactions)
	}
}

func TestStreamHistoryErrors(t *testing.T) {
	if _, _, err := StreamHistory(filepath.Join(t.TempDir(), "missing.jsonl"), nil); err == nil {
		t.Error("StreamHistory(missing) = nil error")
	}
	p := filepath.Join(t.TempDir(), "r.jsonl")
	line, err := MarshalLine(Item{Payload: NewMessage(RoleUser, "x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, line, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := StreamHistory(p, nil); !errors.Is(err, ErrNoSessionMeta) {
		t.Errorf("StreamHistory(no meta) = %v, want ErrNoSessionMeta", err)
	}
	// Fail closed on an unknown history mode.
	meta := testMeta("0194a1b2-0000-7000-8000-000000000012", "future")
	lines := encodeItems(t, synth(meta, NewMessage(RoleUser, "x")))
	if err := os.WriteFile(p, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := StreamHistory(p, nil); !errors.Is(err, ErrUnsupportedHistoryMode) {
		t.Errorf("StreamHistory(future mode) = %v, want ErrUnsupportedHistoryMode", err)
	}
}
