package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

// Factory opens a store over a fresh, empty home.
type Factory func(t *testing.T) Store

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"EmptyThreadLeavesNothing", testEmptyThread},
		{"CreateIndexesMetadata", testCreateIndexes},
		{"TitleStripsRequestPrefix", testTitlePrefix},
		{"RecencyOnlyOnTurnStart", testRecency},
		{"ResumeAppends", testResume},
		{"DuplicateAndLiveWriters", testLiveWriters},
		{"UnsupportedHistoryMode", testUnsupportedMode},
		{"InvalidIDs", testInvalidIDs},
		{"SubagentEdgeFromMeta", testSubagentEdge},
		{"EdgesBeforeChildRuns", testEdgesBeforeChild},
		{"TreeListing", testTree},
		{"CycleTerminates", testCycle},
		{"ListPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"BadCursorsAndLimits", testBadCursors},
		{"ArchiveCascades", testArchive},
		{"Unarchive", testUnarchive},
		{"DeleteSubtree", testDelete},
		{"Fork", testFork},
		{"Rebuild", testRebuild},
		{"ConcurrentWriters", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close() = %v", err)
				}
			}()
			tc.fn(t, s)
		})
	}
}

// spec describes a thread made by mk.
type spec struct {
	parent   rollout.ThreadID // sub-agent of parent (spawn source)
	path     string           // agent path
	prompt   string           // first user message; "" for none
	cwd      string
	provider string
	source   string // plain source name; default "exec"
	mode     rollout.HistoryMode
}

func metaFor(sp spec) rollout.SessionMeta {
	m := rollout.SessionMeta{Cwd: sp.cwd, Originator: "storetest", CLIVersion: "0.0.0", ModelProvider: sp.provider, HistoryMode: sp.mode}
	if m.Cwd == "" {
		m.Cwd = "/work"
	}
	if m.ModelProvider == "" {
		m.ModelProvider = "fake"
	}
	switch {
	case sp.parent != "":
		src, err := rollout.SubagentSource(rollout.SubagentSpawn{ParentThreadID: sp.parent, Depth: 1, AgentPath: sp.path})
		if err != nil {
			panic(err)
		}
		m.Source, m.ParentThreadID, m.AgentPath, m.ThreadSource = src, sp.parent, sp.path, "subagent"
	default:
		src := sp.source
		if src == "" {
			src = "exec"
		}
		m.Source = []byte(`"` + src + `"`)
		m.ThreadSource = "user"
	}
	return m
}

func event(t *testing.T, p rollout.EventPayload) *rollout.EventMsg {
	t.Helper()
	e, err := rollout.NewEvent(p)
	if err != nil {
		t.Fatalf("NewEvent(%T) = %v", p, err)
	}
	return e
}

// turn returns the payloads of one complete legacy turn.
func turn(t *testing.T, id, prompt, answer string, tokens int64) []rollout.Payload {
	t.Helper()
	var ps []rollout.Payload
	ps = append(ps, event(t, rollout.TurnStarted{TurnID: id}))
	ps = append(ps, &rollout.TurnContext{TurnID: id, Cwd: "/work", Model: "model-" + id})
	if prompt != "" {
		ps = append(ps, rollout.NewMessage(rollout.RoleUser, prompt), event(t, rollout.UserMessage{Message: prompt}))
	}
	ps = append(ps, rollout.NewMessage(rollout.RoleAssistant, answer), event(t, rollout.AgentMessage{Message: answer}))
	ps = append(ps, event(t, rollout.TokenCount{Info: &rollout.TokenCountInfo{TotalTokenUsage: rollout.TokenUsage{TotalTokens: tokens}}}))
	ps = append(ps, event(t, rollout.TurnComplete{TurnID: id}))
	return ps
}

// mk creates a thread with one turn and closes its writer.
func mk(t *testing.T, s Store, sp spec) rollout.ThreadID {
	t.Helper()
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(sp))
	if err != nil {
		t.Fatalf("Create(%+v) = %v", sp, err)
	}
	if sp.parent != "" {
		if err := s.RecordEdge(ctx, sp.parent, w.ID(), "open"); err != nil {
			t.Fatalf("RecordEdge(%s, %s) = %v", sp.parent, w.ID(), err)
		}
	}
	if err := w.Append(turn(t, "t1-"+string(w.ID()[:8]), sp.prompt, "done", 10)...); err != nil {
		t.Fatalf("Append = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return w.ID()
}

func get(t *testing.T, s Store, id rollout.ThreadID) Thread {
	t.Helper()
	th, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s) = %v", id, err)
	}
	return th
}

func ids(ths []Thread) []rollout.ThreadID {
	out := make([]rollout.ThreadID, len(ths))
	for i, th := range ths {
		out[i] = th.ID
	}
	return out
}

func sorted(in []rollout.ThreadID) []rollout.ThreadID {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want an error matching %v", what, err, want)
	}
}

func testEmptyThread(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(spec{prompt: "x"}))
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	_, err = s.Get(ctx, w.ID())
	wantErr(t, "Get(empty thread)", err, ErrNotFound)
	page, err := s.List(ctx, ListOptions{})
	if err != nil || len(page.Threads) != 0 {
		t.Errorf("List = %v, %v; want no threads", ids(page.Threads), err)
	}
}

