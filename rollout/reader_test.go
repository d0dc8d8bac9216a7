package rollout

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const (
	legacyFixture  = "testdata/legacy/rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000001.jsonl"
	damagedFixture = "testdata/damaged/rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000002.jsonl"
)

// readAll collects the items and errors of a read.
func readAll(t testing.TB, path string, opts ReadOptions) ([]Item, []error) {
	t.Helper()
	var items []Item
	var errs []error
	for it, err := range Read(path, opts) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, it)
	}
	return items, errs
}

func TestReadDamaged(t *testing.T) {
	items, errs := readAll(t, damagedFixture, ReadOptions{})
	if len(items) != 3 {
		t.Fatalf("Read(damaged) = %d items, want 3 (meta, hello, again)", len(items))
	}
	if len(errs) != 2 {
		t.Fatalf("Read(damaged) errors = %v, want 2 corrupt lines", errs)
	}
	for i, wantLine := range []int{3, 4} {
		var ce *CorruptError
		if !errors.As(errs[i], &ce) || ce.Line != wantLine || ce.Path != damagedFixture || !errors.Is(errs[i], ErrMalformedLine) {
			t.Errorf("error %d = %v, want CorruptError at line %d", i, errs[i], wantLine)
		}
	}
	if it := items[2]; it.Ordinal == nil || *it.Ordinal != 4 {
		t.Errorf("last item ordinal = %v, want 4 (torn line 6 ignored)", it.Ordinal)
	}
	// Stopping early is honoured.
	n := 0
	for range Read(damagedFixture, ReadOptions{}) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after first item ran %d iterations", n)
	}
}

func TestReadTerminatedByValidUnterminatedLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.jsonl")
	lines := fileLines(t, legacyFixture)
	data := append(bytes.Join(lines[:3], []byte("\n")), '\n')
	data = append(data, lines[3]...) // valid, no newline
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	items, errs := readAll(t, p, ReadOptions{})
	if len(items) != 4 || len(errs) != 0 {
		t.Errorf("Read = %d items %v, want 4 items no errors", len(items), errs)
	}
}

func TestReadMaxLineSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.jsonl")
	lines := fileLines(t, legacyFixture)
	big := `{"timestamp":"2025-01-03T12:00:00.000Z","type":"world_state","payload":{"full":true,"state":"` + strings.Repeat("x", 4000) + `"}}`
	data := string(lines[0]) + "\n" + big + "\n" + string(lines[1]) + "\n"
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	items, errs := readAll(t, p, ReadOptions{MaxLineSize: 1000})
	if len(items) != 2 || len(errs) != 1 || !errors.Is(errs[0], ErrLineTooLong) {
		t.Fatalf("Read(max 1000) = %d items, %v; want 2 items and one ErrLineTooLong", len(items), errs)
	}
	var ce *CorruptError
	if !errors.As(errs[0], &ce) || ce.Line != 2 {
		t.Errorf("error = %v, want CorruptError at line 2", errs[0])
	}
	items, errs = readAll(t, p, ReadOptions{})
	if len(items) != 3 || len(errs) != 0 {
		t.Errorf("Read(default max) = %d items, %v; want 3, none", len(items), errs)
	}
}

func TestReadDropRaw(t *testing.T) {
	items, _ := readAll(t, legacyFixture, ReadOptions{DropRaw: true})
	for _, it := range items {
		if it.Raw() != nil {
			t.Fatalf("DropRaw item has Raw %q", it.Raw())
		}
	}
	items, _ = readAll(t, legacyFixture, ReadOptions{})
	lines := fileLines(t, legacyFixture)
	for i, it := range items {
		if !bytes.Equal(it.Raw(), lines[i]) {
			t.Fatalf("item %d Raw = %q, want %q", i, it.Raw(), lines[i])
		}
	}
}

