package control

import (
	"context"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
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
