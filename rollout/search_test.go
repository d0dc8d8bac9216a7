package rollout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// searchHome writes a home with rollouts for the search tests and returns
// the logical path of each by name.
func searchHome(t *testing.T) (string, map[string]string) {
	t.Helper()
	home := t.TempDir()
	paths := map[string]string{}
	write := func(name string, created time.Time, archived, compress bool, payloads ...Payload) {
		id := ThreadID("0194a1b2-0000-7000-8000-0000000000" + name)
		p := SessionPath(home, created, id)
		if archived {
			p = ArchivedPath(home, FileName(created, id))
		}
		r, err := NewRecorder(RecorderConfig{Path: p, Meta: testMeta(id, HistoryModeLegacy), Clock: fakeClock()})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Append(payloads...); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if compress {
			if res, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil || res.Outcome != OutcomeCompressed {
				t.Fatalf("CompressFile(%s) = %+v, %v", name, res, err)
			}
		}
		paths[name] = p
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 10, 0, 0, 0, time.UTC) }
	long := strings.Repeat("filler words before the point. ", 5) + "Please summarize the Quarterly Report for me" + strings.Repeat(" and then some more words after it", 6)
	write("a1", day(20), false, false, NewMessage(RoleUser, long), NewMessage(RoleAssistant, "Sure."))
	write("b1", day(21), false, true, NewMessage(RoleUser, "what did it say?"), NewMessage(RoleAssistant, "The\nquarterly report says revenue grew."))
	write("c1", day(22), true, false, NewFunctionCall("call_1", "exec", `{"cmd":"cat q.txt"}`), NewFunctionCallOutput("call_1", `quarterly numbers: say "hi" <b>`))
	write("d1", day(23), false, false, NewMessage(RoleUser, "nothing to see"))
	// e1: both forms exist; the plain one (which matches) hides the .zst.
	write("e1", day(24), false, true, NewMessage(RoleUser, "old text"))
	e := paths["e1"]
	if _, err := Materialize(e + ZstdExt); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e+ZstdExt, []byte("stale junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := ResumeRecorder(RecorderConfig{Path: e, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Append(NewMessage(RoleUser, "a QUARTERLY REPORT again")); err != nil {
		t.Fatal(err)
	}
	rec.Close()
	return home, paths
}

func resultNames(rs []SearchResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.ThreadID[len(r.ThreadID)-2:]))
	}
	return out
}