func TestReadZstdAndResolve(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Base(legacyFixture)
	plain := filepath.Join(dir, name)
	data, err := os.ReadFile(legacyFixture)
	if err != nil {
		t.Fatal(err)
	}
	writeZstd(t, plain+ZstdExt, data)
	items, errs := readAll(t, plain, ReadOptions{})
	if want := len(fileLines(t, legacyFixture)); len(items) != want || len(errs) != 0 {
		t.Fatalf("Read(logical path of .zst) = %d items %v, want %d", len(items), errs, want)
	}
	phys, compressed, err := ResolvePath(plain)
	if err != nil || !compressed || phys != plain+ZstdExt {
		t.Errorf("ResolvePath = %q %v %v, want the .zst", phys, compressed, err)
	}
	// The plain form wins when both exist.
	if err := os.WriteFile(plain, data[:bytes.IndexByte(data, '\n')+1], 0o600); err != nil {
		t.Fatal(err)
	}
	if items, _ := readAll(t, plain+ZstdExt, ReadOptions{}); len(items) != 1 {
		t.Errorf("Read with both forms = %d items, want 1 (plain preferred)", len(items))
	}
	// A directory is rejected before any read.
	d := filepath.Join(dir, "rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000009.jsonl")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	_, errs = readAll(t, d, ReadOptions{})
	if len(errs) != 1 || !errors.Is(errs[0], ErrNotRegular) {
		t.Errorf("Read(dir) errors = %v, want ErrNotRegular", errs)
	}
	_, errs = readAll(t, filepath.Join(dir, "missing.jsonl"), ReadOptions{})
	if len(errs) != 1 || !errors.Is(errs[0], fs.ErrNotExist) {
		t.Errorf("Read(missing) errors = %v, want fs.ErrNotExist", errs)
	}
}