func testCreateIndexes(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(spec{cwd: "/proj", provider: "prov"}))
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	defer w.Close()
	id := w.ID()
	if !id.Valid() {
		t.Fatalf("minted id %q is not a canonical UUID", id)
	}
	if err := w.Append(turn(t, "turn-1", "Summarize the report", "ok", 42)...); err != nil {
		t.Fatalf("Append = %v", err)
	}
	if _, err := s.Get(ctx, id); err == nil {
		// Not flushed yet: a store may or may not show it; nothing to check.
		t.Log("row visible before Flush")
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	th := get(t, s, id)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Preview", th.Preview, "Summarize the report"},
		{"Title", th.Title, "Summarize the report"},
		{"Cwd", th.Cwd, "/proj"},
		{"ModelProvider", th.ModelProvider, "prov"},
		{"Model", th.Model, "model-turn-1"},
		{"TokensUsed", th.TokensUsed, int64(42)},
		{"SourceKind", th.SourceKind, "exec"},
		{"SessionID", th.SessionID, id},
		{"HistoryMode", th.HistoryMode, rollout.HistoryModeLegacy},
		{"Archived", th.Archived, false},
		{"ParentThreadID", th.ParentThreadID, rollout.ThreadID("")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Get(%s).%s = %v, want %v", id, c.name, c.got, c.want)
		}
	}
	if th.CreatedAt.IsZero() || th.UpdatedAt.Before(th.CreatedAt) || th.RecencyAt.IsZero() {
		t.Errorf("times created=%v updated=%v recency=%v", th.CreatedAt, th.UpdatedAt, th.RecencyAt)
	}
	if !strings.HasSuffix(th.RolloutPath, string(id)+".jsonl") || !exists(th.RolloutPath) {
		t.Errorf("RolloutPath = %q: want an existing .jsonl named after the id", th.RolloutPath)
	}
	if !strings.Contains(th.RolloutPath, string(filepath.Separator)+"sessions"+string(filepath.Separator)) {
		t.Errorf("RolloutPath = %q, want under sessions/", th.RolloutPath)
	}
	got, items, err := s.Read(ctx, id)
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	if got.ID != id {
		t.Errorf("Read().ID = %s, want %s", got.ID, id)
	}
	if len(items) == 0 || items[0].Kind() != rollout.KindSessionMeta {
		t.Fatalf("Read() items start with %v, want session_meta", kinds(items))
	}
	if n := len(items); n != 1+len(turn(t, "x", "p", "a", 1)) {
		t.Errorf("Read() = %d items (%v), want %d", n, kinds(items), 1+len(turn(t, "x", "p", "a", 1)))
	}
}

func kinds(items []rollout.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Kind()))
	}
	return out
}

func testTitlePrefix(t *testing.T, s Store) {
	id := mk(t, s, spec{prompt: "<ide context>\n## My request for Codex:\n  fix the bug"})
	th := get(t, s, id)
	if th.Title != "fix the bug" {
		t.Errorf("Title = %q, want %q", th.Title, "fix the bug")
	}
	if !strings.HasPrefix(th.Preview, "<ide context>") {
		t.Errorf("Preview = %q, want the whole message", th.Preview)
	}
}

