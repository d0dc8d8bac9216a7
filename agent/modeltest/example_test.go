package modeltest_test

import (
	"context"
	"fmt"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
)

// An agent driven by a scripted model: the first response calls the
// built-in sleep tool, the second answers. The model records both requests.
func Example() {
	var st modeltest.Standalone // in a test, pass t instead
	m := modeltest.New(&st,
		modeltest.Call("sleep", `{"duration_ms":1}`),
		modeltest.Text("I slept."))
	a, err := agent.New(agent.Config{ThreadID: "01a21136-be7b-7fa3-a673-da84f2d2894e", Model: m})
	if err != nil {
		panic(err)
	}
	go a.Run(context.Background())
	defer a.Close()

	turn, _ := a.Submit(context.Background(), "Take a short nap.")
	res, _ := turn.Wait(context.Background())
	fmt.Println(res.LastAgentMessage)
	fmt.Println(modeltest.Kinds(m.Request(1)))
	fmt.Println(st.Close())
	// Output:
	// I slept.
	// [message/user function_call sleep function_call_output]
	// <nil>
}

// A gate stops a stream at an exact point so the test can act there: here
// it steers a second message into the running turn.
func ExamplePause() {
	var st modeltest.Standalone
	g := modeltest.NewGate()
	m := modeltest.New(&st,
		modeltest.Respond(modeltest.Pause(g), modeltest.Text("Working on it.")),
		modeltest.Text("Both done."))
	a, _ := agent.New(agent.Config{ThreadID: "01a21136-be7b-7fa3-a673-da84f2d2894e", Model: m})
	go a.Run(context.Background())
	defer a.Close()

	turn, _ := a.Submit(context.Background(), "Do A.")
	<-g.Reached()
	a.Submit(context.Background(), "Also do B.") // joins the running turn
	g.Release()
	res, _ := turn.Wait(context.Background())
	fmt.Println(res.LastAgentMessage)
	fmt.Println(modeltest.UserTexts(m.Request(1)))
	// Output:
	// Both done.
	// [Do A. Also do B.]
}

// Routes answer the requests of one agent of a tree, whatever the order in
// which concurrent agents ask.
func ExampleModel_Route() {
	var st modeltest.Standalone
	m := modeltest.New(&st, modeltest.Text("from the default queue"))
	m.Route(modeltest.ForAgent("/root/worker"), modeltest.Text("worker's answer"))
	for _, path := range []string{"/root/worker", "/root"} {
		a, _ := agent.New(agent.Config{ThreadID: "01a21136-be7b-7fa3-a673-da84f2d2894e", AgentPath: path, Model: m})
		go a.Run(context.Background())
		turn, _ := a.Submit(context.Background(), "hi")
		res, _ := turn.Wait(context.Background())
		a.Close()
		fmt.Println(path, "->", res.LastAgentMessage)
	}
	// Output:
	// /root/worker -> worker's answer
	// /root -> from the default queue
}
