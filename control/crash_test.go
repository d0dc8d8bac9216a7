package control

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// crashIndex runs hook once, right after the first edge is recorded.
type crashIndex struct {
	Index
	once sync.Once
	hook func(parent, child rollout.ThreadID)
}

func (c *crashIndex) UpsertEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error {
	if err := c.Index.UpsertEdge(ctx, parent, child, status); err != nil {
		return err
	}
	c.once.Do(func() { c.hook(parent, child) })
	return nil
}

// TestCrashAfterEdgeBeforeStart: the runtime goes down after the spawn edge
// is recorded and before the child is started; resuming the root starts
// the child at its path, in the root's session, and delivers its task.
func TestCrashAfterEdgeBeforeStart(t *testing.T) {
	ci := &crashIndex{}
	e := newEnv(t, func(c *Config) {
		ci.Index = c.Index
		c.Index = ci
	})
	var childID rollout.ThreadID
	closed := make(chan error, 1)
	ci.hook = func(_, child rollout.ThreadID) {
		childID = child
		go func() { closed <- e.rt.Close() }()
		waitFor(t, "runtime closing", func() bool {
			e.rt.mu.Lock()
			defer e.rt.mu.Unlock()
			return e.rt.closed
		})
	}
	// The root may or may not make its next request before Close cancels
	// its turn.
	e.model.AllowUnused()
	e.model.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"w","message":"the task","fork_turns":"none"}`),
		modeltest.Text("spawn failed"))
	e.model.Route(modeltest.ForAgent("/root/w"), modeltest.Text("w done"))
	root := e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	turn, err := root.Submit(ctx, "spawn")
	if err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	turn.Wait(ctx)
	if err := <-closed; err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if n := len(e.requestsOf("/root/w")); n != 0 {
		t.Fatalf("child requests before the crash = %d, want 0 (child must not have started)", n)
	}

	e.open()
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	w := e.waitStatus(res, "/root/w", StatusCompleted)
	if w.id != childID {
		t.Errorf("resumed child id = %s, want %s", w.id, childID)
	}
	a, err := e.rt.Agent(childID)
	if err != nil {
		t.Fatalf("Agent(child) = %v", err)
	}
	if a.Path().String() != "/root/w" || a.SessionID() != root.ID() {
		t.Errorf("child path, session = %s, %s; want /root/w, %s", a.Path(), a.SessionID(), root.ID())
	}
	if got := e.rt.Status(childID).Message; got != "w done" {
		t.Errorf("child status message = %q, want %q", got, "w done")
	}
	reqs := e.requestsOf("/root/w")
	if len(reqs) != 1 {
		t.Fatalf("child requests after resume = %d, want 1", len(reqs))
	}
	var tasks []string
	for _, it := range reqs[0].Input {
		if it.Type == rollout.ItemAgentMessage {
			b, _ := json.Marshal(it)
			tasks = append(tasks, string(b))
		}
	}
	if len(tasks) != 1 || !strings.Contains(tasks[0], "Message Type: NEW_TASK") || !strings.Contains(tasks[0], "the task") {
		t.Errorf("child's mail after resume = %q, want the one NEW_TASK", tasks)
	}
}
