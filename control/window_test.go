package control

import (
	"context"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// A new thread's session_meta names window 0; a resumed thread continues
// the window of its newest compaction (SPEC-agent 3.8).
func TestContextWindowAcrossResume(t *testing.T) {
	e := newEnv(t, nil)
	e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("one"), modeltest.Text("two"))
	root := e.start()
	e.submit(root, "first")
	path, err := rollout.FindThread(e.home, root.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := rollout.ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ContextWindow == nil || meta.ContextWindow.WindowID == "" {
		t.Fatalf("session_meta.context_window = %+v, want window 0's id", meta.ContextWindow)
	}
	w0 := meta.ContextWindow.WindowID
	if got := e.requestsOf("/root")[0].Metadata.WindowID; got != agent.WindowID(root.ID(), 0) {
		t.Errorf("first request window = %q", got)
	}
	e.restart()

	// A compaction recorded while the tree was down moved the thread to
	// window 1.
	rec, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	one := uint64(1)
	c := &rollout.Compacted{Message: "s", ReplacementHistory: []rollout.ResponseItem{*rollout.NewMessage(rollout.RoleUser, "first")},
		WindowNumber: &one, FirstWindowID: w0, PreviousWindowID: w0, WindowID: "01a21137-0130-7d10-887a-5cd088113e61"}
	if err := rec.AppendItems(rollout.Item{Timestamp: e.cfg.Clock(), Payload: c}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.submit(res, "second")
	reqs := e.requestsOf("/root")
	if got := reqs[len(reqs)-1].Metadata.WindowID; got != agent.WindowID(root.ID(), 1) {
		t.Errorf("request window after resume = %q, want window 1", got)
	}
}
