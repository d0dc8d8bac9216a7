package agent_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// A thread whose context reached the token limit is compacted before its
// next turn: the model summarizes, the history becomes the user messages
// plus the summary, and the thread moves to context window 1.
func ExampleAgent_Window() {
	var st modeltest.Standalone // in a test, pass t
	model := modeltest.New(&st,
		modeltest.Respond(modeltest.Text("Paris."), modeltest.Tokens(9500)),
		modeltest.Text("The user asked for the capital of France: Paris."),
		modeltest.Text("About 2.1 million."))
	a, err := agent.New(agent.Config{
		ThreadID:   "01a21136-be7b-7fa3-a673-da84f2d2894e",
		Model:      model,
		Compaction: agent.CompactionConfig{ContextWindow: 10_000}, // compacts at 9 000
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	go a.Run(ctx)
	defer a.Close()

	for _, q := range []string{"Capital of France?", "Its population?"} {
		turn, _ := a.Submit(ctx, q)
		res, _ := turn.Wait(ctx)
		fmt.Printf("%s -> %s (window %d)\n", q, res.LastAgentMessage, a.Window().Number)
	}
	for _, it := range a.History() {
		fmt.Printf("%s: %s\n", it.Role, strings.TrimPrefix(it.Text(), rollout.SummaryPrefix+"\n"))
	}
	// Output:
	// Capital of France? -> Paris. (window 0)
	// Its population? -> About 2.1 million. (window 1)
	// user: Capital of France?
	// user: The user asked for the capital of France: Paris.
	// user: Its population?
	// assistant: About 2.1 million.
}
