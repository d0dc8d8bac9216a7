package control

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
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

// TestToolDeadline: a multi-agent tool call still running at
// Config.ToolDeadline is cancelled and the model gets a tool error; a call
// cut by its turn's end is left to the agent (the cancellation is
// returned).
func TestToolDeadline(t *testing.T) {
	n := &node{rt: &Runtime{cfg: Config{ToolDeadline: time.Millisecond}}}
	stuck := &maTool{n: n, spec: specInterrupt, fn: func(ctx context.Context, _ capability.Call) (capability.Output, error) {
		<-ctx.Done()
		return capability.Output{}, ctx.Err()
	}}
	out, err := stuck.Call(context.Background(), capability.Call{ID: "c1", Name: "interrupt_agent"})
	want := "collab tool failed: interrupt_agent did not finish within 1ms"
	if err != nil || !out.IsError || out.Text != want {
		t.Errorf("Call(past the deadline) = %+v, %v; want error output %q", out, err, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.rt.cfg.ToolDeadline = time.Hour
	if out, err := stuck.Call(ctx, capability.Call{ID: "c2", Name: "interrupt_agent"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Call(turn cancelled) = %+v, %v; want context.Canceled", out, err)
	}
}
