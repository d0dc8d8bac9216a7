package scenario

import (
	"context"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// Step is one scripted model response and the agent (path) it answers.
type Step struct {
	Agent string
	Reply *modeltest.Script
}

// Sequencer is the offline model of a scenario: a scripted model
// (agent/modeltest) whose responses are served in one global order, and
// a Trace that prints deterministically however the agents' goroutines
// are scheduled.
//
// Agents run concurrently, so the order in which their events reach a
// subscriber varies from run to run. The Sequencer makes the printed trace
// stable: it serves step k only to the agent the script names and only
// once everything step k-1 caused in its own agent has been printed (its
// tool calls' outputs, the start of a blocking wait or sleep, or the end of
// its turn). Events of the other agents are held and printed, in each
// agent's own order, when that agent's next response is served (or at
// Close). Only the order of printing is controlled; the runtime itself
// runs as it would with a real model.
type Sequencer struct {
	trace *Trace
	tb    modeltest.Standalone
	model *modeltest.Model
	// Stuck bounds how long a request waits, with nothing else moving,
	// for the script to reach it before it fails (a script that does not
	// match what the agents do). Generous: another agent's tool (a cold
	// go test in code_review) may run meanwhile.
	Stuck time.Duration
}

var _ agent.Model = (*Sequencer)(nil)

// NewSequencer returns a sequencer over steps, printing to out.
func NewSequencer(out io.Writer, steps ...Step) *Sequencer {
	s := &Sequencer{trace: NewTrace(out), Stuck: 2 * time.Minute}
	s.trace.seq = true
	s.model = modeltest.New(&s.tb)
	byAgent := map[string][]modeltest.Scripted{}
	var agents []string
	for _, st := range steps {
		if _, ok := byAgent[st.Agent]; !ok {
			agents = append(agents, st.Agent)
		}
		byAgent[st.Agent] = append(byAgent[st.Agent], st.Reply)
		s.trace.order = append(s.trace.order, st.Agent)
	}
	for _, a := range agents {
		s.model.Route(modeltest.ForAgent(a), byAgent[a]...)
	}
	return s
}

// Trace returns the sequencer's trace.
func (s *Sequencer) Trace() *Trace { return s.trace }

// Stream implements agent.Model: it waits for the request's turn in the
// script, then plays the scripted response.
func (s *Sequencer) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	return func(yield func(agent.StreamEvent, error) bool) {
		thread := req.Metadata.ThreadID
		if err := s.trace.serve(ctx, req, s.Stuck); err != nil {
			yield(agent.StreamEvent{}, &agent.ModelError{Class: agent.ErrInvalidRequest, Err: err})
			return
		}
		defer s.trace.streamed(thread)
		for ev, err := range s.model.Stream(ctx, req) {
			if err == nil && ev.Kind == agent.StreamItemDone && ev.Item != nil &&
				(ev.Item.Type == rollout.ItemFunctionCall || ev.Item.Type == rollout.ItemCustomToolCall) {
				s.trace.expect(thread, ev.Item.CallID)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// Wait returns once every step was served and has settled.
func (s *Sequencer) Wait(ctx context.Context) error {
	return s.trace.waitSteps(ctx, -1)
}

// WaitSteps returns once the first n steps were served and have settled.
func (s *Sequencer) WaitSteps(ctx context.Context, n int) error {
	return s.trace.waitSteps(ctx, n)
}

// Close reports what went wrong with the script: steps never served,
// requests that had no step. Call it after the runtime closed.
func (s *Sequencer) Close() error { return s.tb.Close() }

// ErrScript is wrapped by the errors a Sequencer gives requests the script
// cannot answer.
var ErrScript = fmt.Errorf("scenario: offline script")

// serve waits until step k of the script is the request's agent's and
// step k-1 settled, then makes the request's thread the foreground: its
// held events print, and so will its next ones until this step settles.
func (t *Trace) serve(ctx context.Context, req *agent.Request, stuck time.Duration) error {
	path, thread := req.Metadata.AgentPath, req.Metadata.ThreadID
	timer := time.NewTimer(stuck)
	defer timer.Stop()
	for {
		t.mu.Lock()
		if t.served >= len(t.order) {
			t.mu.Unlock()
			return fmt.Errorf("%w: no response left for %s (all %d served)", ErrScript, path, len(t.order))
		}
		if t.cur == nil && t.order[t.served] == path {
			t.paths[thread] = path
			t.served++
			t.fg = thread
			t.cur = &settle{thread: thread, turn: req.Metadata.TurnID, calls: map[string]bool{}}
			for _, ev := range t.buf[thread] {
				t.print(ev)
			}
			delete(t.buf, thread)
			t.notify()
			t.mu.Unlock()
			return nil
		}
		ch, want := t.changed, t.order[t.served]
		t.mu.Unlock()
		select {
		case <-ch:
			if !timer.Stop() {
				<-timer.C
			}
			timer.Reset(stuck)
		case <-timer.C:
			return fmt.Errorf("%w: stuck: %s asks for a response, but step %d is for %s, which has not asked for %s",
				ErrScript, path, t.servedNow()+1, want, stuck)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (t *Trace) servedNow() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.served
}

// expect records a call of the current response.
func (t *Trace) expect(thread rollout.ThreadID, callID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.thread == thread {
		if _, ok := t.cur.calls[callID]; !ok {
			t.cur.calls[callID] = false
		}
	}
}

// streamed records the end of the current response's stream.
func (t *Trace) streamed(thread rollout.ThreadID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.thread == thread {
		t.cur.streamed = true
		t.settleCheck()
	}
}

// waitSteps waits until n steps (all when n < 0) were served and settled.
func (t *Trace) waitSteps(ctx context.Context, n int) error {
	for {
		t.mu.Lock()
		if n < 0 || n > len(t.order) {
			n = len(t.order)
		}
		if t.served >= n && (t.cur == nil || t.served > n) {
			t.mu.Unlock()
			return nil
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
