package control

import (
	"context"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
)

// TestCompactChildKeepsStatus compacts a child that finished its task: the
// compaction sends its parent no FINAL_ANSWER and the child's status stays
// completed with its answer.
func TestCompactChildKeepsStatus(t *testing.T) {
	e := newEnv(t, nil)
	e.model.Route(modeltest.ForAgent("/root"),
		modeltest.Call("spawn_agent", `{"task_name":"w","message":"work","fork_turns":"none"}`),
		modeltest.Text("root done"))
	e.model.Route(modeltest.ForAgent("/root/w"), modeltest.Text("w done"), modeltest.Text("summary of w"))
	root := e.start()
	e.submit(root, "go")
	w := e.waitStatus(root, "/root/w", StatusCompleted)
	rootNode := w.parent
	// Notices from w so far: in the root's history or waiting in its inbox.
	notices := func() int {
		n := rootNode.inbox.Len()
		for _, it := range root.History() {
			if strings.Contains(it.Text(), "FINAL_ANSWER") {
				n++
			}
		}
		return n
	}
	before := notices()
	if before != 1 {
		t.Fatalf("%d completion notices before Compact, want 1", before)
	}
	ctx := context.Background()
	turn, err := w.agent.Compact(ctx)
	if err != nil {
		t.Fatalf("Compact() = %v", err)
	}
	if res, err := turn.Wait(ctx); err != nil || res.Err != nil || !res.Compaction {
		t.Fatalf("compaction turn = %+v, %v", res, err)
	}
	if got := w.agent.Window().Number; got != 1 {
		t.Errorf("child window after Compact = %d, want 1", got)
	}
	if got := w.status(); got.Kind != StatusCompleted || got.Message != "w done" {
		t.Errorf("child status after Compact = %+v, want completed with \"w done\"", got)
	}
	if got := notices(); got != before {
		t.Errorf("%d completion notices after Compact, want still %d (a compaction is not a task's end)", got, before)
	}
}
