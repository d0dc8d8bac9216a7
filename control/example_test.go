package control_test

import (
	"context"
	"fmt"
	"os"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/control"
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
