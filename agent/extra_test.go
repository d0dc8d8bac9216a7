package agent_test

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// timedModel records when each request arrives.
type timedModel struct {
	agent.Model
	mu    sync.Mutex
	times []time.Time
}

func (m *timedModel) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	m.mu.Lock()
	m.times = append(m.times, time.Now())
	m.mu.Unlock()
	return m.Model.Stream(ctx, req)
}

// Retries wait 200ms × 2^(n−1) with the injected jitter, or the delay the
// server asked for.
func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &timedModel{Model: modeltest.New(t,
			modeltest.CloseEarly(),
			modeltest.Fail(&agent.ModelError{Class: agent.ErrServer, StatusCode: 503}),
			modeltest.Fail(&agent.ModelError{Class: agent.ErrRateLimited, StatusCode: 429, RetryAfter: 11054 * time.Millisecond}),
			modeltest.CloseEarly(),
			modeltest.Text("finally"))}
		h := start(t, nil, func(c *agent.Config) {
			c.Model = m
			c.Jitter = func() float64 { return 1 } // +10 %
		})
		if res := h.run("go"); res.LastAgentMessage != "finally" {
			t.Fatalf("result = %+v", res)
		}
		want := []time.Duration{220 * time.Millisecond, 440 * time.Millisecond, 11054 * time.Millisecond, 1760 * time.Millisecond}
		for i, w := range want {
			if got := m.times[i+1].Sub(m.times[i]); got != w {
				t.Errorf("delay before attempt %d = %v, want %v", i+2, got, w)
			}
		}
	})
}

// A subscriber that never reads loses events (counted) and never blocks
// the agent.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	m := modeltest.New(t, modeltest.Respond(modeltest.Reasoning("r"), modeltest.Text("a")), modeltest.Text("b"))
	h := start(t, m, func(c *agent.Config) { c.EventBuffer = 2 })
	stuck := h.a.Subscribe()
	h.run("one")
	h.run("two")
	if stuck.Dropped() == 0 {
		t.Error("Dropped() = 0 for a subscriber that never reads")
	}
	if n := len(stuck.C()); n != 2 {
		t.Errorf("buffered events = %d, want the buffer size 2", n)
	}
	stuck.Close()
	stuck.Close() // idempotent
	if _, ok := <-stuck.C(); !ok {
		t.Error("buffered events lost by Close")
	}
}

// A shell call is reported as a CommandExecution item.
func TestShellCommandItem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	shell, err := capability.NewShell(capability.ShellConfig{Runner: env, Shell: "sh"})
	if err != nil {
		t.Fatal(err)
	}
	m := modeltest.New(t, modeltest.CallID("c1", "shell", `{"command":"cat f.txt"}`), modeltest.Text("read"))
	h := start(t, m, withTools(shell), paginated)
	turn := h.submit("cat")
	h.wait(turn)
	var started, done *agent.CommandExecution
	for _, ev := range h.events(turn.ID()) {
		switch e := ev.(type) {
		case *agent.ItemStarted:
			if c, ok := e.Item.(*agent.CommandExecution); ok {
				started = c
			}
		case *agent.ItemCompleted:
			if c, ok := e.Item.(*agent.CommandExecution); ok {
				done = c
			}
			if _, ok := e.Item.(*agent.DynamicToolCall); ok {
				t.Error("shell call also reported as DynamicToolCall")
			}
		}
	}
	if started == nil || started.Status != agent.StatusInProgress || !equal(started.Command, []string{"sh", "-lc", "cat f.txt"}) {
		t.Errorf("started = %+v", started)
	}
	if done == nil || done.Status != agent.StatusCompleted || done.ExitCode == nil || *done.ExitCode != 0 || done.AggregatedOutput != "content\n" {
		t.Errorf("completed = %+v", done)
	}
	if out, _ := modeltest.Output(m.Request(1), "c1"); out == "" {
		t.Error("no output for the shell call")
	}
}

// Mail redelivered after a restart (recorded, not acknowledged) is not
// recorded twice.
func TestRedeliveredMailRecordedOnce(t *testing.T) {
	m1 := modeltest.New(t, modeltest.Text("noted"))
	h1 := start(t, m1)
	h1.mail("once", false)
	h1.run("hi")
	unacked := h1.inbox.Unacked() // empty: acknowledged; simulate the crash by resending
	if len(unacked) != 0 {
		t.Fatalf("unacked = %v", unacked)
	}
	var delivered mailbox.Message
	for _, it := range h1.a.History() {
		if it.Type == "agent_message" {
			delivered = mailbox.Message{ID: strings.TrimPrefix(it.ID, "amsg_"), Author: it.Author, Content: []mailbox.Part{mailbox.Text(it.Text())}}
		}
	}
	if delivered.ID == "" {
		t.Fatal("mail not in history")
	}
	m2 := modeltest.New(t, modeltest.Text("again"))
	h2 := start(t, m2, func(c *agent.Config) { c.History = h1.a.History() })
	if _, err := h2.inbox.Restore([]mailbox.Message{delivered}); err != nil {
		t.Fatal(err)
	}
	h2.run("next")
	n := 0
	for _, it := range m2.Request(0).Input {
		if it.Type == "agent_message" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d agent messages after redelivery, want 1", n)
	}
	if h2.inbox.Len() != 0 || h2.inbox.InFlight() != 0 {
		t.Errorf("redelivered mail not acknowledged: waiting %d, in flight %d", h2.inbox.Len(), h2.inbox.InFlight())
	}
}

