package control

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// openTurn appends a task_started with no end to the rollout at path, as a
// crash in the middle of a turn leaves it.
func openTurn(t *testing.T, path, turnID string) {
	t.Helper()
	rec, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: path, Clock: clock()})
	if err != nil {
		t.Fatalf("ResumeRecorder(%s) = %v", path, err)
	}
	ev, err := rollout.NewEvent(rollout.TurnStarted{TurnID: turnID})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AppendItems(rollout.Item{Timestamp: clock()(), Payload: ev}); err != nil {
		t.Fatalf("AppendItems() = %v", err)
	}
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

// TestOpenTurnResumesInterrupted: a turn open at a crash (task_started, no
// task_complete) in the root's and a child's rollouts resumes as
// interrupted, never running; a turn_aborted closes it in the rollout; the
// root then runs a new turn.
func TestOpenTurnResumesInterrupted(t *testing.T) {
	e := newEnv(t, nil)
	e.model.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"w","message":"task","fork_turns":"none"}`),
		modeltest.Text("spawned"),
		modeltest.Text("after resume"))
	e.model.Route(modeltest.ForAgent("/root/w"), modeltest.Text("w done"))
	root := e.start()
	e.submit(root, "spawn")
	w := e.waitStatus(root, "/root/w", StatusCompleted)
	rootPath, wPath, wid := root.n.rec.Path(), w.rec.Path(), w.id
	e.restart()
	openTurn(t, rootPath, "crash-root")
	openTurn(t, wPath, "crash-w")

	e.open()
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	for _, tt := range []struct {
		name, path, turn string
		id               rollout.ThreadID
	}{
		{"/root", rootPath, "crash-root", root.ID()},
		{"/root/w", wPath, "crash-w", wid},
	} {
		if got := e.rt.Status(tt.id).Kind; got != StatusInterrupted {
			t.Errorf("Status(%s) after resume = %s, want %s", tt.name, got, StatusInterrupted)
		}
		b, err := os.ReadFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		last := lines[len(lines)-1]
		if !bytes.Contains(last, []byte(`"turn_aborted"`)) || !bytes.Contains(last, []byte(tt.turn)) {
			t.Errorf("%s rollout ends with %s, want a turn_aborted for %s", tt.name, last, tt.turn)
		}
	}
	if got := e.submit(res, "again"); got.LastAgentMessage != "after resume" {
		t.Errorf("root turn after resume = %+v, want last message %q", got, "after resume")
	}
	if got := e.rt.Status(root.ID()).Kind; got != StatusCompleted {
		t.Errorf("Status(/root) after a new turn = %s, want %s", got, StatusCompleted)
	}
}

// TestResumeAppliesRollbackAsCodex: resume rebuilds history with
// rollout.ReconstructHistory, so a rollback counts mail (agent_message) as
// a user turn, as Codex does: rolling back one turn drops the turn the
// mail started, not the user's turn before it.
func TestResumeAppliesRollbackAsCodex(t *testing.T) {
	e := newEnv(t, nil)
	e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("answer one"), modeltest.Text("answer two"))
	root := e.start()
	e.submit(root, "one")
	if err := e.rt.deliver(root.n, mailbox.Message{Author: "/root/x", Recipient: "/root",
		Content: []mailbox.Part{mailbox.Text("mail")}, TriggerTurn: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mail's turn", func() bool {
		st := root.Status()
		return st.Kind == StatusCompleted && st.Message == "answer two"
	})
	path := root.n.rec.Path()
	e.restart()

	rec, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: path, Clock: clock()})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := rollout.NewEvent(rollout.ThreadRolledBack{NumTurns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AppendItems(rollout.Item{Timestamp: clock()(), Payload: ev}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	var got []string
	for _, it := range res.History() {
		if it.Type == rollout.ItemMessage && it.Role == rollout.RoleDeveloper {
			continue // the multi-agent mode message
		}
		got = append(got, renderItem(&it))
	}
	want := []string{"user: one", "assistant: answer one"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("history after rollback = %q, want %q", got, want)
	}
}

// TestLoadThreadMatchesLoadHistory: on real Codex 0.169 rollouts (and one
// of troupe's), the history loadThread reconstructs (holding only the
// items the reconstruction reads) is rollout.LoadHistory's.
func TestLoadThreadMatchesLoadHistory(t *testing.T) {
	files, err := filepath.Glob("../rollout/sqlitestore/testdata/codex-0.169/*/codex_home/sessions/*/*/*/rollout-*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus rollouts: %v", err)
	}
	e := newEnv(t, nil)
	e.model.Route(modeltest.ForAgent("/root"), modeltest.Text("one"))
	root := e.start()
	e.submit(root, "hello")
	files = append(files, root.n.rec.Path())
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fi, err := rollout.ParseFileName(f)
			if err != nil {
				t.Fatal(err)
			}
			home := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(f)))))
			rt, err := Open(context.Background(), Config{Home: home, Model: modeltest.New(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			st, err := rt.loadThread(fi.ID)
			if err != nil {
				t.Fatalf("loadThread() = %v", err)
			}
			want, _, err := rollout.LoadHistory(f)
			if err != nil {
				t.Fatalf("LoadHistory() = %v", err)
			}
			if !reflect.DeepEqual(st.hist, want) {
				t.Errorf("loadThread history differs from LoadHistory:\n got %d items, window %+v, usage %+v\nwant %d items, window %+v, usage %+v",
					len(st.hist.Items), st.hist.Window, st.hist.TokenUsage, len(want.Items), want.Window, want.TokenUsage)
			}
		})
	}
}
