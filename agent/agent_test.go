package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// Scenario 1: one assistant message → ItemStarted/ItemCompleted with one id,
// TurnComplete with it as the last message; the subscriber sees the turn's
// events in order.
func TestSingleMessageTurn(t *testing.T) {
	h := start(t, modeltest.New(t, modeltest.Text("all done")))
	turn := h.submit("hello")
	res := h.wait(turn)
	if res.LastAgentMessage != "all done" || res.Err != nil || res.Aborted != "" {
		t.Fatalf("result = %+v, want last message %q", res, "all done")
	}
	evs := h.events(turn.ID())
	want := []string{
		"TurnStarted",
		"ItemStarted/UserMessage", "ItemCompleted/UserMessage",
		"ItemStarted/AgentMessage", "AgentMessageDelta", "ItemCompleted/AgentMessage",
		"TurnComplete",
	}
	if got := eventNames(evs); !equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	var startedID, completedID string
	for _, ev := range evs {
		if ev.Header().ThreadID != testThread || ev.Header().TurnID != turn.ID() {
			t.Errorf("event %T header = %+v, want thread %s turn %s", ev, ev.Header(), testThread, turn.ID())
		}
		switch e := ev.(type) {
		case *agent.ItemStarted:
			if m, ok := e.Item.(*agent.AgentMessage); ok {
				startedID = m.ID
			}
		case *agent.ItemCompleted:
			if m, ok := e.Item.(*agent.AgentMessage); ok {
				completedID = m.ID
				if m.Text() != "all done" {
					t.Errorf("completed text = %q, want %q", m.Text(), "all done")
				}
			}
		case *agent.TurnComplete:
			if e.LastAgentMessage != "all done" {
				t.Errorf("TurnComplete.LastAgentMessage = %q", e.LastAgentMessage)
			}
		}
	}
	if startedID == "" || startedID != completedID {
		t.Errorf("ItemStarted id %q, ItemCompleted id %q: want equal and non-empty", startedID, completedID)
	}
	// Recorded items carry the turn id; the rollout was flushed before the
	// terminal event, and the terminal record is in it.
	for _, it := range h.a.History() {
		if it.TurnID() != turn.ID() {
			t.Errorf("history item %s turn id = %q, want %q", it.Type, it.TurnID(), turn.ID())
		}
	}
	lines := h.rec.lines()
	if lines[len(lines)-1] != "event_msg/task_complete" {
		t.Errorf("last rollout line = %s, want event_msg/task_complete", lines[len(lines)-1])
	}
	h.rec.mu.Lock()
	flushed, n := h.rec.flushed, len(h.rec.items)
	h.rec.mu.Unlock()
	if flushed != n {
		t.Errorf("rollout flushed through line %d of %d before TurnComplete", flushed, n)
	}
}

// Scenario 2: input steered during a turn joins it.
func TestSteerJoinsTurn(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t,
		modeltest.Respond(modeltest.Pause(g), modeltest.Text("first answer")),
		modeltest.Text("second answer"))
	h := start(t, m)
	turn := h.submit("first prompt")
	<-g.Reached()
	steered := h.submit("second prompt")
	if steered.ID() != turn.ID() {
		t.Fatalf("Submit during a turn returned turn %s, want the active turn %s", steered.ID(), turn.ID())
	}
	if _, err := h.a.Steer(ctx(t), "not-the-turn", "x"); !errors.Is(err, agent.ErrTurnMismatch) {
		t.Errorf("Steer(wrong id) = %v, want ErrTurnMismatch", err)
	}
	g.Release()
	res := h.wait(turn)
	if res.LastAgentMessage != "second answer" {
		t.Errorf("last message = %q, want %q", res.LastAgentMessage, "second answer")
	}
	reqs := m.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if got := modeltest.UserTexts(reqs[0]); !equal(got, []string{"first prompt"}) {
		t.Errorf("request 1 user texts = %v", got)
	}
	if got := modeltest.UserTexts(reqs[1]); !equal(got, []string{"first prompt", "second prompt"}) {
		t.Errorf("request 2 user texts = %v", got)
	}
	starts := 0
	for _, name := range eventNames(h.events(turn.ID())) {
		if name == "TurnStarted" {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("%d TurnStarted events, want 1", starts)
	}
	if _, err := h.a.Steer(ctx(t), "", "late"); !errors.Is(err, agent.ErrNoActiveTurn) {
		t.Errorf("Steer(idle) = %v, want ErrNoActiveTurn", err)
	}
}