func TestInject(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t,
		modeltest.Respond(modeltest.Pause(g), modeltest.Text("first")),
		modeltest.Text("second"),
		modeltest.Text("third"))
	h := start(t, m, func(c *agent.Config) {
		c.TurnContext = &rollout.TurnContext{Cwd: "/work", CompHash: "a"}
		c.ModelName = "gpt-test"
	})
	note := *rollout.NewMessage(rollout.RoleDeveloper, "<multi_agent_mode>proactive</multi_agent_mode>")
	// Idle: recorded at once, no turn.
	if err := h.a.Inject(ctx(t), note); err != nil {
		t.Fatal(err)
	}
	if hist := h.a.History(); len(hist) != 1 || hist[0].Role != rollout.RoleDeveloper || hist[0].ID == "" {
		t.Fatalf("history after idle Inject = %+v", hist)
	}
	// Running: joins the turn at its next step, like steered input.
	turn := h.submit("go")
	<-g.Reached()
	if err := h.a.Inject(ctx(t), *rollout.NewMessage(rollout.RoleDeveloper, "mid-turn note")); err != nil {
		t.Fatal(err)
	}
	g.Release()
	if res := h.wait(turn); res.LastAgentMessage != "second" {
		t.Fatalf("result = %+v, want the injected note to cause a follow-up", res)
	}
	want := []string{"message/developer", "message/user", "message/assistant", "message/developer"}
	if got := modeltest.Kinds(m.Request(1)); !equal(got, want) {
		t.Errorf("request 2 = %v, want %v", got, want)
	}
	h.run("again")
	// turn_context records follow the template.
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	n := 0
	for _, it := range h.rec.items {
		if tc, ok := it.Payload.(*rollout.TurnContext); ok {
			n++
			if tc.Cwd != "/work" || tc.CompHash != "a" || tc.Model != "gpt-test" || tc.TurnID == "" {
				t.Errorf("turn_context = %+v", tc)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d turn_context records, want 2", n)
	}
}

// stubborn ignores cancellation and reports its own item when released.
type stubborn struct {
	a       *agent.Agent
	started chan struct{}
	release chan struct{}
}

func (s *stubborn) Spec() capability.Spec { return capability.Spec{Name: "stubborn"} }
func (s *stubborn) ReportsItems() bool    { return true }
func (s *stubborn) Call(_ context.Context, call capability.Call) (capability.Output, error) {
	item := &agent.DynamicToolCall{ID: call.ID, Tool: "stubborn", Status: agent.StatusInProgress}
	s.a.StartItem(call.TurnID, item, s.a.Now())
	close(s.started)
	<-s.release
	s.a.CompleteItem(call.TurnID, &agent.DynamicToolCall{ID: call.ID, Tool: "stubborn", Status: agent.StatusCompleted}, s.a.Now(), s.a.Now())
	return capability.Output{Text: "late"}, nil
}

// A tool that ignores cancellation is recorded as aborted after a short
// grace, and its late item events are dropped: nothing of a turn follows
// its terminal event.
func TestNothingAfterTerminalEvent(t *testing.T) {
	tool := &stubborn{started: make(chan struct{}), release: make(chan struct{})}
	m := modeltest.New(t, modeltest.CallID("c1", "stubborn", `{}`))
	h := start(t, m, withTools(tool), paginated)
	tool.a = h.a
	turn := h.submit("go")
	<-tool.started
	if _, err := h.a.Interrupt(ctx(t)); err != nil {
		t.Fatal(err)
	}
	evs := h.events(turn.ID())
	close(tool.release)
	// Close waits for the tool goroutine, so its late events (if any were
	// let through) are in the subscription before it closes.
	if err := h.a.Close(); err != nil {
		t.Fatal(err)
	}
	for ev := range h.sub.C() {
		if ev.Header().TurnID == turn.ID() {
			t.Errorf("event %T of turn %s after its TurnAborted", ev, turn.ID())
		}
	}
	if _, ok := evs[len(evs)-1].(*agent.TurnAborted); !ok {
		t.Fatalf("last event = %T", evs[len(evs)-1])
	}
	lines := h.rec.lines()
	if lines[len(lines)-1] != "event_msg/turn_aborted" {
		t.Errorf("rollout ends with %s, want turn_aborted: %v", lines[len(lines)-1], lines)
	}
}
