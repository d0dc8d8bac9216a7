package control

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

func TestSpawnTreeDepth3(t *testing.T) {
	e := newEnv(t, nil)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"task a","fork_turns":"none"}`),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"a","message":"again","fork_turns":"none"}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/a"),
		modeltest.CallID("c3", "spawn_agent", `{"task_name":"b","message":"task b","fork_turns":"none"}`),
		modeltest.Text("a done"))
	m.Route(modeltest.ForAgent("/root/a/b"),
		modeltest.CallID("c4", "spawn_agent", `{"task_name":"c","message":"task c","fork_turns":"none"}`),
		modeltest.Text("b done"))
	m.Route(modeltest.ForAgent("/root/a/b/c"), modeltest.Text("c done"))

	root := e.start()
	if res := e.submit(root, "build a tree"); res.LastAgentMessage != "root done" {
		t.Fatalf("root turn = %+v", res)
	}
	reqs := e.requestsOf("/root")
	if out, _ := modeltest.Output(reqs[1], "c1"); out != `{"task_name":"/root/a"}` {
		t.Errorf("spawn_agent output = %q, want {\"task_name\":\"/root/a\"}", out)
	}
	if out, _ := modeltest.Output(reqs[2], "c2"); out != "agent path `/root/a` already exists" {
		t.Errorf("duplicate spawn output = %q", out)
	}
	c := e.waitStatus(root, "/root/a/b/c", StatusCompleted)
	b := e.waitStatus(root, "/root/a/b", StatusCompleted)
	a := e.waitStatus(root, "/root/a", StatusCompleted)

	ctx := context.Background()
	for _, tt := range []struct {
		parent *node
		want   []rollout.ThreadID
	}{{root.n, []rollout.ThreadID{a.id}}, {a, []rollout.ThreadID{b.id}}, {b, []rollout.ThreadID{c.id}}, {c, nil}} {
		edges, err := e.index.ChildEdges(ctx, tt.parent.id)
		if err != nil {
			t.Fatal(err)
		}
		var got []rollout.ThreadID
		for _, ed := range edges {
			got = append(got, ed.Child)
			if ed.Status != EdgeOpen {
				t.Errorf("edge %s -> %s status %s, want open", ed.Parent, ed.Child, ed.Status)
			}
		}
		if strings.Join(ids2s(got), ",") != strings.Join(ids2s(tt.want), ",") {
			t.Errorf("ChildEdges(%s) = %v, want %v", tt.parent.path, got, tt.want)
		}
	}
	infos, err := e.rt.Tree(root.ID())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, inf := range infos {
		paths = append(paths, inf.Path.String())
		if inf.SessionID != root.ID() {
			t.Errorf("%s session = %s, want %s", inf.Path, inf.SessionID, root.ID())
		}
	}
	if got := strings.Join(paths, " "); got != "/root /root/a /root/a/b /root/a/b/c" {
		t.Errorf("Tree paths = %s", got)
	}
	// The child's first request holds its task as NEW_TASK mail.
	creq := e.requestsOf("/root/a/b/c")[0]
	if got := renderItem(&creq.Input[len(creq.Input)-1]); got != `agent_message /root/a/b -> /root/a/b/c: Message Type: NEW_TASK\nTask name: /root/a/b/c\nSender: /root/a/b\nPayload:\n[sealed 6B]` {
		t.Errorf("child request last item = %s", got)
	}
}

func ids2s(ids []rollout.ThreadID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

func TestResumeTreeAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"task a","fork_turns":"none"}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/a"),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"b","message":"task b","fork_turns":"none"}`),
		modeltest.Text("a done"))
	m.Route(modeltest.ForAgent("/root/a/b"), modeltest.Text("b done"))
	root := e.start()
	e.submit(root, "go")
	b := e.waitStatus(root, "/root/a/b", StatusCompleted)
	e.waitStatus(root, "/root/a", StatusCompleted)
	bID := b.id
	e.restart()
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	infos, err := e.rt.Tree(res.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inf := range infos {
		got = append(got, inf.Path.String()+"="+inf.Status.String())
		if inf.SessionID != root.ID() {
			t.Errorf("%s session = %s, want %s", inf.Path, inf.SessionID, root.ID())
		}
	}
	if s := strings.Join(got, " "); s != `/root={"completed":"root done"} /root/a={"completed":"a done"} /root/a/b={"completed":"b done"}` {
		t.Errorf("resumed tree = %s", s)
	}
	ag, err := e.rt.Agent(bID)
	if err != nil || ag.SessionID() != root.ID() || ag.Path().String() != "/root/a/b" {
		t.Errorf("grandchild after resume = %v, %v", ag, err)
	}
	if _, err := e.rt.Resume(context.Background(), bID, ThreadOptions{}); err == nil {
		t.Errorf("Resume(grandchild) = nil error, want ErrLoaded or ErrNotRoot")
	}
}

func TestMessagingToolsAndLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.MaxDepth = 1; c.Limits.MaxLiveAgents = 3 })
	m := e.model
	gate, rootGate := modeltest.NewGate(), modeltest.NewGate()
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("s1", "spawn_agent", `{"task_name":"w","message":"work","fork_turns":"none"}`),
		modeltest.CallID("s2", "send_message", `{"target":"w","message":"fyi"}`),
		modeltest.CallID("s3", "followup_task", `{"target":"/root","message":"x"}`),
		modeltest.CallID("s4", "send_message", `{"target":"nope","message":"x"}`),
		modeltest.CallID("s5", "spawn_agent", `{"task_name":"v","message":"v","fork_turns":"none"}`),
		modeltest.CallID("s6", "spawn_agent", `{"task_name":"u","message":"u","fork_turns":"none"}`),
		modeltest.Respond(modeltest.Pause(rootGate), modeltest.CallID("s7", "interrupt_agent", `{"target":"w"}`)),
		modeltest.CallID("s8", "list_agents", `{}`),
		modeltest.CallID("s9", "wait_agent", `{"timeout_ms":1}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/w"),
		modeltest.CallID("w1", "spawn_agent", `{"task_name":"deep","message":"d","fork_turns":"none"}`),
		modeltest.Respond(modeltest.Pause(gate), modeltest.Text("never")))
	m.Route(modeltest.ForAgent("/root/v"), modeltest.Text("v done"))
	m.AllowUnused()
	root := e.start()
	released := make(chan struct{})
	go func() {
		defer close(released)
		// The root interrupts w only once w sits in its second request.
		<-gate.Reached()
		rootGate.Release()
	}()
	e.submit(root, "go")
	gate.Release()
	<-released
	reqs := e.requestsOf("/root")
	last := reqs[len(reqs)-1]
	want := map[string]string{
		"s1": `{"task_name":"/root/w"}`,
		"s2": "",
		"s3": "Follow-up tasks can't target the root agent",
		"s4": "live agent path `/root/nope` not found",
		"s5": `{"task_name":"/root/v"}`,
		"s6": "collab spawn failed: agent thread limit reached (3 live agents per tree)",
	}
	for id, w := range want {
		if got, _ := modeltest.Output(last, id); got != w {
			t.Errorf("output %s = %q, want %q", id, got, w)
		}
	}
	// /root/v's FINAL_ANSWER may or may not have arrived before the wait.
	if got, _ := modeltest.Output(last, "s9"); got != `{"message":"Wait timed out.","timed_out":true}` && got != `{"message":"Wait completed.","timed_out":false}` {
		t.Errorf("wait_agent output = %q", got)
	}
	if got, _ := modeltest.Output(last, "s7"); !strings.HasPrefix(got, `{"previous_status":`) {
		t.Errorf("interrupt_agent output = %q", got)
	}
	if got, _ := modeltest.Output(last, "s8"); !strings.Contains(got, `"agent_name":"/root"`) || !strings.Contains(got, `"agent_name":"/root/w"`) {
		t.Errorf("list_agents output = %q", got)
	}
	wreqs := e.requestsOf("/root/w")
	if got, _ := modeltest.Output(wreqs[1], "w1"); got != "Agent depth limit reached (max depth 1). Solve the task yourself." {
		t.Errorf("deep spawn output = %q", got)
	}
	// send_message did not start a turn on its own; the interrupt aborted
	// w's paused turn.
	e.waitStatus(root, "/root/w", StatusInterrupted)
}

func TestCrossTreeRefused(t *testing.T) {
	e := newEnv(t, nil)
	other := e.start()
	e.model.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("x1", "send_message", `{"target":"`+string(other.ID())+`","message":"hi"}`),
		modeltest.Text("done"))
	root := e.start()
	e.model.Route(modeltest.ForThread(root.ID()))
	e.submit(root, "go")
	r := e.requestsOf("/root")
	got, _ := modeltest.Output(r[len(r)-1], "x1")
	if !strings.Contains(got, "belongs to another tree") {
		t.Errorf("cross-tree send = %q", got)
	}
}

// TestSQLiteIndexTreeAndClose spawns /root/a/b with the real SQLite index,
// checks children and descendants, then close_agent of /root/a closes both
// edges and stops the subtree.
func TestSQLiteIndexTreeAndClose(t *testing.T) {
	var ix *sqlitestore.Index
	e := newEnv(t, func(c *Config) {
		var err error
		ix, err = sqlitestore.OpenIndex(context.Background(), sqlitestore.Config{Home: c.Home})
		if err != nil {
			t.Fatal(err)
		}
		c.Index = SQLiteIndex(ix)
	})
	t.Cleanup(func() { ix.Close() }) // runs before the goroutine check
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"task a","fork_turns":"none"}`),
		modeltest.Text("root done"),
		modeltest.CallID("c9", "close_agent", `{"target":"a"}`),
		modeltest.Text("closed"))
	m.Route(modeltest.ForAgent("/root/a"),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"b","message":"task b","fork_turns":"none"}`),
		modeltest.Text("a done"))
	m.Route(modeltest.ForAgent("/root/a/b"), modeltest.Text("b done"))
	root := e.start()
	e.submit(root, "go")
	b := e.waitStatus(root, "/root/a/b", StatusCompleted)
	a := e.waitStatus(root, "/root/a", StatusCompleted)
	ctx := context.Background()
	desc, err := ix.SpawnDescendants(ctx, root.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range desc {
		got = append(got, string(d.Parent)+">"+string(d.Child)+":"+d.Status)
	}
	want := []string{string(root.ID()) + ">" + string(a.id) + ":open", string(a.id) + ">" + string(b.id) + ":open"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("SpawnDescendants = %v, want %v", got, want)
	}
	e.submit(root, "close a")
	desc, _ = ix.SpawnDescendants(ctx, root.ID(), "")
	for _, d := range desc {
		if d.Status != EdgeClosed {
			t.Errorf("edge to %s = %s after close_agent, want closed", d.Child, d.Status)
		}
	}
	if st := e.rt.Status(a.id); st.Kind != StatusNotFound {
		t.Errorf("Status(/root/a) after close = %v, want not_found", st)
	}
	if st := e.rt.Status(b.id); st.Kind != StatusNotFound {
		t.Errorf("Status(/root/a/b) after close = %v, want not_found", st)
	}
}

// TestSealedTaskText: with a local sealer the task text is plaintext only
// in the child's model request: not in any rollout, not in the parent's
// requests, not in the mail journal.
func TestSealedTaskText(t *testing.T) {
	t.Run("Model", func(t *testing.T) { testSealedTaskText(t, false) })
	// A model resolver (for comp_hash compactions) serves every turn: its
	// models are wrapped like Config.Model, so sealing still happens.
	t.Run("ModelFor", func(t *testing.T) { testSealedTaskText(t, true) })
}

func testSealedTaskText(t *testing.T, modelFor bool) {
	const secret = "SECRET-TASK-TEXT-42"
	e := newEnv(t, func(c *Config) {
		if modelFor {
			m := c.Model
			c.ModelFor = func(string) (agent.Model, error) { return m, nil }
		}
		s, err := mailbox.NewLocalSealer(mailbox.LocalSealerConfig{Keys: []mailbox.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Sealer = s
	})
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"w","message":"`+secret+`","fork_turns":"none"}`),
		modeltest.Text("root done"))
	m.Route(modeltest.ForAgent("/root/w"), modeltest.Text("w done"))
	root := e.start()
	e.submit(root, "go")
	e.waitStatus(root, "/root/w", StatusCompleted)
	for _, r := range e.requestsOf("/root") {
		for _, it := range r.Input {
			if b, _ := json.Marshal(it); bytes.Contains(b, []byte(secret)) {
				t.Errorf("parent request holds the task text: %s", b)
			}
		}
	}
	found := false
	for _, it := range e.requestsOf("/root/w")[0].Input {
		if b, _ := json.Marshal(it); bytes.Contains(b, []byte(secret)) {
			found = true
		}
	}
	if !found {
		t.Errorf("child request lacks the opened task text")
	}
	err := filepath.WalkDir(e.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the task text in plaintext", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSendMessageVersusFollowup: send_message leaves an idle child idle
// (its mail waits); followup_task starts a turn whose request holds both.
func TestSendMessageVersusFollowup(t *testing.T) {
	e := newEnv(t, nil)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"w","message":"first","fork_turns":"none"}`),
		modeltest.Text("spawned"),
		modeltest.CallID("c2", "send_message", `{"target":"w","message":"note"}`),
		modeltest.Text("sent"),
		modeltest.CallID("c3", "followup_task", `{"target":"/root/w","message":"second"}`),
		modeltest.Text("followed up"))
	m.Route(modeltest.ForAgent("/root/w"), modeltest.Text("first done"), modeltest.Text("second done"))
	root := e.start()
	e.submit(root, "spawn")
	w := e.waitStatus(root, "/root/w", StatusCompleted)
	e.submit(root, "send")
	if n := len(e.requestsOf("/root/w")); n != 1 {
		t.Errorf("child requests after send_message = %d, want 1", n)
	}
	e.submit(root, "follow up")
	waitFor(t, "second child turn", func() bool { return e.rt.Status(w.id).Message == "second done" })
	reqs := e.requestsOf("/root/w")
	var mail []string
	for _, it := range reqs[1].Input {
		if it.Type == rollout.ItemAgentMessage {
			mail = append(mail, strings.SplitN(it.Content[0].Text, "\n", 2)[0])
		}
	}
	if got := strings.Join(mail, ","); got != "Message Type: NEW_TASK,Message Type: MESSAGE,Message Type: NEW_TASK" {
		t.Errorf("child's second request mail = %s", got)
	}
}

// TestUndeliveredMailSurvivesRestart: mail queued on an idle child (not yet
// recorded) is redelivered after a restart and resume, exactly once.
func TestUndeliveredMailSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"w","message":"first","fork_turns":"none"}`),
		modeltest.Text("spawned"),
		modeltest.CallID("c2", "send_message", `{"target":"w","message":"note"}`),
		modeltest.Text("sent"),
		modeltest.CallID("c3", "followup_task", `{"target":"w","message":"second"}`),
		modeltest.Text("followed up"))
	m.Route(modeltest.ForAgent("/root/w"), modeltest.Text("first done"), modeltest.Text("second done"))
	root := e.start()
	e.submit(root, "spawn")
	w := e.waitStatus(root, "/root/w", StatusCompleted)
	e.submit(root, "send")
	wid := w.id
	e.restart()
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	e.submit(res, "follow up")
	waitFor(t, "second child turn", func() bool { return e.rt.Status(wid).Message == "second done" })
	reqs := e.requestsOf("/root/w")
	var mail []string
	for _, it := range reqs[len(reqs)-1].Input {
		if it.Type == rollout.ItemAgentMessage {
			mail = append(mail, strings.SplitN(it.Content[0].Text, "\n", 2)[0])
		}
	}
	if got := strings.Join(mail, ","); got != "Message Type: NEW_TASK,Message Type: MESSAGE,Message Type: NEW_TASK" {
		t.Errorf("child's request after resume, mail = %s", got)
	}
}