func TestSearch(t *testing.T) {
	home, paths := searchHome(t)
	// A corrupt .zst-only rollout: reported, not fatal.
	corrupt := SessionPath(home, time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC), "0194a1b2-0000-7000-8000-0000000000f1") + ZstdExt
	os.MkdirAll(filepath.Dir(corrupt), 0o755)
	if err := os.WriteFile(corrupt, []byte("\x28\xb5\x2f\xfdgarbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := runtime.NumGoroutine()
	defer checkNoGoroutineLeak(t, before)
	tests := []struct {
		name string
		opts SearchOptions
		want []string
	}{
		{"case-insensitive active", SearchOptions{Query: "quarterly report"}, []string{"e1", "b1", "a1"}},
		{"case-sensitive", SearchOptions{Query: "Quarterly Report", CaseSensitive: true}, []string{"a1"}},
		{"all scopes", SearchOptions{Query: "quarterly", Scope: ScopeAll}, []string{"e1", "c1", "b1", "a1"}},
		{"archived", SearchOptions{Query: "QUARTERLY", Scope: ScopeArchived}, []string{"c1"}},
		{"JSON-escaped query", SearchOptions{Query: `say "hi" <b>`, Scope: ScopeAll}, []string{"c1"}},
		{"no match", SearchOptions{Query: "zebra"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := Search(ctx, home, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := resultNames(page.Results); !slices.Equal(got, tt.want) {
				t.Errorf("Search(%q) = %v, want %v", tt.opts.Query, got, tt.want)
			}
			if page.Next != "" {
				t.Errorf("Next = %q, want none", page.Next)
			}
			if tt.opts.Scope != ScopeArchived && (len(page.Errors) != 1 || !strings.Contains(page.Errors[0].Error(), filepath.Base(corrupt))) {
				t.Errorf("Errors = %v, want the corrupt .zst", page.Errors)
			}
		})
	}

	page, err := Search(ctx, home, SearchOptions{Query: "quarterly", Scope: ScopeAll})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]SearchResult{}
	for _, r := range page.Results {
		byName[string(r.ThreadID[len(r.ThreadID)-2:])] = r
	}
	checks := []struct {
		name       string
		compressed bool
		archived   bool
		snippet    string
	}{
		{"a1", false, false, "... er words before the point. Please summarize the Quarterly Report for me and then some more words after it and then some more words after it and then some ..."},
		{"b1", true, false, "The quarterly report says revenue grew."},
		{"c1", false, true, `... quarterly numbers: say \"hi\" <b>`},
		{"e1", false, false, "a QUARTERLY REPORT again"},
	}
	for _, c := range checks {
		r := byName[c.name]
		if r.Path != paths[c.name] || r.Compressed != c.compressed || r.Archived != c.archived || r.Line < 2 {
			t.Errorf("%s: %+v, want path %s compressed %v archived %v", c.name, r, paths[c.name], c.compressed, c.archived)
		}
		if c.name == "c1" {
			if !strings.HasPrefix(r.Snippet, `... `) || !strings.Contains(r.Snippet, `quarterly numbers: say \"hi\" <b>`) {
				t.Errorf("c1 snippet = %q, want the raw line around the match", r.Snippet)
			}
			continue
		}
		if r.Snippet != c.snippet {
			t.Errorf("%s snippet = %q, want %q", c.name, r.Snippet, c.snippet)
		}
	}

	// One decode per file, found by path too.
	r, ok, err := SearchFile(ctx, paths["b1"], SearchOptions{Query: "REVENUE"})
	if err != nil || !ok || !r.Compressed || r.Snippet != "The quarterly report says revenue grew." {
		t.Errorf("SearchFile = %+v, %v, %v", r, ok, err)
	}
}

func TestSearchPagination(t *testing.T) {
	home, _ := searchHome(t)
	ctx := context.Background()
	var got []string
	cursor := ""
	for range 10 {
		page, err := Search(ctx, home, SearchOptions{Query: "quarterly", Scope: ScopeAll, Limit: 1, Cursor: cursor, Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resultNames(page.Results)...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if want := []string{"e1", "c1", "b1", "a1"}; !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	if _, err := Search(ctx, home, SearchOptions{Query: "x", Cursor: "bogus"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v, want ErrBadCursor", err)
	}
	if _, err := Search(ctx, home, SearchOptions{}); !errors.Is(err, ErrEmptyQuery) {
		t.Errorf("empty query: %v, want ErrEmptyQuery", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Search(cctx, home, SearchOptions{Query: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if page, err := Search(ctx, filepath.Join(home, "nowhere"), SearchOptions{Query: "x"}); err != nil || len(page.Results) != 0 {
		t.Errorf("missing home: %+v, %v", page, err)
	}
}

func TestSearchLineBound(t *testing.T) {
	home, _ := searchHome(t)
	// With a tiny line bound, every line is too long to search.
	page, err := Search(context.Background(), home, SearchOptions{Query: "quarterly", MaxLineSize: 16})
	if err != nil || len(page.Results) != 0 {
		t.Errorf("Search with MaxLineSize 16 = %+v, %v, want nothing", page, err)
	}
}

func TestIndexFoldASCII(t *testing.T) {
	tests := []struct{ s, needle string }{
		{"Hello World", "world"},
		{"hello", "hello"},
		{"HELLO", "hello"},
		{"xxxxxxxxA", "a"},
		{"aaaaaaaab", "ab"},
		{"AAAAAAAAB", "ab"},
		{"", "a"},
		{"abc", "abcd"},
		{"123-456", "3-4"},
		{"zzzzzzzz", "q"},
		{"Mixed CASE tExT", "case text"},
	}
	for _, tt := range tests {
		want := strings.Index(strings.ToLower(tt.s), tt.needle)
		if got := indexFoldASCII([]byte(tt.s), []byte(tt.needle)); got != want {
			t.Errorf("indexFoldASCII(%q, %q) = %d, want %d", tt.s, tt.needle, got, want)
		}
	}
}

func FuzzIndexFoldASCII(f *testing.F) {
	f.Add("Hello World", "wor")
	f.Add("aAaAb", "ab")
	f.Fuzz(func(t *testing.T, s, needle string) {
		if needle == "" || !isASCII([]byte(needle)) || !isASCII([]byte(s)) {
			return
		}
		n := lowerASCII([]byte(needle))
		want := strings.Index(string(lowerASCII([]byte(s))), string(n))
		if got := indexFoldASCII([]byte(s), n); got != want {
			t.Errorf("indexFoldASCII(%q, %q) = %d, want %d", s, n, got, want)
		}
	})
}
