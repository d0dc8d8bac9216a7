package control_test

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// Example embeds troupe: a root agent delegates to a worker it spawns,
// waits for the worker's answer and reports. The scripted model stands in
// for a real one (openaimodel.NewResponses in production).
func Example() {
	ctx := context.Background()
	home, _ := os.MkdirTemp("", "troupe-example")
	defer os.RemoveAll(home)

	var tb modeltest.Standalone
	model := modeltest.New(&tb)
	model.Route(modeltest.ForAgent("/root"),
		modeltest.Call("spawn_agent", `{"task_name":"worker","message":"What is 2+2?","fork_turns":"none"}`),
		modeltest.Call("wait_agent", `{"timeout_ms":60000}`),
		modeltest.Text("The worker says 2+2=4."))
	model.Route(modeltest.ForAgent("/root/worker"), modeltest.Text("2+2=4"))

	rt, err := control.Open(ctx, control.Config{Home: home, Model: model})
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := rt.Start(ctx, control.ThreadOptions{Instructions: "You lead a small team."})
	if err != nil {
		fmt.Println(err)
		return
	}
	turn, err := root.Submit(ctx, "Ask a worker what 2+2 is.")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := turn.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.LastAgentMessage)
	tree, _ := rt.Tree(root.ID())
	for _, a := range tree {
		fmt.Println(a.Path)
	}
	if err := rt.Close(); err != nil {
		fmt.Println(err)
	}
	if err := tb.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// The worker says 2+2=4.
	// /root
	// /root/worker
}

// Example_store runs a tree on a thread store (Config.Store): every agent
// is in the store's index as soon as it ran, with its parent, so the
// store lists the tree (as troupe threads list does) without a rebuild.
func Example_store() {
	ctx := context.Background()
	home, _ := os.MkdirTemp("", "troupe-example")
	defer os.RemoveAll(home)

	var tb modeltest.Standalone
	model := modeltest.New(&tb)
	model.Route(modeltest.ForAgent("/root"),
		modeltest.Call("spawn_agent", `{"task_name":"worker","message":"Count the files.","fork_turns":"none"}`),
		modeltest.Text("Asked the worker."))
	model.Route(modeltest.ForAgent("/root/worker"), modeltest.Text("There are 3 files."))

	store, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: home})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close() // after the runtime
	rt, err := control.Open(ctx, control.Config{Store: store, Model: model})
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := rt.Start(ctx, control.ThreadOptions{Instructions: "You lead a small team."})
	if err != nil {
		fmt.Println(err)
		return
	}
	events, err := rt.Subscribe(root.ID())
	if err != nil {
		fmt.Println(err)
		return
	}
	turn, err := root.Submit(ctx, "How many files are there?")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Wait for the worker's turn, then the root's, to complete.
	for ev := range events.C() {
		if _, ok := ev.(*agent.TurnComplete); ok && ev.Header().ThreadID != root.ID() {
			break
		}
	}
	if _, err := turn.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Close(); err != nil {
		fmt.Println(err)
	}
	page, err := store.List(ctx, sqlitestore.ListOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var rows []string
	for _, th := range page.Threads {
		row := fmt.Sprintf("%s preview=%q", th.SourceKind, th.Preview)
		if th.ParentThreadID == root.ID() {
			row += " " + th.AgentPath + ", child of the root"
		}
		rows = append(rows, row)
	}
	slices.Sort(rows)
	for _, r := range rows {
		fmt.Println(r)
	}
	if err := tb.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// exec preview="How many files are there?"
	// subagent preview="" /root/worker, child of the root
}