func writeZstd(t testing.TB, path string, data []byte) {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if err := os.WriteFile(path, enc.EncodeAll(data, nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestReverseLines(t *testing.T) {
	for _, size := range []int{1, 7, 100, 9000, 20000} {
		var buf bytes.Buffer
		var want []string
		for i := range 30 {
			l := strings.Repeat(string(rune('a'+i%26)), size+i)
			want = append(want, l)
			buf.WriteString(l + "\n")
			if i%7 == 0 {
				buf.WriteString("  \n") // blank lines are skipped
			}
		}
		buf.WriteString("torn")
		r := bytes.NewReader(buf.Bytes())
		var got []RawLine
		for rl, err := range ReverseLines(r, int64(buf.Len()), 0) {
			if err != nil {
				t.Fatal(err)
			}
			rl.Data = bytes.Clone(rl.Data)
			got = append(got, rl)
		}
		if len(got) != 31 || string(got[0].Data) != "torn" || got[0].Terminated {
			t.Fatalf("size %d: first = %+v of %d, want unterminated torn of 31", size, got[0], len(got))
		}
		for i, l := range got[1:] {
			w := want[len(want)-1-i]
			if string(l.Data) != w || !l.Terminated || !bytes.Equal(buf.Bytes()[l.Offset:l.Offset+int64(len(w))], []byte(w)) {
				t.Fatalf("size %d: line %d = %q at %d, want %q", size, i, l.Data, l.Offset, w)
			}
		}
	}
}

func TestReadBackwardAndTail(t *testing.T) {
	var fwd []Item
	fwd, _ = readAll(t, damagedFixture, ReadOptions{})
	var back []Item
	var errs []error
	for it, err := range ReadBackward(damagedFixture, ReadOptions{}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		back = append(back, it)
	}
	if len(back) != len(fwd) || len(errs) != 2 {
		t.Fatalf("ReadBackward = %d items %v, want %d and 2 corrupt", len(back), errs, len(fwd))
	}
	for i := range back {
		if !bytes.Equal(back[i].Raw(), fwd[len(fwd)-1-i].Raw()) {
			t.Errorf("backward item %d differs", i)
		}
	}

	// Corpus: the multi-agent slowpoke ends interrupted; its last turn is
	// explicit.
	slow := "testdata/corpus/multiagent/sessions/2026/11/25/rollout-2026-11-25T05-38-40-01a21136-9945-7643-97a3-cbee24a1beb8.jsonl"
	tail, err := ReadTail(slow)
	if err != nil {
		t.Fatal(err)
	}
	if tail.Meta.ID != "01a21136-9945-7643-97a3-cbee24a1beb8" || tail.TurnContext == nil || tail.LastOrdinal == nil {
		t.Fatalf("ReadTail = %+v", tail)
	}
	first, last := tail.LastTurn[0].Payload.(*EventMsg), tail.LastTurn[len(tail.LastTurn)-1].Payload.(*EventMsg)
	if !first.Is(EventTurnStarted) || !last.Is(EventTurnAborted) || first.TurnID != tail.TurnContext.TurnID {
		t.Errorf("LastTurn from %s to %s, turn context %s", first.Type, last.Type, tail.TurnContext.TurnID)
	}
	lines := fileLines(t, slow)
	lastIt, _ := ParseLine(lines[len(lines)-1])
	if *tail.LastOrdinal != *lastIt.Ordinal {
		t.Errorf("LastOrdinal = %d, want %d", *tail.LastOrdinal, *lastIt.Ordinal)
	}

	// Legacy file: implicit last turn from the last user message.
	tail, err = ReadTail(legacyFixture)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := tail.LastTurn[0].Payload.(*ResponseItem); !ok || r.Text() != "third question" || tail.LastOrdinal != nil || tail.TurnContext == nil || tail.TurnContext.Model != "gpt-5" {
		t.Errorf("legacy ReadTail = %+v, first %+v", tail, tail.LastTurn[0].Payload)
	}
}

func TestReadMeta(t *testing.T) {
	dir := t.TempDir()
	meta := `{"timestamp":"2025-01-03T12:00:00.000Z","type":"session_meta","payload":{"id":"0194a1b2-0000-7000-8000-000000000001","timestamp":"t","cwd":"/","originator":"o","cli_version":"1","source":"cli","history_mode":"future"}}`
	ev := `{"timestamp":"2025-01-03T12:00:00.000Z","type":"event_msg","payload":{"type":"token_count","info":null}}`
	ri := `{"timestamp":"2025-01-03T12:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[]}}`
	tests := []struct {
		name, data string
		wantErr    error
	}{
		{"junk then meta", "\nnot json\n" + ev + "\n" + meta + "\n" + string(bytes.Repeat([]byte{0xff}, 1000)), nil},
		{"history first", ri + "\n" + meta + "\n", ErrNoSessionMeta},
		{"only junk", "junk\n\n", ErrNoSessionMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".jsonl")
			if err := os.WriteFile(p, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := ReadMeta(p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadMeta = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (m.SessionID != m.ID || m.HistoryMode != "future" || m.Mode().Known()) {
				t.Errorf("ReadMeta = %+v", m)
			}
		})
	}
}

func FuzzReadFrom(f *testing.F) {
	for _, p := range []string{legacyFixture, damagedFixture} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\n\n{\"timestamp\":\"2025-01-03T12:00:00.000Z\",\"type\":\"x\",\"payload\":{}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := 0
		for it, err := range ReadFrom(bytes.NewReader(data), "fuzz", ReadOptions{MaxLineSize: 4096}) {
			lines++
			if err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Line < 1 || ce.Offset < 0 || ce.Offset >= int64(len(data)) {
					t.Fatalf("error %v is not a positioned CorruptError", err)
				}
				continue
			}
			if _, err := MarshalLine(it); err != nil {
				t.Fatalf("MarshalLine(read item) = %v", err)
			}
			if !bytes.Contains(data, it.Raw()) {
				t.Fatalf("Raw %q is not from the input", it.Raw())
			}
		}
		if lines > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d results for %d lines", lines, bytes.Count(data, []byte("\n"))+1)
		}
	})
}
