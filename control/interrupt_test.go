package control

import (
	"context"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent/modeltest"
)

// TestInterruptScope: Runtime.Interrupt with ScopeAgent stops only the
// agent's turn; with ScopeSubtree it stops the turns of the agent and its
// descendants; the rest of the tree goes on, and every agent stays live.
func TestInterruptScope(t *testing.T) {
	for _, tt := range []struct {
		scope InterruptScope
		b     StatusKind // /root/a/b's status after interrupting /root/a
	}{
		{ScopeAgent, StatusRunning},
		{ScopeSubtree, StatusInterrupted},
	} {
		t.Run(map[InterruptScope]string{ScopeAgent: "agent", ScopeSubtree: "subtree"}[tt.scope], func(t *testing.T) {
			e := newEnv(t, nil)
			m := e.model
			m.Route(modeltest.ForAgent("/root"),
				modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"x","fork_turns":"none"}`),
				modeltest.Text("spawned"))
			m.Route(modeltest.ForAgent("/root/a"),
				modeltest.CallID("c2", "spawn_agent", `{"task_name":"b","message":"x","fork_turns":"none"}`),
				modeltest.CallID("c3", "wait_agent", `{"timeout_ms":3600000}`))
			m.Route(modeltest.ForAgent("/root/a/b"), modeltest.CallID("c4", "wait_agent", `{"timeout_ms":3600000}`))
			root := e.start()
			e.submit(root, "go")
			a := e.waitStatus(root, "/root/a", StatusRunning)
			b := e.waitStatus(root, "/root/a/b", StatusRunning)
			waitFor(t, "a and b waiting", func() bool {
				return len(e.requestsOf("/root/a")) == 2 && len(e.requestsOf("/root/a/b")) == 1
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := e.rt.Interrupt(ctx, a.id, tt.scope); err != nil {
				t.Fatalf("Interrupt() = %v", err)
			}
			if st := a.status(); st.Kind != StatusInterrupted {
				t.Errorf("/root/a status = %v, want interrupted", st)
			}
			if st := b.status(); st.Kind != tt.b {
				t.Errorf("/root/a/b status = %v, want %s", st, tt.b)
			}
			if st := root.Status(); st.Kind != StatusCompleted {
				t.Errorf("/root status = %v, want completed", st)
			}
			if infos, _ := e.rt.Tree(root.ID()); len(infos) != 3 {
				t.Errorf("Tree() has %d agents after the interrupt, want 3", len(infos))
			}
		})
	}
}
