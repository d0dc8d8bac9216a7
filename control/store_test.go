package control

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// storeEnv is a runtime over a real sqlitestore.Store (Config.Store). The
// store is closed after the runtime.
func storeEnv(t *testing.T) (*env, *sqlitestore.Store) {
	t.Helper()
	var s *sqlitestore.Store
	e := newEnv(t, func(c *Config) {
		var err error
		s, err = sqlitestore.Open(context.Background(), sqlitestore.Config{Home: c.Home, Clock: clock()})
		if err != nil {
			t.Fatal(err)
		}
		c.Store, c.Index, c.Home = s, nil, ""
		c.ModelName = "scripted-model"
	})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Store.Close() = %v", err)
		}
	})
	return e, s
}

// TestStoreIndexesTreeAsWritten: on a Store, every agent of a tree is in
// the index with its parent, path and source as soon as it ran, without a
// rebuild; a restart resumes the tree through the Store.
func TestStoreIndexesTreeAsWritten(t *testing.T) {
	e, s := storeEnv(t)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"researcher","message":"look","fork_turns":"none"}`),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"writer","message":"write"}`),
		modeltest.Text("root done"),
		modeltest.Text("root again"))
	m.Route(modeltest.ForAgent("/root/researcher"),
		modeltest.CallID("c3", "spawn_agent", `{"task_name":"checker","message":"check","fork_turns":"1"}`),
		modeltest.Text("researcher done"))
	m.Route(modeltest.ForAgent("/root/writer"), modeltest.Text("writer done"))
	m.Route(modeltest.ForAgent("/root/researcher/checker"), modeltest.Text("checker done"))

	root := e.start()
	e.submit(root, "investigate zebras")
	byPath := map[string]rollout.ThreadID{"/root": root.ID()}
	for _, p := range []string{"/root/researcher/checker", "/root/researcher", "/root/writer"} {
		byPath[p] = e.waitStatus(root, p, StatusCompleted).id
	}
	ctx := context.Background()

	page, err := s.List(ctx, sqlitestore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[rollout.ThreadID]sqlitestore.Thread{}
	for _, r := range page.Threads {
		rows[r.ID] = r
	}
	for _, tt := range []struct {
		path, parent, source string
	}{
		{"/root", "", "exec"},
		{"/root/researcher", "/root", "subagent"},
		{"/root/writer", "/root", "subagent"},
		{"/root/researcher/checker", "/root/researcher", "subagent"},
	} {
		r, ok := rows[byPath[tt.path]]
		if !ok {
			t.Errorf("List() has no row for %s", tt.path)
			continue
		}
		var wantParent rollout.ThreadID
		if tt.parent != "" {
			wantParent = byPath[tt.parent]
		}
		if r.ParentThreadID != wantParent {
			t.Errorf("%s: ParentThreadID = %q, want %q", tt.path, r.ParentThreadID, wantParent)
		}
		if r.SourceKind != tt.source {
			t.Errorf("%s: SourceKind = %q, want %q", tt.path, r.SourceKind, tt.source)
		}
		if tt.path != "/root" && r.AgentPath != tt.path {
			t.Errorf("%s: AgentPath = %q", tt.path, r.AgentPath)
		}
		if r.SessionID != root.ID() {
			t.Errorf("%s: SessionID = %q, want %q", tt.path, r.SessionID, root.ID())
		}
		// turn_context lines are written by the agent's turns: the row
		// follows the rollout as it is written.
		if r.Model != "scripted-model" {
			t.Errorf("%s: Model = %q, want scripted-model (row not updated by its turns)", tt.path, r.Model)
		}
		if r.UpdatedAt.IsZero() {
			t.Errorf("%s: UpdatedAt is zero", tt.path)
		}
	}
	if r := rows[root.ID()]; r.Preview != "investigate zebras" || r.Title != "investigate zebras" {
		t.Errorf("root row Preview, Title = %q, %q, want the first user message", r.Preview, r.Title)
	}

	children, err := s.Children(ctx, root.ID(), sqlitestore.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := threadPaths(children.Threads), []string{"/root/researcher", "/root/writer"}; !slices.Equal(got, want) {
		t.Errorf("Children(root) = %v, want %v", got, want)
	}
	desc, err := s.Descendants(ctx, root.ID(), sqlitestore.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := threadPaths(desc.Threads), []string{"/root/researcher", "/root/researcher/checker", "/root/writer"}; !slices.Equal(got, want) {
		t.Errorf("Descendants(root) = %v, want %v", got, want)
	}
	hits, err := s.Search(ctx, rollout.SearchOptions{Query: "investigate zebras"})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, h := range hits.Hits {
		if h.Thread.ID == "" {
			t.Errorf("Search hit %s has no index row", h.ThreadID)
		}
		found = append(found, string(h.ThreadID))
	}
	// The writer forked the full history, so it holds the user message
	// too; the researcher (fork none) and checker (last turn of the
	// researcher's mail) do not.
	slices.Sort(found)
	want := []string{string(root.ID()), string(byPath["/root/writer"])}
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("Search(investigate zebras) = %v, want %v", found, want)
	}

	before := rows[root.ID()].UpdatedAt
	e.restart()
	res, err := e.rt.Resume(ctx, root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	infos, err := e.rt.Tree(res.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 4 {
		t.Errorf("resumed tree has %d agents, want 4: %+v", len(infos), infos)
	}
	if r := e.submit(res, "again"); r.LastAgentMessage != "root again" {
		t.Errorf("turn after resume = %+v", r)
	}
	r, err := s.Get(ctx, root.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !r.UpdatedAt.After(before) {
		t.Errorf("root UpdatedAt after a resumed turn = %v, want after %v", r.UpdatedAt, before)
	}
}

func threadPaths(ts []sqlitestore.Thread) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.AgentPath)
	}
	slices.Sort(out)
	return out
}

func TestStoreConfigErrors(t *testing.T) {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"store and index", Config{Model: modeltest.New(t), Store: s, Index: newMemIndex()}},
		{"other home", Config{Model: modeltest.New(t), Store: s, Home: t.TempDir()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(context.Background(), tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Open() = %v, want ErrConfig", err)
			}
		})
	}
	rt, err := Open(context.Background(), Config{Model: modeltest.New(t), Store: s})
	if err != nil {
		t.Fatalf("Open(Store only) = %v", err)
	}
	defer rt.Close()
	if rt.Home() != s.Home() || !strings.HasPrefix(rt.Home(), "/") {
		t.Errorf("Home() = %q, want the Store's %q", rt.Home(), s.Home())
	}
}
