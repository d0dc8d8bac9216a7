package agent_test

import (
	"context"
	"fmt"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
)

// An agent runs a turn: the model calls the built-in sleep tool, then
// answers. A subscriber sees the turn's events in order.
func Example() {
	var st modeltest.Standalone // in a test, pass t
	model := modeltest.New(&st,
		modeltest.Respond(modeltest.Reasoning("I should wait."), modeltest.Call("sleep", `{"duration_ms":5}`)),
		modeltest.Text("Done waiting."))
	a, err := agent.New(agent.Config{ThreadID: "01a21136-be7b-7fa3-a673-da84f2d2894e", Model: model})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	go a.Run(ctx)
	defer a.Close()
	sub := a.Subscribe()

	turn, _ := a.Submit(ctx, "Wait a moment, then report.")
	for ev := range sub.C() {
		switch e := ev.(type) {
		case *agent.ItemStarted:
			fmt.Println("started  ", e.Item.ItemKind())
		case *agent.ItemCompleted:
			fmt.Println("completed", e.Item.ItemKind())
		case *agent.TurnComplete:
			fmt.Println("turn complete:", e.LastAgentMessage)
		}
		if ev.Header().TurnID == turn.ID() {
			if _, end := ev.(*agent.TurnComplete); end {
				break
			}
		}
	}
	// Output:
	// started   UserMessage
	// completed UserMessage
	// started   Reasoning
	// completed Reasoning
	// started   Sleep
	// completed Sleep
	// started   AgentMessage
	// completed AgentMessage
	// turn complete: Done waiting.
}
