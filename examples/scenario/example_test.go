package scenario_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/troupe-run/troupe/examples/scenario"
)

// Example runs the research_team scenario offline into a scratch home and
// picks the lead's answer out of the trace. The threads stay in the home:
// "troupe --home DIR threads tree <res.Root>" draws the tree.
func Example() {
	home, err := os.MkdirTemp("", "troupe-scenario")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(home)

	sc, _ := scenario.Lookup("research_team")
	var trace strings.Builder
	res, err := sc.Run(context.Background(), scenario.Options{Home: home, Out: &trace})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(trace.String(), "\n") {
		if strings.HasPrefix(line, "[/root] answers:") || strings.HasPrefix(line, "[/root] spawn_agent") {
			fmt.Println(line)
		}
	}
	fmt.Println("root thread:", res.Root != "", "stopped:", res.Stopped)
	// Output:
	// [/root] spawn_agent durability, fork_turns none, agent_type researcher: How do an append-only JSONL log and SQLite in WAL mode each behave when the process crashes mid-write?
	// [/root] spawn_agent performance, fork_turns none, agent_type researcher: How fast are appends and reads of a long history, for JSONL files versus SQLite?
	// [/root] answers: Use both, with JSONL as the source of truth.
	// root thread: true stopped: false
}
