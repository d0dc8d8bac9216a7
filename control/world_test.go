package control

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/rollout"
)

func writeTestFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// worldEnv opens a runtime whose agents work in a local environment
// holding a capability root "kit" (skill "review", tool "echo"), and
// returns it with the root in session_meta form.
func worldEnv(t *testing.T) (*env, []rollout.CapabilityRoot) {
	t.Helper()
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	kit := filepath.Join(dir, "kit")
	writeTestFile(t, filepath.Join(kit, "skills", "review", "SKILL.md"), "---\nname: review\ndescription: Review a diff\n---\nLook closely.\n", 0o644)
	writeTestFile(t, filepath.Join(kit, "bin", "echo-args"), "#!/bin/sh\ncat\n", 0o755)
	writeTestFile(t, filepath.Join(kit, "tools.json"), `{"tools":[{"name":"echo","description":"Echo","command":["bin/echo-args"]}]}`, 0o644)
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir, Shell: environment.Shell{Name: "bash", Path: "/bin/bash"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: slog.New(slog.DiscardHandler)})
	if _, err := reg.Register(environment.Registration{ID: environment.LocalID, Env: local}); err != nil {
		t.Fatal(err)
	}
	// Registered before newEnv's cleanup, so it runs after the runtime's
	// Close.
	t.Cleanup(func() { reg.Close() })
	roots, err := CapabilityRoots(capability.EnvironmentRoot("kit", environment.LocalID, kit))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		c.Environments = reg
		c.Logger = slog.New(slog.DiscardHandler)
	})
	return e, roots
}