func testRecency(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(spec{}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(turn(t, "a", "first", "one", 1)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := get(t, s, w.ID())
	// Output without a turn start moves updated_at only.
	if err := w.Append(rollout.NewMessage(rollout.RoleAssistant, "more")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t1 := get(t, s, w.ID())
	if !t1.RecencyAt.Equal(t0.RecencyAt) {
		t.Errorf("RecencyAt after output = %v, want unchanged %v", t1.RecencyAt, t0.RecencyAt)
	}
	if !t1.UpdatedAt.After(t0.UpdatedAt) {
		t.Errorf("UpdatedAt after output = %v, want after %v", t1.UpdatedAt, t0.UpdatedAt)
	}
	// A turn start advances recency, strictly.
	if err := w.Append(turn(t, "b", "", "two", 2)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t2 := get(t, s, w.ID())
	if !t2.RecencyAt.After(t1.RecencyAt) {
		t.Errorf("RecencyAt after turn start = %v, want after %v", t2.RecencyAt, t1.RecencyAt)
	}
	if t2.TokensUsed != 2 || t2.Model != "model-b" {
		t.Errorf("after second turn tokens=%d model=%q, want 2, model-b", t2.TokensUsed, t2.Model)
	}
	if t2.Preview != "first" {
		t.Errorf("Preview = %q, want the first user message %q", t2.Preview, "first")
	}
}

func testResume(t *testing.T, s Store) {
	ctx := context.Background()
	id := mk(t, s, spec{prompt: "hello"})
	before := get(t, s, id)
	w, err := s.Resume(ctx, id)
	if err != nil {
		t.Fatalf("Resume = %v", err)
	}
	if w.ID() != id {
		t.Errorf("Resume().ID() = %s, want %s", w.ID(), id)
	}
	if err := w.Append(turn(t, "t2", "again", "sure", 99)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	th, items, err := s.Read(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := len(turn(t, "x", "p", "a", 1))
	if len(items) != 1+2*n {
		t.Errorf("Read after resume = %d items, want %d", len(items), 1+2*n)
	}
	if th.Preview != "hello" || th.TokensUsed != 99 || !th.RecencyAt.After(before.RecencyAt) {
		t.Errorf("after resume preview=%q tokens=%d recency=%v (before %v)", th.Preview, th.TokensUsed, th.RecencyAt, before.RecencyAt)
	}
	_, err = s.Resume(ctx, "01a21136-0000-7000-8000-00000000dead")
	wantErr(t, "Resume(unknown)", err, ErrNotFound)
}

func testLiveWriters(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(spec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(turn(t, "a", "p", "a", 1)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = s.Resume(ctx, w.ID())
	wantErr(t, "Resume(live thread)", err, ErrLive)
	meta := metaFor(spec{})
	meta.ID = w.ID()
	_, err = s.Create(ctx, meta)
	if err == nil {
		t.Errorf("Create(existing id) = nil error, want one")
	}
	_, err = s.Delete(ctx, w.ID())
	wantErr(t, "Delete(live thread)", err, ErrLive)
	err = s.Archive(ctx, w.ID())
	wantErr(t, "Archive(live thread)", err, ErrLive)
	if _, err := s.Get(ctx, w.ID()); err != nil {
		t.Errorf("Get after refused Delete = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rollout.NewMessage(rollout.RoleUser, "late")); err == nil {
		t.Errorf("Append after Close = nil error, want one")
	}
}

func testUnsupportedMode(t *testing.T, s Store) {
	_, err := s.Create(context.Background(), metaFor(spec{mode: "future"}))
	wantErr(t, `Create(history_mode "future")`, err, rollout.ErrUnsupportedHistoryMode)
}

func testInvalidIDs(t *testing.T, s Store) {
	ctx := context.Background()
	bad := rollout.ThreadID("not-a-uuid")
	_, err := s.Get(ctx, bad)
	wantErr(t, "Get(bad id)", err, rollout.ErrInvalidThreadID)
	_, err = s.Children(ctx, bad, Page{})
	wantErr(t, "Children(bad id)", err, rollout.ErrInvalidThreadID)
	_, err = s.Descendants(ctx, bad, Page{})
	wantErr(t, "Descendants(bad id)", err, rollout.ErrInvalidThreadID)
	_, err = s.List(ctx, ListOptions{Parent: bad})
	wantErr(t, "List(parent bad id)", err, rollout.ErrInvalidThreadID)
	_, err = s.List(ctx, ListOptions{Ancestor: bad})
	wantErr(t, "List(ancestor bad id)", err, rollout.ErrInvalidThreadID)
	_, err = s.Delete(ctx, bad)
	wantErr(t, "Delete(bad id)", err, rollout.ErrInvalidThreadID)
	err = s.Archive(ctx, bad)
	wantErr(t, "Archive(bad id)", err, rollout.ErrInvalidThreadID)
	err = s.RecordEdge(ctx, bad, "01a21136-0000-7000-8000-000000000001", "open")
	wantErr(t, "RecordEdge(bad parent)", err, rollout.ErrInvalidThreadID)
	unknown := rollout.ThreadID("01a21136-0000-7000-8000-00000000beef")
	_, err = s.Get(ctx, unknown)
	wantErr(t, "Get(unknown)", err, ErrNotFound)
	_, _, err = s.Read(ctx, unknown)
	wantErr(t, "Read(unknown)", err, ErrNotFound)
	_, err = s.Delete(ctx, unknown)
	wantErr(t, "Delete(unknown)", err, ErrNotFound)
	err = s.Archive(ctx, unknown)
	wantErr(t, "Archive(unknown)", err, ErrNotFound)
	err = s.Unarchive(ctx, unknown)
	wantErr(t, "Unarchive(unknown)", err, ErrNotFound)
	err = s.SetEdgeStatus(ctx, unknown, "closed")
	wantErr(t, "SetEdgeStatus(no edge)", err, ErrNotFound)
	page, err := s.Descendants(ctx, unknown, Page{})
	if err != nil || len(page.Threads) != 0 {
		t.Errorf("Descendants(unknown) = %v, %v; want empty", ids(page.Threads), err)
	}
}

func testSubagentEdge(t *testing.T, s Store) {
	ctx := context.Background()
	root := mk(t, s, spec{prompt: "lead"})
	// A sub-agent whose edge is not recorded explicitly: the index derives
	// it from the thread_spawn source.
	meta := metaFor(spec{parent: root, path: "/root/worker"})
	w, err := s.Create(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(turn(t, "c1", "", "work", 1)...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	child := get(t, s, w.ID())
	if child.ParentThreadID != root || child.SourceKind != "subagent" || child.AgentPath != "/root/worker" {
		t.Errorf("child parent=%s kind=%q path=%q, want %s subagent /root/worker", child.ParentThreadID, child.SourceKind, child.AgentPath, root)
	}
	if child.Preview != "" {
		t.Errorf("child Preview = %q, want empty (no user message)", child.Preview)
	}
	edges, err := s.SpawnChildren(ctx, root, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 1 || edges[0].Child != w.ID() || edges[0].Status != "open" || edges[0].Parent != root {
		t.Errorf("SpawnChildren(root) = %+v, want one open edge to %s", edges, w.ID())
	}
}

func testEdgesBeforeChild(t *testing.T, s Store) {
	ctx := context.Background()
	root := mk(t, s, spec{prompt: "lead"})
	c1 := rollout.ThreadID("01a21136-0000-7000-8000-0000000000c1")
	c2 := rollout.ThreadID("01a21136-0000-7000-8000-0000000000c2")
	g1 := rollout.ThreadID("01a21136-0000-7000-8000-0000000000d1")
	for _, e := range []Edge{{root, c1, "open"}, {root, c2, "open"}, {c1, g1, "open"}} {
		if err := s.RecordEdge(ctx, e.Parent, e.Child, e.Status); err != nil {
			t.Fatalf("RecordEdge(%+v) = %v", e, err)
		}
	}
	err := s.RecordEdge(ctx, c1, c1, "open")
	wantErr(t, "RecordEdge(self)", err, ErrInvalidRequest)
	got, err := s.SpawnChildren(ctx, root, "open")
	if err != nil {
		t.Fatal(err)
	}
	if want := []rollout.ThreadID{c1, c2}; !slices.Equal(edgeChildren(got), want) {
		t.Errorf("SpawnChildren(root, open) = %v, want %v", edgeChildren(got), want)
	}
	desc, err := s.SpawnDescendants(ctx, root, "open")
	if err != nil {
		t.Fatal(err)
	}
	if want := []rollout.ThreadID{c1, c2, g1}; !slices.Equal(edgeChildren(desc), want) {
		t.Errorf("SpawnDescendants(root, open) = %v, want %v (breadth first)", edgeChildren(desc), want)
	}
	if err := s.SetEdgeStatus(ctx, c1, "closed"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status string
		want   []rollout.ThreadID
	}{{"open", []rollout.ThreadID{c2}}, {"closed", []rollout.ThreadID{c1}}, {"", []rollout.ThreadID{c1, c2}}} {
		got, err := s.SpawnChildren(ctx, root, tc.status)
		if err != nil || !slices.Equal(edgeChildren(got), tc.want) {
			t.Errorf("SpawnChildren(root, %q) = %v, %v; want %v", tc.status, edgeChildren(got), err, tc.want)
		}
	}
	// A closed edge prunes its subtree from a filtered descendants query.
	desc, err = s.SpawnDescendants(ctx, root, "open")
	if err != nil || !slices.Equal(edgeChildren(desc), []rollout.ThreadID{c2}) {
		t.Errorf("SpawnDescendants(root, open) after closing c1 = %v, %v; want [c2]", edgeChildren(desc), err)
	}
	desc, err = s.SpawnDescendants(ctx, root, "closed")
	if err != nil || !slices.Equal(edgeChildren(desc), []rollout.ThreadID{c1}) {
		t.Errorf("SpawnDescendants(root, closed) = %v, %v; want [c1]", edgeChildren(desc), err)
	}
	// Statuses a newer build may write are kept and listed unfiltered.
	if err := s.SetEdgeStatus(ctx, c2, "future"); err != nil {
		t.Fatal(err)
	}
	all, err := s.SpawnDescendants(ctx, root, "")
	if err != nil || len(all) != 3 {
		t.Errorf("SpawnDescendants(root, any) = %+v, %v; want 3 edges", all, err)
	}
}

func edgeChildren(es []Edge) []rollout.ThreadID {
	out := []rollout.ThreadID{}
	for _, e := range es {
		out = append(out, e.Child)
	}
	return out
}

// tree builds root -> {a, b}, a -> c, c -> d and returns them.
func tree(t *testing.T, s Store) (root, a, b, c, d rollout.ThreadID) {
	root = mk(t, s, spec{prompt: "root"})
	a = mk(t, s, spec{parent: root, path: "/root/a"})
	b = mk(t, s, spec{parent: root, path: "/root/b"})
	c = mk(t, s, spec{parent: a, path: "/root/a/c"})
	d = mk(t, s, spec{parent: c, path: "/root/a/c/d"})
	return
}

// pages walks every page of list and fails on repeats.
func pages(t *testing.T, what string, limit int, list func(Page) (ThreadPage, error)) []Thread {
	t.Helper()
	var all []Thread
	seen := map[rollout.ThreadID]bool{}
	cursor := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("%s: more than 1000 pages", what)
		}
		p, err := list(Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("%s page %d: %v", what, i, err)
		}
		if len(p.Threads) > limit {
			t.Fatalf("%s page %d: %d threads, limit %d", what, i, len(p.Threads), limit)
		}
		for _, th := range p.Threads {
			if seen[th.ID] {
				t.Errorf("%s: %s on two pages", what, th.ID)
			}
			seen[th.ID] = true
		}
		all = append(all, p.Threads...)
		if p.Next == "" {
			return all
		}
		cursor = p.Next
	}
}

func testTree(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, b, c, d := tree(t, s)
	parents := map[rollout.ThreadID]rollout.ThreadID{a: root, b: root, c: a, d: c}
	// The default order is the tree's: every parent before its children.
	// A time sort gives newest first.
	for _, k := range []Sort{"", SortCreated, SortRecency} {
		for _, limit := range []int{1, 2, 10} {
			desc := pages(t, "Descendants", limit, func(p Page) (ThreadPage, error) { p.Sort = k; return s.Descendants(ctx, root, p) })
			if got, want := sorted(ids(desc)), sorted([]rollout.ThreadID{a, b, c, d}); !slices.Equal(got, want) {
				t.Errorf("Descendants(root, sort %q, limit %d) = %v, want %v", k, limit, got, want)
			}
			pos := map[rollout.ThreadID]int{root: -1}
			for i, th := range desc {
				pos[th.ID] = i
				if th.ParentThreadID != parents[th.ID] {
					t.Errorf("Descendants: %s parent = %s, want %s", th.ID, th.ParentThreadID, parents[th.ID])
				}
				if k != "" && i > 0 && !newestFirst(desc[i-1], th, k) {
					t.Errorf("Descendants(sort %q) not newest first at %d", k, i)
				}
			}
			if k == "" {
				for _, th := range desc {
					if p, ok := pos[th.ParentThreadID]; !ok || p >= pos[th.ID] {
						t.Errorf("Descendants(tree order) = %v: %s before its parent %s", ids(desc), th.ID, th.ParentThreadID)
					}
				}
			}
		}
	}
	kids := pages(t, "Children", 1, func(p Page) (ThreadPage, error) { return s.Children(ctx, root, p) })
	if got, want := sorted(ids(kids)), sorted([]rollout.ThreadID{a, b}); !slices.Equal(got, want) {
		t.Errorf("Children(root) = %v, want %v", got, want)
	}
	sub := pages(t, "Descendants(a)", 10, func(p Page) (ThreadPage, error) { return s.Descendants(ctx, a, p) })
	if got, want := sorted(ids(sub)), sorted([]rollout.ThreadID{c, d}); !slices.Equal(got, want) {
		t.Errorf("Descendants(a) = %v, want %v", got, want)
	}
	anc := pages(t, "List(ancestor)", 2, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p, Ancestor: root}) })
	if got, want := sorted(ids(anc)), sorted([]rollout.ThreadID{a, b, c, d}); !slices.Equal(got, want) {
		t.Errorf("List(ancestor root) = %v, want %v", got, want)
	}
	par := pages(t, "List(parent)", 2, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p, Parent: a}) })
	if got := ids(par); !slices.Equal(got, []rollout.ThreadID{c}) {
		t.Errorf("List(parent a) = %v, want [%s]", got, c)
	}
	all := pages(t, "List", 100, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p}) })
	for _, th := range all {
		if th.ParentThreadID != parents[th.ID] {
			t.Errorf("List: %s parent = %s, want %s", th.ID, th.ParentThreadID, parents[th.ID])
		}
	}
	_, err := s.List(ctx, ListOptions{Parent: root, Ancestor: root})
	wantErr(t, "List(parent and ancestor)", err, ErrInvalidRequest)
}

func testCycle(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, b, c, d := tree(t, s)
	// A corrupt graph: root becomes a child of its own descendant.
	if err := s.RecordEdge(ctx, d, root, "open"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Sort{"", SortUpdated} {
		desc := pages(t, "Descendants(cyclic)", 2, func(p Page) (ThreadPage, error) { p.Sort = k; return s.Descendants(ctx, root, p) })
		if got, want := sorted(ids(desc)), sorted([]rollout.ThreadID{a, b, c, d}); !slices.Equal(got, want) {
			t.Errorf("Descendants(root, sort %q) with a cycle = %v, want %v", k, got, want)
		}
	}
	// Re-parenting moves a whole subtree.
	if err := s.RecordEdge(ctx, b, c, "open"); err != nil {
		t.Fatal(err)
	}
	under := pages(t, "Descendants(b)", 1, func(p Page) (ThreadPage, error) { return s.Descendants(ctx, b, p) })
	if got, want := sorted(ids(under)), sorted([]rollout.ThreadID{c, d}); !slices.Equal(got, want) {
		t.Errorf("Descendants(b) after moving c under b = %v, want %v", got, want)
	}
	if left, err := s.Descendants(ctx, a, Page{}); err != nil || len(left.Threads) != 0 {
		t.Errorf("Descendants(a) after moving c away = %v, %v; want none", ids(left.Threads), err)
	}
	if err := s.RecordEdge(ctx, a, c, "open"); err != nil {
		t.Fatal(err)
	}
	edges, err := s.SpawnDescendants(ctx, root, "")
	if err != nil || len(edges) != 4 {
		t.Errorf("SpawnDescendants(root) with a cycle = %v, %v; want 4 edges", edgeChildren(edges), err)
	}
	anc, err := s.List(ctx, ListOptions{Ancestor: c, Page: Page{Limit: 100}})
	if err != nil || len(anc.Threads) != 4 {
		t.Errorf("List(ancestor c) with a cycle = %v, %v; want d, root, a, b", ids(anc.Threads), err)
	}
}

func newestFirst(prev, next Thread, k Sort) bool {
	pick := func(th Thread) int64 {
		switch k {
		case SortUpdated:
			return th.UpdatedAt.UnixMilli()
		case SortRecency:
			return th.RecencyAt.UnixMilli()
		}
		return th.CreatedAt.UnixMilli()
	}
	a, b := pick(prev), pick(next)
	return a > b || (a == b && prev.ID > next.ID)
}

func testListPagination(t *testing.T, s Store) {
	ctx := context.Background()
	var made []rollout.ThreadID
	for i := range 7 {
		made = append(made, mk(t, s, spec{prompt: fmt.Sprintf("thread %d", i)}))
	}
	// Give recency and updated orders their own shape.
	for _, id := range []rollout.ThreadID{made[2], made[0]} {
		w, err := s.Resume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(turn(t, "again", "", "x", 5)...); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []Sort{"", SortCreated, SortUpdated, SortRecency} {
		all := pages(t, "List sort "+string(k), 3, func(p Page) (ThreadPage, error) {
			p.Sort = k
			return s.List(ctx, ListOptions{Page: p})
		})
		if got, want := sorted(ids(all)), sorted(made); !slices.Equal(got, want) {
			t.Errorf("List(sort %q) = %v, want %v", k, got, want)
		}
		for i := 1; i < len(all); i++ {
			if !newestFirst(all[i-1], all[i], k) {
				t.Errorf("List(sort %q) out of order at %d", k, i)
			}
		}
		if k == SortRecency && (all[0].ID != made[0] || all[1].ID != made[2]) {
			t.Errorf("List(sort recency) starts %v, want the resumed threads %s, %s", ids(all[:2]), made[0], made[2])
		}
	}
}

func testListFilters(t *testing.T, s Store) {
	ctx := context.Background()
	x := mk(t, s, spec{prompt: "x", cwd: "/a", provider: "p1", source: "cli"})
	y := mk(t, s, spec{prompt: "y", cwd: "/b", provider: "p2", source: "exec"})
	z := mk(t, s, spec{parent: x, path: "/root/z", cwd: "/a", provider: "p1"})
	cases := []struct {
		name string
		opts ListOptions
		want []rollout.ThreadID
	}{
		{"all", ListOptions{}, []rollout.ThreadID{x, y, z}},
		{"cwd /a", ListOptions{Cwds: []string{"/a"}}, []rollout.ThreadID{x, z}},
		{"cwd none", ListOptions{Cwds: []string{}}, nil},
		{"cwd both", ListOptions{Cwds: []string{"/a", "/b"}}, []rollout.ThreadID{x, y, z}},
		{"provider p2", ListOptions{Providers: []string{"p2"}}, []rollout.ThreadID{y}},
		{"source subagent", ListOptions{SourceKinds: []string{"subagent"}}, []rollout.ThreadID{z}},
		{"source cli,exec", ListOptions{SourceKinds: []string{"cli", "exec"}}, []rollout.ThreadID{x, y}},
		{"archived", ListOptions{Archived: true}, nil},
		{"parent x", ListOptions{Parent: x}, []rollout.ThreadID{z}},
		{"parent x provider p2", ListOptions{Parent: x, Providers: []string{"p2"}}, nil},
	}
	for _, tc := range cases {
		p, err := s.List(ctx, tc.opts)
		if err != nil {
			t.Errorf("List(%s) = %v", tc.name, err)
			continue
		}
		if got, want := sorted(ids(p.Threads)), sorted(tc.want); !slices.Equal(got, want) {
			t.Errorf("List(%s) = %v, want %v", tc.name, got, want)
		}
	}
}

func testBadCursors(t *testing.T, s Store) {
	ctx := context.Background()
	for range 3 {
		mk(t, s, spec{prompt: "p"})
	}
	p, err := s.List(ctx, ListOptions{Page: Page{Limit: 1}})
	if err != nil || p.Next == "" {
		t.Fatalf("List(limit 1) = %v, next %q; want a next cursor", err, p.Next)
	}
	for _, c := range []string{"garbage", "!!!", p.Next + "x", "YWJj"} {
		_, err := s.List(ctx, ListOptions{Page: Page{Limit: 1, Cursor: c}})
		wantErr(t, fmt.Sprintf("List(cursor %q)", c), err, ErrInvalidCursor)
	}
	_, err = s.List(ctx, ListOptions{Page: Page{Limit: 1, Cursor: p.Next, Sort: SortUpdated}})
	wantErr(t, "List(created cursor, updated sort)", err, ErrInvalidCursor)
	_, err = s.Descendants(ctx, "01a21136-0000-7000-8000-000000000001", Page{Cursor: "garbage"})
	wantErr(t, "Descendants(bad cursor)", err, ErrInvalidCursor)
	_, err = s.List(ctx, ListOptions{Page: Page{Limit: -1}})
	wantErr(t, "List(limit -1)", err, ErrInvalidRequest)
	_, err = s.List(ctx, ListOptions{Page: Page{Sort: "size"}})
	wantErr(t, "List(sort size)", err, ErrInvalidRequest)
}

func testArchive(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, b, c, d := tree(t, s)
	other := mk(t, s, spec{prompt: "unrelated"})
	oldPaths := map[rollout.ThreadID]string{}
	for _, id := range []rollout.ThreadID{root, a, b, c, d} {
		oldPaths[id] = get(t, s, id).RolloutPath
	}
	if err := s.Archive(ctx, root); err != nil {
		t.Fatalf("Archive(root) = %v", err)
	}
	for _, id := range []rollout.ThreadID{root, a, b, c, d} {
		th := get(t, s, id)
		if !th.Archived || th.ArchivedAt.IsZero() {
			t.Errorf("%s after Archive(root): archived=%v at=%v, want archived", id, th.Archived, th.ArchivedAt)
		}
		if filepath.Base(filepath.Dir(th.RolloutPath)) != "archived_sessions" || !exists(th.RolloutPath) {
			t.Errorf("%s RolloutPath = %q, want an existing file in archived_sessions/", id, th.RolloutPath)
		}
		if exists(oldPaths[id]) {
			t.Errorf("%s: old path %s still exists", id, oldPaths[id])
		}
		if _, items, err := s.Read(ctx, id); err != nil || len(items) == 0 {
			t.Errorf("Read(archived %s) = %d items, %v", id, len(items), err)
		}
	}
	if th := get(t, s, other); th.Archived {
		t.Errorf("unrelated thread archived")
	}
	live, err := s.List(ctx, ListOptions{Page: Page{Limit: 100}})
	if err != nil || !slices.Equal(ids(live.Threads), []rollout.ThreadID{other}) {
		t.Errorf("List(live) = %v, %v; want [%s]", ids(live.Threads), err, other)
	}
	arch, err := s.List(ctx, ListOptions{Archived: true, Page: Page{Limit: 100}})
	if err != nil || len(arch.Threads) != 5 {
		t.Errorf("List(archived) = %v, %v; want 5", ids(arch.Threads), err)
	}
	desc, err := s.Descendants(ctx, root, Page{Limit: 100})
	if err != nil || len(desc.Threads) != 4 {
		t.Errorf("Descendants(archived root) = %v, %v; want 4", ids(desc.Threads), err)
	}
	// Idempotent.
	if err := s.Archive(ctx, root); err != nil {
		t.Errorf("second Archive(root) = %v", err)
	}
	_, err = s.Resume(ctx, a)
	wantErr(t, "Resume(archived)", err, ErrInvalidRequest)
}

func testUnarchive(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, _, _, _ := tree(t, s)
	if err := s.Archive(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := s.Unarchive(ctx, root); err != nil {
		t.Fatalf("Unarchive(root) = %v", err)
	}
	th := get(t, s, root)
	if th.Archived || !th.ArchivedAt.IsZero() {
		t.Errorf("root after Unarchive: archived=%v at=%v", th.Archived, th.ArchivedAt)
	}
	rel := th.RolloutPath
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) < 5 || parts[len(parts)-5] != "sessions" || !exists(rel) {
		t.Errorf("root RolloutPath = %q, want an existing sessions/YYYY/MM/DD/ file", rel)
	}
	if !get(t, s, a).Archived {
		t.Errorf("child unarchived with its root; only the named thread is")
	}
	w, err := s.Resume(ctx, root)
	if err != nil {
		t.Fatalf("Resume(unarchived) = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Unarchive(ctx, root); err != nil {
		t.Errorf("Unarchive(live thread) = %v, want nil (no-op)", err)
	}
}

func testDelete(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, b, c, d := tree(t, s)
	other := mk(t, s, spec{prompt: "keep me"})
	if err := s.Archive(ctx, c); err != nil { // one subtree archived: both places are cleaned
		t.Fatal(err)
	}
	paths := map[rollout.ThreadID]string{}
	for _, id := range []rollout.ThreadID{root, a, b, c, d} {
		paths[id] = get(t, s, id).RolloutPath
	}
	got, err := s.Delete(ctx, root)
	if err != nil {
		t.Fatalf("Delete(root) = %v", err)
	}
	if want := sorted([]rollout.ThreadID{root, a, b, c, d}); !slices.Equal(sorted(got), want) || got[0] != root {
		t.Errorf("Delete(root) = %v, want %v, root first", got, want)
	}
	for id, p := range paths {
		_, err := s.Get(ctx, id)
		wantErr(t, "Get(deleted)", err, ErrNotFound)
		if exists(p) || exists(p+".zst") {
			t.Errorf("%s: rollout %s still exists", id, p)
		}
	}
	edges, err := s.SpawnDescendants(ctx, root, "")
	if err != nil || len(edges) != 0 {
		t.Errorf("SpawnDescendants(deleted root) = %v, %v; want none", edges, err)
	}
	if _, err := s.Get(ctx, other); err != nil {
		t.Errorf("Get(unrelated) after Delete = %v", err)
	}
	_, err = s.Delete(ctx, root)
	wantErr(t, "Delete(deleted)", err, ErrNotFound)
	if err := s.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(deleted) after Rebuild = %v, want ErrNotFound (no resurrection)", err)
	}
}

func testFork(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, metaFor(spec{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"one", "two", "three"} {
		if err := w.Append(turn(t, fmt.Sprintf("t%d", i), p, "ans "+p, int64(i))...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src := w.ID()
	_, srcItems, err := s.Read(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Fork(ctx, src, 0)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("Fork: %v", err)
	}
	if err != nil {
		t.Fatalf("Fork(full) = %v", err)
	}
	th, items, err := s.Read(ctx, full)
	if err != nil {
		t.Fatalf("Read(fork) = %v", err)
	}
	if th.ForkedFromID != src || full == src {
		t.Errorf("fork ForkedFromID = %s (id %s), want %s", th.ForkedFromID, full, src)
	}
	// The fork's own session_meta, then every line of the source (its
	// session_meta included, as Codex copies it).
	if len(items) != len(srcItems)+1 {
		t.Errorf("full fork has %d items, want %d", len(items), len(srcItems)+1)
	}
	if m, ok := items[0].Payload.(*rollout.SessionMeta); !ok || m.ID != full || m.ForkedFromID != src {
		t.Errorf("full fork starts with %v, want its own session_meta forked from %s", items[0].Payload, src)
	}
	if th.Preview != "one" {
		t.Errorf("full fork Preview = %q, want %q", th.Preview, "one")
	}
	last, err := s.Fork(ctx, src, 1)
	if err != nil {
		t.Fatalf("Fork(last 1) = %v", err)
	}
	th, items, err = s.Read(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, it := range items {
		if r, ok := it.Payload.(*rollout.ResponseItem); ok && r.IsUserMessage() {
			users = append(users, r.Text())
		}
	}
	if !slices.Equal(users, []string{"three"}) {
		t.Errorf("last-1 fork user messages = %v, want [three]", users)
	}
	if th.ForkedFromID != src {
		t.Errorf("last-1 fork ForkedFromID = %s, want %s", th.ForkedFromID, src)
	}
	_, err = s.Fork(ctx, "01a21136-0000-7000-8000-00000000beef", 0)
	wantErr(t, "Fork(unknown)", err, ErrNotFound)
}

func testRebuild(t *testing.T, s Store) {
	ctx := context.Background()
	root, a, _, c, _ := tree(t, s)
	if err := s.Archive(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := pages(t, "List", 100, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p}) })
	archBefore := pages(t, "List(archived)", 100, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p, Archived: true}) })
	if err := s.Rebuild(ctx); err != nil {
		t.Fatalf("Rebuild = %v", err)
	}
	after := pages(t, "List", 100, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p}) })
	archAfter := pages(t, "List(archived)", 100, func(p Page) (ThreadPage, error) { return s.List(ctx, ListOptions{Page: p, Archived: true}) })
	key := func(ths []Thread) []string {
		var out []string
		for _, th := range ths {
			out = append(out, fmt.Sprintf("%s parent=%s arch=%v path=%s title=%q preview=%q kind=%s agent=%s tokens=%d model=%s",
				th.ID, th.ParentThreadID, th.Archived, th.RolloutPath, th.Title, th.Preview, th.SourceKind, th.AgentPath, th.TokensUsed, th.Model))
		}
		slices.Sort(out)
		return out
	}
	if b, a := key(before), key(after); !slices.Equal(b, a) {
		t.Errorf("live rows changed by Rebuild:\nbefore %v\nafter  %v", b, a)
	}
	if b, a := key(archBefore), key(archAfter); !slices.Equal(b, a) {
		t.Errorf("archived rows changed by Rebuild:\nbefore %v\nafter  %v", b, a)
	}
	if th := get(t, s, c); th.ParentThreadID != a {
		t.Errorf("archived child's parent after Rebuild = %s, want %s", th.ParentThreadID, a)
	}
	desc, err := s.Descendants(ctx, root, Page{Limit: 100})
	if err != nil || len(desc.Threads) != 4 {
		t.Errorf("Descendants after Rebuild = %v, %v; want 4", ids(desc.Threads), err)
	}
}

func testConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	stop := make(chan struct{})
	var made sync.Map
	turns := make([][][]rollout.Payload, n)
	for i := range n {
		for j := range 5 {
			turns[i] = append(turns[i], turn(t, fmt.Sprintf("t%d-%d", i, j), fmt.Sprintf("prompt %d", i), "a", int64(j)))
		}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(ctx, metaFor(spec{}))
			if err != nil {
				errs <- err
				return
			}
			for j := range 5 {
				if err := w.Append(turns[i][j]...); err != nil {
					errs <- err
					break
				}
				if err := w.Flush(ctx); err != nil {
					errs <- err
					break
				}
			}
			made.Store(w.ID(), true)
			if err := w.Close(); err != nil {
				errs <- err
			}
		}()
	}
	var lwg sync.WaitGroup
	lwg.Add(1)
	go func() {
		defer lwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.List(ctx, ListOptions{Page: Page{Sort: SortRecency}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	lwg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
	p, err := s.List(ctx, ListOptions{Page: Page{Limit: 100}})
	if err != nil || len(p.Threads) != n {
		t.Errorf("List after concurrent writers = %d threads, %v; want %d", len(p.Threads), err, n)
	}
	for _, th := range p.Threads {
		if _, ok := made.Load(th.ID); !ok || th.TokensUsed != 4 {
			t.Errorf("thread %s tokens = %d, want 4", th.ID, th.TokensUsed)
		}
	}
}
