package sqlitestore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

func Example() {
	ctx := context.Background()
	home, _ := os.MkdirTemp("", "troupe-example")
	defer os.RemoveAll(home)

	n := 0
	ids := func() (rollout.ThreadID, error) { // deterministic ids for the example
		n++
		return rollout.ThreadID(fmt.Sprintf("01a21136-0000-7000-8000-%012d", n)), nil
	}
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: home, NewID: ids})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	root, _ := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: "/work", Source: []byte(`"exec"`)}})
	ev, _ := rollout.NewEvent(rollout.UserMessage{Message: "Research X with a helper"})
	root.Append(rollout.NewMessage(rollout.RoleUser, "Research X with a helper"), ev)
	root.Flush(ctx)

	// Spawning: record the edge before the child runs, then create it.
	childID, _ := ids()
	s.RecordEdge(ctx, root.ID(), childID, sqlitestore.EdgeOpen)
	src, _ := rollout.SubagentSource(rollout.SubagentSpawn{ParentThreadID: root.ID(), Depth: 1, AgentPath: "/root/helper"})
	child, _ := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{ID: childID, Cwd: "/work", Source: src,
		ParentThreadID: root.ID(), AgentPath: "/root/helper", SessionID: root.ID()}})
	child.Append(rollout.NewMessage(rollout.RoleAssistant, "on it"))
	child.Close()
	root.Close()

	tree, _ := s.Descendants(ctx, root.ID(), sqlitestore.Page{Limit: 50})
	for _, th := range tree.Threads {
		fmt.Println(th.AgentPath, "parent", th.ParentThreadID)
	}
	r, _ := s.Get(ctx, root.ID())
	fmt.Println(r.Title)
	// Output:
	// /root/helper parent 01a21136-0000-7000-8000-000000000001
	// Research X with a helper
}