// Scenario 3: three parallel-safe calls overlap; outputs in call order.
func TestParallelToolsOverlap(t *testing.T) {
	var running atomic.Int32
	all := make(chan struct{})
	probe := capability.Func{
		S: capability.Spec{Name: "probe", ParallelSafe: true, Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)},
		Fn: func(ctx context.Context, call capability.Call) (capability.Output, error) {
			if running.Add(1) == 3 {
				close(all)
			}
			// Each call returns only once all three run at the same time:
			// without overlap this waits until the test's deadline.
			select {
			case <-all:
				return capability.Output{Text: "out " + call.ID}, nil
			case <-ctx.Done():
				return capability.Output{}, ctx.Err()
			}
		},
	}
	m := modeltest.New(t,
		modeltest.Respond(
			modeltest.CallID("c1", "probe", `{"n":1}`),
			modeltest.CallID("c2", "probe", `{"n":2}`),
			modeltest.CallID("c3", "probe", `{"n":3}`)),
		modeltest.Text("done"))
	h := start(t, m, withTools(probe))
	res := h.run("go")
	if res.LastAgentMessage != "done" {
		t.Fatalf("result = %+v", res)
	}
	req := m.Request(1)
	want := []string{"message/user", "function_call probe", "function_call probe", "function_call probe",
		"function_call_output", "function_call_output", "function_call_output"}
	if got := modeltest.Kinds(req); !equal(got, want) {
		t.Fatalf("request 2 kinds = %v, want %v", got, want)
	}
	for i, id := range []string{"c1", "c2", "c3"} {
		if got := req.Input[4+i]; got.CallID != id || got.Output.String() != "out "+id {
			t.Errorf("output %d = %s %q, want %s %q", i, got.CallID, got.Output.String(), id, "out "+id)
		}
	}
}

// An exclusive tool never overlaps another call.
func TestExclusiveToolRunsAlone(t *testing.T) {
	var running, maxRunning atomic.Int32
	tool := func(name string, parallel bool) capability.Tool {
		return capability.Func{
			S: capability.Spec{Name: name, ParallelSafe: parallel},
			Fn: func(context.Context, capability.Call) (capability.Output, error) {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				running.Add(-1)
				return capability.Output{Text: "ok"}, nil
			},
		}
	}
	m := modeltest.New(t,
		modeltest.Respond(modeltest.Call("excl", `{}`), modeltest.Call("excl", `{}`), modeltest.Call("excl", `{}`)),
		modeltest.Text("done"))
	h := start(t, m, withTools(tool("excl", false)))
	h.run("go")
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("max exclusive calls running at once = %d, want 1", got)
	}
}

// Scenario 4: an unknown tool and invalid JSON each get an error output; the
// turn continues.
func TestBadCallsGetErrorOutputs(t *testing.T) {
	echo := capability.Func{
		S: capability.Spec{Name: "echo", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)},
		Fn: func(context.Context, capability.Call) (capability.Output, error) {
			return capability.Output{Text: "echoed"}, nil
		},
	}
	huge := `{"text":"` + strings.Repeat("a", capability.MaxArgumentBytes) + `"}`
	m := modeltest.New(t,
		modeltest.Respond(
			modeltest.CallID("c1", "nope", `{}`),
			modeltest.CallID("c2", "echo", `{"text":`),
			modeltest.CallID("c3", "echo", `{"text":3}`),
			modeltest.CallID("c4", "echo", huge)),
		modeltest.Text("recovered"))
	h := start(t, m, withTools(echo))
	turn := h.submit("go")
	if res := h.wait(turn); res.LastAgentMessage != "recovered" || res.Err != nil {
		t.Fatalf("result = %+v, want the turn to go on", res)
	}
	req := m.Request(1)
	for id, want := range map[string]string{
		"c1": `unsupported call: unknown tool "nope"`,
		"c2": "failed to parse function arguments: ",
		"c3": "invalid arguments: text: got integer, want string",
		"c4": "failed to parse function arguments: arguments are 1048587 bytes",
	} {
		got, ok := modeltest.Output(req, id)
		if !ok || !strings.HasPrefix(got, want) {
			t.Errorf("output of %s = %q, want prefix %q", id, got, want)
		}
	}
	failed := 0
	for _, ev := range h.events(turn.ID()) {
		if c, ok := ev.(*agent.ItemCompleted); ok {
			if d, ok := c.Item.(*agent.DynamicToolCall); ok && d.Status == agent.StatusFailed {
				failed++
			}
		}
	}
	if failed != 4 {
		t.Errorf("%d failed DynamicToolCall items, want 4", failed)
	}
}

