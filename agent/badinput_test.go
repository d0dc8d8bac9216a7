package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// Malformed streams never crash the agent or corrupt the history: deltas
// without an item, a done event without an item, a reused item id, a
// reused call id, items without ids.
func TestMalformedStreams(t *testing.T) {
	m := modeltest.New(t,
		modeltest.Respond(
			modeltest.Event(
				agent.StreamEvent{Kind: agent.StreamTextDelta, Delta: "orphan delta"},
				agent.StreamEvent{Kind: agent.StreamReasoningSummaryDelta, ItemID: "nope", Delta: "x"},
				agent.StreamEvent{Kind: agent.StreamItemDone},
				agent.StreamEvent{Kind: agent.StreamItemAdded},
			),
			modeltest.Item(rollout.ResponseItem{Type: rollout.ItemReasoning, ID: "dup", Summary: []rollout.ContentPart{{Type: rollout.PartSummaryText, Text: "a"}}}),
			modeltest.Item(rollout.ResponseItem{Type: rollout.ItemReasoning, ID: "dup", Summary: []rollout.ContentPart{{Type: rollout.PartSummaryText, Text: "b"}}}),
			modeltest.Item(*rollout.NewMessage(rollout.RoleAssistant, "no id")),
			modeltest.Item(*rollout.NewFunctionCall("same", "nope", `{}`)),
			modeltest.Item(*rollout.NewFunctionCall("same", "nope", `{}`)),
			modeltest.Item(*rollout.NewFunctionCall("", "nope", `not json`)),
		),
		modeltest.Text("still alive"))
	h := start(t, m)
	turn := h.submit("go")
	if res := h.wait(turn); res.LastAgentMessage != "still alive" || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	ids := map[string]bool{}
	calls := map[string]bool{}
	for _, it := range h.a.History() {
		if it.ID == "" {
			t.Errorf("history item %s without id", it.Type)
		}
		if ids[it.ID] {
			t.Errorf("history item id %q used twice", it.ID)
		}
		ids[it.ID] = true
		if it.Type == rollout.ItemFunctionCall {
			if it.CallID == "" || calls[it.CallID] {
				t.Errorf("call id %q empty or reused", it.CallID)
			}
			calls[it.CallID] = true
		}
	}
	if problems := modeltest.CheckPairs(h.a.History()); len(problems) > 0 {
		t.Errorf("history pairing: %v", problems)
	}
	var warnings []string
	for _, ev := range h.events(turn.ID()) {
		if w, ok := ev.(*agent.Warning); ok {
			warnings = append(warnings, w.Message)
		}
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"for no streaming item", "without an item", `reused item id "dup"`, `reused call id "same"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
}

// A panicking tool gives an error output carrying the panic text.
func TestToolPanic(t *testing.T) {
	boom := capability.Func{
		S:  capability.Spec{Name: "boom"},
		Fn: func(context.Context, capability.Call) (capability.Output, error) { panic("kaboom") },
	}
	failing := capability.Func{
		S: capability.Spec{Name: "failing"},
		Fn: func(context.Context, capability.Call) (capability.Output, error) {
			return capability.Output{}, fmt.Errorf("backend down")
		},
	}
	m := modeltest.New(t, modeltest.Respond(modeltest.CallID("c1", "boom", `{}`), modeltest.CallID("c2", "failing", `{}`)), modeltest.Text("ok"))
	h := start(t, m, withTools(boom, failing))
	h.run("go")
	if got, _ := modeltest.Output(m.Request(1), "c1"); got != `tool "boom" panicked: kaboom` {
		t.Errorf("panic output = %q", got)
	}
	if got, _ := modeltest.Output(m.Request(1), "c2"); got != `tool "failing" failed: backend down` {
		t.Errorf("error output = %q", got)
	}
}

// Normalize pairs calls and outputs.
func TestNormalize(t *testing.T) {
	call := *rollout.NewFunctionCall("c1", "x", `{}`)
	custom := rollout.ResponseItem{Type: rollout.ItemCustomToolCall, CallID: "c2", Name: "y", Input: "raw"}
	orphan := *rollout.NewFunctionCallOutput("gone", "out")
	user := *rollout.NewMessage(rollout.RoleUser, "hi")
	got := agent.Normalize([]rollout.ResponseItem{user, call, orphan, custom})
	var kinds []string
	for _, it := range got {
		kinds = append(kinds, it.Type+":"+it.CallID+":"+it.Output.String())
	}
	want := []string{"message::", "function_call:c1:", "function_call_output:c1:aborted", "custom_tool_call:c2:", "custom_tool_call_output:c2:aborted"}
	if !equal(kinds, want) {
		t.Errorf("Normalize = %v, want %v", kinds, want)
	}
	fine := []rollout.ResponseItem{user, call, *rollout.NewFunctionCallOutput("c1", "ok")}
	if n := agent.Normalize(fine); len(n) != 3 || &n[0] != &fine[0] || cap(n) != 3 {
		t.Errorf("Normalize(well-formed) copied or kept spare capacity")
	}
}

// Many agents run turns at once against one model (race detector).
func TestManyAgentsConcurrently(t *testing.T) {
	const agents, turns = 16, 5
	m := modeltest.New(t)
	var hs []*harness
	for i := range agents {
		path := fmt.Sprintf("/root/a%d", i)
		for range turns {
			m.Route(modeltest.ForAgent(path),
				modeltest.Respond(modeltest.Reasoning("r"), modeltest.Call("sleep", `{"duration_ms":1}`)),
				modeltest.Text("done "+path))
		}
		hs = append(hs, start(t, m, func(c *agent.Config) {
			c.AgentPath = path
			c.ThreadID = rollout.ThreadID(fmt.Sprintf("01a21136-be7b-7fa3-a673-%012d", i))
		}))
	}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			for range turns {
				turn, err := h.a.Submit(context.Background(), "work")
				if err != nil {
					t.Errorf("agent %d: Submit: %v", i, err)
					return
				}
				res, err := turn.Wait(context.Background())
				if err != nil || res.LastAgentMessage != fmt.Sprintf("done /root/a%d", i) {
					t.Errorf("agent %d: result %+v, %v", i, res, err)
				}
			}
		})
	}
	wg.Wait()
	if got := len(m.Requests()); got != agents*turns*2 {
		t.Errorf("%d requests, want %d", got, agents*turns*2)
	}
}

// Close stops a running turn, and the agent refuses work afterwards.
func TestCloseDuringTurn(t *testing.T) {
	started := make(chan string, 1)
	m := modeltest.New(t, modeltest.Call("long", `{}`))
	h := start(t, m, withTools(blockingTool("long", started, nil)))
	turn := h.submit("go")
	<-started
	if err := h.a.Close(); err != nil {
		t.Fatal(err)
	}
	if res := h.wait(turn); res.Aborted != agent.AbortInterrupted {
		t.Errorf("result after Close = %+v, want aborted", res)
	}
	if _, err := h.a.Submit(context.Background(), "more"); err != agent.ErrClosed {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	// The subscription is closed after the last event.
	var last agent.Event
	for ev := range h.sub.C() {
		last = ev
	}
	if _, ok := last.(*agent.TurnAborted); !ok {
		t.Errorf("last event = %T, want TurnAborted", last)
	}
}

func TestNewConfigErrors(t *testing.T) {
	m := modeltest.New(t)
	for _, cfg := range []agent.Config{
		{Model: m},
		{ThreadID: testThread},
		{ThreadID: testThread, Model: m, HistoryMode: "future"},
		{ThreadID: testThread, Model: m, Tools: []capability.Tool{capability.Func{}}},
	} {
		if _, err := agent.New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

// Run returns the cause of its context, aborting the active turn.
func TestRunContextCancel(t *testing.T) {
	started := make(chan string, 1)
	m := modeltest.New(t, modeltest.Call("long", `{}`))
	a, err := agent.New(agent.Config{ThreadID: testThread, Model: m, Tools: []capability.Tool{blockingTool("long", started, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	turn, err := a.Submit(context.Background(), "go")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel(cause)
	if err := <-errc; !errors.Is(err, cause) {
		t.Errorf("Run = %v, want the context's cause", err)
	}
	if res, _ := turn.Wait(context.Background()); res.Aborted != agent.AbortInterrupted {
		t.Errorf("turn = %+v, want aborted", res)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after Run returned = %v", err)
	}
	if err := a.Run(context.Background()); !errors.Is(err, agent.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}