func requestText(r *agent.Request) string {
	var b strings.Builder
	for _, it := range r.Input {
		for _, p := range it.Content {
			b.WriteString(p.Text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func advertises(r *agent.Request, name string) bool {
	for _, s := range r.Tools {
		if s.Name == name {
			return true
		}
	}
	return false
}

// threadItems reads the rollout of thread id.
func (e *env) threadItems(id rollout.ThreadID) []rollout.Item {
	e.t.Helper()
	p, err := rollout.FindThread(e.home, id, false)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []rollout.Item
	for it, err := range rollout.Read(p, rollout.ReadOptions{}) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func worldFlags(items []rollout.Item) []bool {
	var out []bool
	for _, it := range items {
		if w, ok := it.Payload.(*rollout.WorldState); ok {
			out = append(out, w.Full)
		}
	}
	return out
}

// TestSelectedRootsResumeAndInherit is SPEC-environment 5.3 item 7: the
// selected capability roots survive resume (read back from session_meta,
// not from the options) and a spawned child inherits them; both agents get
// the root's tool and see it in their world state, which also shows their
// place in the tree.
func TestSelectedRootsResumeAndInherit(t *testing.T) {
	e, roots := worldEnv(t)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("s1", "spawn_agent", `{"task_name":"a","message":"use the kit","fork_turns":"none"}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/a"),
		modeltest.CallID("e1", "echo", `{"x":1}`),
		modeltest.Text("a done"))
	root, err := e.rt.Start(context.Background(), ThreadOptions{Instructions: "be helpful", SelectedCapabilityRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	e.submit(root, "delegate")
	child := e.waitStatus(root, "/root/a", StatusCompleted)
	childID := child.id

	rootReqs, childReqs := e.requestsOf("/root"), e.requestsOf("/root/a")
	for _, r := range []*agent.Request{rootReqs[0], childReqs[0]} {
		if !advertises(r, "echo") {
			t.Errorf("%s request tools lack the kit's echo", r.Metadata.AgentPath)
		}
		text := requestText(r)
		for _, want := range []string{`<root id="kit" environment="local"`, `<skill name="review"`, "<path>" + r.Metadata.AgentPath + "</path>", "<environment_context>"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s world state lacks %q:\n%s", r.Metadata.AgentPath, want, text)
			}
		}
	}
	if out, _ := modeltest.Output(childReqs[1], "e1"); out != `{"x":1}` {
		t.Errorf("child's echo output = %q, want the arguments", out)
	}
	// The root's step after the spawn shows its new child.
	if diff := strings.TrimPrefix(requestText(rootReqs[1]), requestText(rootReqs[0])); !strings.Contains(diff, "- /root/a") {
		t.Errorf("root's next step lacks the child in its tree diff:\n%s", diff)
	}
	for _, id := range []rollout.ThreadID{root.ID(), childID} {
		meta := e.threadItems(id)[0].Payload.(*rollout.SessionMeta)
		if len(meta.SelectedCapabilityRoots) != 1 || meta.SelectedCapabilityRoots[0].ID != "kit" {
			t.Errorf("session_meta of %s selected_capability_roots = %+v, want kit", id, meta.SelectedCapabilityRoots)
		}
	}
	rootWorld := len(worldFlags(e.threadItems(root.ID())))

	// Resume without naming any root: they come back from session_meta.
	e.restart()
	m.Route(modeltest.ForAgent("/root"), modeltest.Text("resumed"))
	m.Route(modeltest.ForAgent("/root/a"), modeltest.Text("child resumed"))
	resumed, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.submit(resumed, "again")
	rc, err := e.rt.Agent(childID)
	if err != nil {
		t.Fatal(err)
	}
	e.submit(rc, "you too")
	for _, path := range []string{"/root", "/root/a"} {
		reqs := e.requestsOf(path)
		last := reqs[len(reqs)-1]
		if !advertises(last, "echo") {
			t.Errorf("%s after resume: tools lack echo", path)
		}
		if n := strings.Count(requestText(last), `<root id="kit"`); n != 1 {
			t.Errorf("%s after resume shows the kit %d times, want once (no restatement)", path, n)
		}
	}
	if got := len(worldFlags(e.threadItems(root.ID()))); got != rootWorld {
		t.Errorf("root world_state records after resume = %d, want %d (nothing changed)", got, rootWorld)
	}
}

// TestForkWorldState: a full-history fork starts from its parent's world
// state (a full record after the copied history, then only what differs
// for the child: a patch); a last-N-turn fork gets full context on its
// first turn.
func TestForkWorldState(t *testing.T) {
	for _, tc := range []struct {
		fork      string
		wantFlags []bool // the child's world_state records, in order
		restated  bool   // the child restates the environments itself
	}{
		{"all", []bool{true, false}, false},
		{"1", []bool{true}, true},
	} {
		t.Run(tc.fork, func(t *testing.T) {
			e, roots := worldEnv(t)
			m := e.model
			m.Route(modeltest.ForAgent("/root"),
				modeltest.CallID("s1", "spawn_agent", `{"task_name":"a","message":"go","fork_turns":"`+tc.fork+`"}`),
				modeltest.Text("root done"))
			m.Route(modeltest.ForAgent("/root/a"), modeltest.Text("a done"))
			root, err := e.rt.Start(context.Background(), ThreadOptions{Instructions: "be helpful", SelectedCapabilityRoots: roots})
			if err != nil {
				t.Fatal(err)
			}
			e.submit(root, "fork me")
			child := e.waitStatus(root, "/root/a", StatusCompleted)
			flags := worldFlags(e.threadItems(child.id))
			if len(flags) != len(tc.wantFlags) {
				t.Fatalf("child world_state full flags = %v, want %v", flags, tc.wantFlags)
			}
			for i := range flags {
				if flags[i] != tc.wantFlags[i] {
					t.Fatalf("child world_state full flags = %v, want %v", flags, tc.wantFlags)
				}
			}
			// The environments are shown once: inherited (before the copied
			// user text) or restated for the child (after it).
			text := requestText(e.requestsOf("/root/a")[0])
			if n := strings.Count(text, "<environment_context>"); n != 1 {
				t.Errorf("child's first request has %d <environment_context>, want 1:\n%s", n, text)
			}
			if inherited := strings.Index(text, "<environment_context>") < strings.Index(text, "fork me"); inherited == tc.restated {
				t.Errorf("child's environment context inherited = %v, want %v:\n%s", inherited, !tc.restated, text)
			}
			if !strings.Contains(text, "<path>/root/a</path>") {
				t.Errorf("child's first request lacks its own path:\n%s", text)
			}
		})
	}
}

// TestContextualFragmentsAreNotTurns: a world-state fragment recorded as a
// user message (<environment_context>) is not a user turn for last-N forks
// and rollbacks.
func TestContextualFragmentsAreNotTurns(t *testing.T) {
	final := rollout.NewMessage(rollout.RoleAssistant, "done")
	final.Phase = rollout.PhaseFinalAnswer
	hist := []rollout.ResponseItem{
		*rollout.NewMessage(rollout.RoleUser, "first"),
		*rollout.NewMessage(rollout.RoleUser, "second"),
		*rollout.NewMessage(rollout.RoleUser, "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"),
		*final,
	}
	got := forkHistory(hist, ForkLastTurns(1))
	if len(got) != 3 || got[0].Text() != "second" {
		t.Errorf("forkHistory(last 1) starts with %q (%d items), want \"second\" (3 items)", got[0].Text(), len(got))
	}
	// A fragment without a tag that the agent marked as harness context
	// (a custom section, or the capability roots when an environment came
	// up mid-turn) is not a turn either.
	marked := rollout.NewMessage(rollout.RoleUser, "Skills now available: go-review")
	marked.Passthrough = &rollout.Passthrough{}
	marked.Passthrough.Extra.Set("content_item_metadata", json.RawMessage(`[{"provenance":{"type":"harness","hook":false}}]`))
	if !agent.IsHarnessContext(marked) {
		t.Fatal("the marked fragment is not harness context")
	}
	withMarked := append(append([]rollout.ResponseItem(nil), hist[:2]...), *marked, *final)
	if got := forkHistory(withMarked, ForkLastTurns(1)); len(got) != 3 || got[0].Text() != "second" {
		t.Errorf("forkHistory(last 1) with a marked fragment starts with %q (%d items), want \"second\" (3 items)", got[0].Text(), len(got))
	}
	// Resume applies rollbacks with rollout.ReconstructHistory.
	ptrs := make([]*rollout.ResponseItem, len(hist))
	for i := range hist {
		ptrs[i] = &hist[i]
	}
	if rb := rollout.DropLastUserTurns(ptrs, 1); len(rb) != 1 || rb[0].Text() != "first" {
		t.Errorf("DropLastUserTurns(1) = %d items, want only \"first\"", len(rb))
	}
}

// TestRuntimeForkWorldState: Runtime.Fork copies the source's rollout
// lines (rollout.Fork), world_state records included, of a live thread and
// of a stored one, and the fork starts from them as a resumed thread does:
// its first turn restates nothing. A last-N fork keeps the metadata of the
// turns it copies, so with the whole (single) turn kept it inherits too.
func TestRuntimeForkWorldState(t *testing.T) {
	e, roots := worldEnv(t)
	e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("one"), modeltest.Text("f1"), modeltest.Text("f2"), modeltest.Text("f3"))
	opts := ThreadOptions{Instructions: "be helpful", SelectedCapabilityRoots: roots}
	root, err := e.rt.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.submit(root, "hello")
	check := func(name string, f *Agent, want []bool, inherited bool) {
		t.Helper()
		copied := len(e.threadItems(f.ID()))
		e.submit(f, "in the fork")
		items := e.threadItems(f.ID())
		if got := worldFlags(items[:copied]); len(got) == 0 {
			t.Errorf("%s: the fork copied no world_state record", name)
		}
		restated := false
		for _, full := range worldFlags(items[copied:]) {
			restated = restated || full
		}
		if restated == inherited {
			t.Errorf("%s: world state inherited (no full record in the fork's first turn) = %v, want %v", name, !restated, inherited)
		}
		got := worldFlags(items)
		if len(got) != len(want) {
			t.Errorf("%s: fork's world_state full flags = %v, want %v", name, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: fork's world_state full flags = %v, want %v", name, got, want)
			}
		}
		reqs := e.model.Requests()
		if n := strings.Count(requestText(reqs[len(reqs)-1]), "<environment_context>"); n != 1 {
			t.Errorf("%s: fork's request shows the environments %d times, want 1", name, n)
		}
	}
	live, err := e.rt.Fork(context.Background(), root.ID(), ForkMode{Kind: ForkFullHistory}, opts)
	if err != nil {
		t.Fatal(err)
	}
	check("live full", live, []bool{true}, true)
	lastN, err := e.rt.Fork(context.Background(), root.ID(), ForkLastTurns(1), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The copied turn keeps its world_state record: nothing is restated.
	check("last 1", lastN, []bool{true}, true)
	e.restart()
	stored, err := e.rt.Fork(context.Background(), root.ID(), ForkMode{Kind: ForkFullHistory}, opts)
	if err != nil {
		t.Fatal(err)
	}
	check("stored full", stored, []bool{true}, true)
}