// Scenario 5: interrupt during a long tool.
func TestInterruptDuringTool(t *testing.T) {
	started := make(chan string, 1)
	m := modeltest.New(t,
		modeltest.CallID("call_long", "long", `{}`),
		modeltest.Text("after"))
	h := start(t, m, withTools(blockingTool("long", started, nil)))
	turn := h.submit("run it")
	<-started
	got, err := h.a.Interrupt(ctx(t))
	if err != nil || got == nil || got.ID() != turn.ID() {
		t.Fatalf("Interrupt() = %v, %v; want turn %s", got, err, turn.ID())
	}
	res := h.wait(turn)
	if res.Aborted != agent.AbortInterrupted {
		t.Fatalf("result = %+v, want aborted (interrupted)", res)
	}
	evs := h.events(turn.ID())
	if ab, ok := evs[len(evs)-1].(*agent.TurnAborted); !ok || ab.Reason != agent.AbortInterrupted {
		t.Fatalf("last event = %T %+v, want TurnAborted{interrupted}", evs[len(evs)-1], evs[len(evs)-1])
	}
	h.run("next")
	req := m.Request(1)
	out, ok := modeltest.Output(req, "call_long")
	if !ok || !regexp.MustCompile(`^aborted by user after \d+\.\ds$`).MatchString(out) {
		t.Errorf("output of the interrupted call = %q, want 'aborted by user after N.Ns'", out)
	}
	marker := false
	for _, it := range req.Input {
		if it.Type == rollout.ItemMessage && it.Role == rollout.RoleDeveloper && strings.HasPrefix(it.Text(), "<turn_aborted>") {
			marker = true
		}
	}
	if !marker {
		t.Errorf("next request lacks the <turn_aborted> marker: %v", modeltest.Kinds(req))
	}
	// The rollout has the marker, then turn_aborted, flushed.
	lines := h.rec.lines()
	found := false
	for i := range len(lines) - 1 {
		if lines[i] == "response_item/message/developer" && lines[i+1] == "event_msg/turn_aborted" {
			found = true
		}
	}
	if !found {
		t.Errorf("rollout lacks marker then turn_aborted: %v", lines)
	}
}

// Interrupt with no active turn is a no-op.
func TestInterruptIdle(t *testing.T) {
	h := start(t, modeltest.New(t))
	if got, err := h.a.Interrupt(ctx(t)); got != nil || err != nil {
		t.Errorf("Interrupt(idle) = %v, %v; want nil, nil", got, err)
	}
}

// Scenario 7: mail queued before a turn whose only response is a final
// answer is not in that turn's request, and is in the next turn's first
// request as an agent_message.
func TestQueuedMailWaitsForNextTurn(t *testing.T) {
	m := modeltest.New(t, modeltest.Text("first"), modeltest.Text("second"))
	h := start(t, m)
	h.mail("fyi", false)
	h.run("first prompt")
	if len(m.Requests()) != 1 {
		t.Fatalf("%d requests in turn 1, want 1", len(m.Requests()))
	}
	for _, k := range modeltest.Kinds(m.Request(0)) {
		if k == rollout.ItemAgentMessage {
			t.Errorf("request 1 has the mail: %v", modeltest.Kinds(m.Request(0)))
		}
	}
	h.run("second prompt")
	req := m.Request(1)
	var mail *rollout.ResponseItem
	for i := range req.Input {
		if req.Input[i].Type == rollout.ItemAgentMessage {
			mail = &req.Input[i]
		}
	}
	if mail == nil || mail.Text() != "fyi" || mail.Author != "/root/helper" || mail.Recipient != "/root" {
		t.Fatalf("request 2 mail = %+v, want agent_message fyi from /root/helper", mail)
	}
	if got := modeltest.UserTexts(req); !equal(got, []string{"first prompt", "second prompt"}) {
		t.Errorf("request 2 user texts = %v", got)
	}
	// The rollout writes the metadata line right before the agent_message,
	// and the mail was acknowledged.
	lines := h.rec.lines()
	ok := false
	for i := range len(lines) - 1 {
		if lines[i] == "inter_agent_communication_metadata" && lines[i+1] == "response_item/agent_message" {
			ok = true
		}
	}
	if !ok {
		t.Errorf("rollout lacks metadata + agent_message: %v", lines)
	}
	if n := h.inbox.InFlight(); n != 0 || h.inbox.Len() != 0 {
		t.Errorf("inbox in flight %d, waiting %d; want the mail acknowledged", n, h.inbox.Len())
	}
}

// Mail with trigger_turn starts a turn at an idle agent.
func TestTriggerMailStartsTurn(t *testing.T) {
	m := modeltest.New(t, modeltest.Text("on it"))
	h := start(t, m)
	h.mail("please do X", true)
	var turnID string
	for turnID == "" {
		if ts, ok := (<-h.sub.C()).(*agent.TurnStarted); ok {
			turnID = ts.TurnID
		}
	}
	evs := h.events(turnID)
	if tc, ok := evs[len(evs)-1].(*agent.TurnComplete); !ok || tc.LastAgentMessage != "on it" {
		t.Fatalf("last event = %#v", evs[len(evs)-1])
	}
	if got := modeltest.Kinds(m.Request(0)); !equal(got, []string{rollout.ItemAgentMessage}) {
		t.Errorf("request kinds = %v, want the mail only", got)
	}
}

