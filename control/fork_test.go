package control

import (
	"context"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// TestRuntimeFork: Runtime.Fork copies the source's lines (rollout.Fork,
// or Store.Fork on a Store): the full history or the last N user turns,
// into a new root (its own session, forked_from_id = the source) that
// continues from the copy; ForkNone starts empty. The source is left as
// it was.
func TestRuntimeFork(t *testing.T) {
	for _, onStore := range []bool{false, true} {
		name := "recorder"
		if onStore {
			name = "store"
		}
		t.Run(name, func(t *testing.T) {
			var e *env
			if onStore {
				e, _ = storeEnv(t)
			} else {
				e = newEnv(t, nil)
			}
			e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("answer one"), modeltest.Text("answer two"),
				modeltest.Text("full fork"), modeltest.Text("last fork"), modeltest.Text("empty fork"))
			root := e.start()
			e.submit(root, "one")
			e.submit(root, "two")
			srcLines := len(e.threadItems(root.ID()))
			ctx := context.Background()
			tests := []struct {
				mode ForkMode
				want []string // user and assistant texts of the fork, before its own turn
			}{
				{ForkMode{Kind: ForkFullHistory}, []string{"user: one", "assistant: answer one", "user: two", "assistant: answer two"}},
				{ForkLastTurns(1), []string{"user: two", "assistant: answer two"}},
				{ForkMode{Kind: ForkNone}, nil},
			}
			for _, tt := range tests {
				f, err := e.rt.Fork(ctx, root.ID(), tt.mode, ThreadOptions{})
				if err != nil {
					t.Fatalf("Fork(%+v) = %v", tt.mode, err)
				}
				if got := messages(f.History()); strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
					t.Errorf("Fork(%+v) history = %q, want %q", tt.mode, got, tt.want)
				}
				meta, err := rollout.ReadMeta(f.n.rec.Path())
				if err != nil {
					t.Fatal(err)
				}
				if meta.ForkedFromID != root.ID() || meta.SessionID != f.ID() || meta.ParentThreadID != "" {
					t.Errorf("Fork(%+v) meta: forked_from %s, session %s, parent %q; want %s, %s, none",
						tt.mode, meta.ForkedFromID, meta.SessionID, meta.ParentThreadID, root.ID(), f.ID())
				}
				if baseInstructions(meta) != "be helpful" {
					t.Errorf("Fork(%+v) base instructions = %q, want the source's", tt.mode, baseInstructions(meta))
				}
				e.submit(f, "in the fork")
			}
			if n := len(e.threadItems(root.ID())); n != srcLines {
				t.Errorf("source has %d lines after the forks, want %d", n, srcLines)
			}
		})
	}
}

// messages renders the user and assistant messages of hist.
func messages(hist []rollout.ResponseItem) []string {
	var out []string
	for _, it := range hist {
		if it.Type == rollout.ItemMessage && (it.Role == rollout.RoleUser || it.Role == rollout.RoleAssistant) {
			out = append(out, renderItem(&it))
		}
	}
	return out
}
