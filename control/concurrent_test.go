package control

import (
	"fmt"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// TestConcurrentMessaging: 50 agents send mail to each other at once
// through the runtime's send path (journal, then inbox); every accepted
// message reaches its recipient's history exactly once, in per-sender
// order.
func TestConcurrentMessaging(t *testing.T) {
	const (
		agents = 50
		perTo  = 10
	)
	e := newEnv(t, func(c *Config) {
		c.Limits.MaxLiveAgents = agents + 1
		c.MailboxCapacity = 4 * agents * perTo
	})
	var steps []modeltest.Scripted
	for i := range agents {
		steps = append(steps, modeltest.CallID(fmt.Sprintf("c%d", i), "spawn_agent",
			fmt.Sprintf(`{"task_name":"a%d","message":"start","fork_turns":"none"}`, i)))
	}
	steps = append(steps, modeltest.Text("spawned"))
	e.model.Route(modeltest.ForAgent("/root"), steps...)
	for i := range agents {
		e.model.Route(modeltest.ForAgent(fmt.Sprintf("/root/a%d", i)), modeltest.Text("t0"), modeltest.Text("t1"))
	}
	root := e.start()
	e.submit(root, "spawn")
	nodes := make([]*node, agents)
	for i := range agents {
		nodes[i] = e.waitStatus(root, fmt.Sprintf("/root/a%d", i), StatusCompleted)
	}

	// accepted[recipient][sender] = sequence numbers accepted, in order.
	var mu sync.Mutex
	accepted := map[string]map[string][]int{}
	var wg sync.WaitGroup
	for i := range agents {
		wg.Go(func() {
			from := nodes[i]
			seq := 0
			for range perTo {
				for _, d := range []int{1, 7, 13} {
					to := nodes[(i+d)%agents]
					seq++
					msg := mailbox.Message{
						Author:    from.path.String(),
						Recipient: to.path.String(),
						Content:   []mailbox.Part{mailbox.Text(fmt.Sprintf("m %s %d", from.path, seq))},
					}
					if err := e.rt.deliver(to, msg); err != nil {
						t.Errorf("deliver(%s -> %s) = %v", from.path, to.path, err)
						continue
					}
					mu.Lock()
					if accepted[to.path.String()] == nil {
						accepted[to.path.String()] = map[string][]int{}
					}
					accepted[to.path.String()][from.path.String()] = append(accepted[to.path.String()][from.path.String()], seq)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, n := range nodes {
		msg := mailbox.Message{Author: "/root", Recipient: n.path.String(), TriggerTurn: true,
			Content: []mailbox.Part{mailbox.Text("final")}}
		if err := e.rt.deliver(n, msg); err != nil {
			t.Fatalf("deliver(final -> %s) = %v", n.path, err)
		}
	}
	for _, n := range nodes {
		waitFor(t, n.path.String()+" second turn", func() bool { return e.rt.Status(n.id).Message == "t1" })
	}
	total := 0
	for _, n := range nodes {
		got := map[string][]int{}
		for _, it := range n.agent.History() {
			if it.Type != rollout.ItemAgentMessage || it.Author == "/root" {
				continue
			}
			text := it.Content[0].Text
			var author string
			var seq int
			if _, err := fmt.Sscanf(text, "m %s %d", &author, &seq); err != nil {
				t.Fatalf("%s: agent_message %q: %v", n.path, text, err)
			}
			if author != it.Author {
				t.Errorf("%s: message %q has author %s", n.path, text, it.Author)
			}
			got[author] = append(got[author], seq)
		}
		want := accepted[n.path.String()]
		if len(got) != len(want) {
			t.Errorf("%s: senders = %d, want %d", n.path, len(got), len(want))
		}
		for from, seqs := range want {
			total += len(seqs)
			if g, w := fmt.Sprint(got[from]), fmt.Sprint(seqs); g != w {
				t.Errorf("%s: from %s = %s, want %s (exactly once, in order)", n.path, from, g, w)
			}
		}
	}
	if want := agents * perTo * 3; total != want {
		t.Errorf("accepted messages = %d, want %d", total, want)
	}
}