// Scenario 8: mail arriving while a reasoning item streams preempts the
// stream.
func TestMailPreemptsStream(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t,
		modeltest.Respond(modeltest.Pause(g), modeltest.Reasoning("thinking"),
			modeltest.CallID("stale", "probe", `{}`), modeltest.Text("stale answer")),
		modeltest.Text("saw the mail"))
	h := start(t, m)
	turn := h.submit("go")
	<-g.Reached()
	h.mail("urgent", false)
	g.Release()
	if res := h.wait(turn); res.LastAgentMessage != "saw the mail" {
		t.Fatalf("result = %+v", res)
	}
	want := []string{"message/user", "reasoning", "agent_message"}
	if got := modeltest.Kinds(m.Request(1)); !equal(got, want) {
		t.Errorf("request 2 kinds = %v, want %v", got, want)
	}
}

// Scenario 9: a stream that closes before completed is retried; after the
// retries the turn completes with an error and the thread goes on.
func TestStreamRetries(t *testing.T) {
	t.Run("recovers", func(t *testing.T) {
		m := modeltest.New(t, modeltest.CloseEarly(), modeltest.Text("ok"))
		h := start(t, m, func(c *agent.Config) { c.MaxRetries = 1 })
		turn := h.submit("go")
		res := h.wait(turn)
		if res.LastAgentMessage != "ok" || res.Err != nil || len(m.Requests()) != 2 {
			t.Fatalf("result = %+v after %d requests, want ok after 2", res, len(m.Requests()))
		}
		var se *agent.StreamError
		for _, ev := range h.events(turn.ID()) {
			if e, ok := ev.(*agent.StreamError); ok {
				se = e
			}
		}
		if se == nil || se.Message != "Reconnecting... 1/1" || !errors.Is(se.Err, agent.ErrStreamClosed) {
			t.Errorf("StreamError = %+v, want Reconnecting... 1/1 for a closed stream", se)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		m := modeltest.New(t,
			modeltest.CloseEarly(), modeltest.CloseEarly(), modeltest.CloseEarly(),
			modeltest.Text("next turn works"))
		h := start(t, m, func(c *agent.Config) { c.MaxRetries = 2 })
		res := h.run("go")
		if res.Err == nil || !errors.Is(res.Err, agent.ErrStreamClosed) || len(m.Requests()) != 3 {
			t.Fatalf("result = %+v after %d requests, want ErrStreamClosed after 3", res, len(m.Requests()))
		}
		if res := h.run("again"); res.LastAgentMessage != "next turn works" {
			t.Errorf("next turn = %+v", res)
		}
	})
	t.Run("fatal", func(t *testing.T) {
		m := modeltest.New(t, modeltest.Fail(&agent.ModelError{Class: agent.ErrContextWindowExceeded}), modeltest.Text("fine"))
		h := start(t, m)
		turn := h.submit("go")
		res := h.wait(turn)
		if !errors.Is(res.Err, agent.ErrContextWindowExceeded) || len(m.Requests()) != 1 {
			t.Fatalf("result = %+v after %d requests, want a fatal error after 1", res, len(m.Requests()))
		}
		evs := h.events(turn.ID())
		if tc, ok := evs[len(evs)-1].(*agent.TurnComplete); !ok || tc.Error == nil {
			t.Errorf("last event = %#v, want TurnComplete with Error", evs[len(evs)-1])
		}
		h.run("again")
	})
}

func TestRetryDelay(t *testing.T) {
	var delays []time.Duration
	m := modeltest.New(t,
		modeltest.Fail(&agent.ModelError{Class: agent.ErrRateLimited, RetryAfter: time.Millisecond}),
		modeltest.Fail(&agent.ModelError{Class: agent.ErrServer, StatusCode: 502}),
		modeltest.Text("ok"))
	h := start(t, m, func(c *agent.Config) { c.Jitter = func() float64 { return 0 } })
	turn := h.submit("go")
	if res := h.wait(turn); res.LastAgentMessage != "ok" {
		t.Fatalf("result = %+v, want ok after two retries", res)
	}
	for _, ev := range h.events(turn.ID()) {
		if se, ok := ev.(*agent.StreamError); ok {
			_, d := agent.Retryable(se.Err)
			delays = append(delays, d)
		}
	}
	if len(delays) != 2 || delays[0] != time.Millisecond || delays[1] != 0 {
		t.Errorf("retry server delays = %v, want [1ms 0]", delays)
	}
}
