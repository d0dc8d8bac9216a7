package rollout_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// A thread's life on disk: record a turn, read it back, reduce it to turns.
func Example() {
	home, err := os.MkdirTemp("", "rollout-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(home)

	id, _ := rollout.ParseThreadID("0194A1B2-0000-7000-8000-000000000001")
	created := time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return created }
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{
		Path:  rollout.SessionPath(home, created, id),
		Meta:  &rollout.SessionMeta{ID: id, Cwd: "/work", Originator: "example", CLIVersion: "0", HistoryMode: rollout.HistoryModePaginated},
		Clock: clock,
	})
	if err != nil {
		log.Fatal(err)
	}
	started, _ := rollout.NewEvent(rollout.TurnStarted{TurnID: "t1"})
	answer := rollout.NewMessage(rollout.RoleAssistant, "hello")
	last := "hello"
	done, _ := rollout.NewEvent(rollout.TurnComplete{TurnID: "t1", LastAgentMessage: &last})
	if err := rec.Append(started, rollout.NewMessage(rollout.RoleUser, "hi"), answer, done); err != nil {
		log.Fatal(err)
	}
	if err := rec.Close(); err != nil { // flushes
		log.Fatal(err)
	}

	path, err := rollout.FindThread(home, id, false)
	if err != nil {
		log.Fatal(err)
	}
	var items []rollout.Item
	for it, err := range rollout.Read(path, rollout.ReadOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(*it.Ordinal, it.Kind())
		items = append(items, it)
	}
	for _, t := range rollout.Turns(items) {
		fmt.Println(t.ID, t.Status)
	}
	// Output:
	// 0 session_meta
	// 1 event_msg
	// 2 response_item
	// 3 response_item
	// 4 event_msg
	// t1 completed
}

// Resuming a thread: the model history is rebuilt once from the rollout.
func ExampleLoadHistory() {
	h, corrupt, err := rollout.LoadHistory("testdata/legacy/rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000001.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(corrupt), "corrupt lines; window", h.Window.Number)
	for _, r := range h.Items {
		fmt.Printf("%s %s %q\n", r.Type, r.Role, r.Text())
	}
	// Output:
	// 0 corrupt lines; window 1
	// message user "first question"
	// message user "second question"
	// message user "summary of the first two turns"
	// message user "third question"
	// function_call  ""
	// function_call_output  ""
	// message assistant "third answer"
}

// Forking the last user turn of a thread into a new one.
func ExampleFork() {
	dir, err := os.MkdirTemp("", "rollout-fork-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	newID := rollout.ThreadID("0194a1b2-0000-7000-8000-0000000000aa")
	rec, err := rollout.Fork(context.Background(),
		"testdata/legacy/rollout-2025-01-03T12-00-00-0194a1b2-0000-7000-8000-000000000001.jsonl",
		rollout.ForkOptions{NewID: newID, Home: dir, LastTurns: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Close()
	fmt.Println(rec.Meta().ID, "forked from", rec.Meta().ForkedFromID)
	// Output:
	// 0194a1b2-0000-7000-8000-0000000000aa forked from 0194a1b2-0000-7000-8000-000000000001
}
