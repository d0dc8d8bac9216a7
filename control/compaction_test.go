package control

import (
	"context"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
)

// TestTreeCompaction runs a root with Config.Compaction: a turn that
// reports more tokens than the limit makes the next turn compact first
// (a summarization request, then the turn in window 1), and after a
// restart the resumed root continues window 1 with the same lineage.
func TestTreeCompaction(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Compaction = agent.CompactionConfig{ContextWindow: 4000, TokenLimit: 1000}
	})
	e.model.Route(modeltest.ForAgent("/root"),
		modeltest.Respond(modeltest.Text("first answer"), modeltest.Tokens(5000)),
		modeltest.Text("summary of the first turn"),
		modeltest.Call("spawn_agent", `{"task_name":"w","message":"count","fork_turns":"none"}`),
		modeltest.Text("spawned"))
	e.model.Route(modeltest.ForAgent("/root/w"),
		modeltest.Respond(modeltest.Text("one two three"), modeltest.Tokens(5000)))

	root := e.start()
	e.submit(root, "first question")
	if got := root.Inner().Window(); got.Number != 0 || got.ID == "" {
		t.Fatalf("window after one turn = %+v, want window 0 with an id", got)
	}
	before := root.Inner().Window()
	res := e.submit(root, "second question")
	if res.LastAgentMessage != "spawned" {
		t.Fatalf("second turn = %+v", res)
	}
	after := root.Inner().Window()
	if after.Number != 1 || after.FirstID != before.ID || after.PreviousID != before.ID || after.ID == before.ID {
		t.Fatalf("window after the compacting turn = %+v, want number 1 following %+v", after, before)
	}
	reqs := e.requestsOf("/root")
	if len(reqs) != 4 {
		t.Fatalf("root made %d requests, want 4 (turn, summary, two steps)", len(reqs))
	}
	if texts := modeltest.UserTexts(reqs[1]); len(texts) == 0 || texts[len(texts)-1] != agent.DefaultSummarizationPrompt {
		t.Errorf("second request does not end with the summarization prompt: %q", texts)
	}
	if got := reqs[2].Metadata.WindowID; got != agent.WindowID(root.ID(), 1) {
		t.Errorf("turn after compaction runs in window %q, want window 1", got)
	}

	e.waitStatus(root, "/root/w", StatusCompleted)

	e.restart()
	res2, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	if got := res2.Inner().Window(); got != after {
		t.Errorf("resumed window = %+v, want %+v", got, after)
	}
}
