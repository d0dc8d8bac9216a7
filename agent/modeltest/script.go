package modeltest

import (
	"context"
	"iter"
	"sync"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// Scripted is anything that can answer one request: a *Script, which every
// builder of this package returns.
type Scripted interface {
	script() *Script
}

// Script is one scripted response: a sequence of parts (items, raw events,
// gates, failures) followed by a completed event unless a part ends the
// stream (Fail, CloseEarly). Build one with Respond or any single-part
// builder (Text, Call, ...). A Script is immutable once built and may be
// queued more than once.
type Script struct {
	steps      []step
	noComplete bool
	usage      *agent.TokenUsage
	endTurn    *bool
	responseID string
}

func (s *Script) script() *Script { return s }

type stepKind uint8

const (
	stepEvents stepKind = iota + 1
	stepGate
	stepFail
	stepEnd
)

type step struct {
	kind  stepKind
	build func(p *player) []agent.StreamEvent
	gate  *Gate
	err   error
}

// player holds the state of one playback: the model's id counter.
type player struct{ m *Model }

func (p *player) id(prefix string) string {
	p.m.mu.Lock()
	p.m.nextID++
	n := p.m.nextID
	p.m.mu.Unlock()
	return prefix + "_" + itoa(n)
}

// Respond joins parts into one response, in order.
func Respond(parts ...Scripted) *Script {
	s := &Script{}
	for _, p := range parts {
		ps := p.script()
		s.steps = append(s.steps, ps.steps...)
		s.noComplete = s.noComplete || ps.noComplete
		if ps.usage != nil {
			s.usage = ps.usage
		}
		if ps.endTurn != nil {
			s.endTurn = ps.endTurn
		}
		if ps.responseID != "" {
			s.responseID = ps.responseID
		}
	}
	return s
}

func events(build func(p *player) []agent.StreamEvent) *Script {
	return &Script{steps: []step{{kind: stepEvents, build: build}}}
}

// Text is a final-answer assistant message, streamed as added, one text
// delta, done.
func Text(text string) *Script { return Message(rollout.PhaseFinalAnswer, text) }

// Commentary is an assistant message in the commentary phase (not a final
// answer; with mail waiting it preempts the stream).
func Commentary(text string) *Script { return Message(rollout.PhaseCommentary, text) }

// Message is an assistant message with the given phase ("" for none).
func Message(phase, text string) *Script {
	return events(func(p *player) []agent.StreamEvent {
		id := p.id("msg")
		added := &rollout.ResponseItem{Type: rollout.ItemMessage, ID: id, Role: rollout.RoleAssistant, Phase: phase}
		done := rollout.NewMessage(rollout.RoleAssistant, text)
		done.ID, done.Phase = id, phase
		return []agent.StreamEvent{
			{Kind: agent.StreamItemAdded, Item: added},
			{Kind: agent.StreamTextDelta, ItemID: id, Delta: text},
			{Kind: agent.StreamItemDone, Item: done},
		}
	})
}

// Reasoning is a reasoning item with one summary part, streamed as added,
// one summary delta, done.
func Reasoning(summary string) *Script {
	return events(func(p *player) []agent.StreamEvent {
		id := p.id("rs")
		done := &rollout.ResponseItem{Type: rollout.ItemReasoning, ID: id,
			Summary: []rollout.ContentPart{{Type: rollout.PartSummaryText, Text: summary}}}
		return []agent.StreamEvent{
			{Kind: agent.StreamItemAdded, Item: &rollout.ResponseItem{Type: rollout.ItemReasoning, ID: id}},
			{Kind: agent.StreamReasoningSummaryDelta, ItemID: id, Delta: summary},
			{Kind: agent.StreamItemDone, Item: done},
		}
	})
}

// Call is a function call of tool name with JSON arguments. Its call id is
// "call_<n>", n counting the ids this model handed out.
func Call(name, arguments string) *Script {
	return events(func(p *player) []agent.StreamEvent {
		return callEvents(p.id("call"), name, arguments)
	})
}

// CallID is a function call with a chosen call id.
func CallID(callID, name, arguments string) *Script {
	return events(func(*player) []agent.StreamEvent {
		return callEvents(callID, name, arguments)
	})
}

func callEvents(callID, name, arguments string) []agent.StreamEvent {
	return []agent.StreamEvent{
		{Kind: agent.StreamItemAdded, Item: &rollout.ResponseItem{Type: rollout.ItemFunctionCall, ID: "fc_" + callID, CallID: callID, Name: name}},
		{Kind: agent.StreamItemDone, Item: &rollout.ResponseItem{Type: rollout.ItemFunctionCall, ID: "fc_" + callID, CallID: callID, Name: name, Arguments: arguments}},
	}
}

// Item sends it as a done output item (no added event), as given: an item
// without id tests id filling.
func Item(it rollout.ResponseItem) *Script {
	return events(func(*player) []agent.StreamEvent {
		c := it
		return []agent.StreamEvent{{Kind: agent.StreamItemDone, Item: &c}}
	})
}

// Event sends raw stream events, for malformed streams (a delta without an
// item, a done event without an item, ...). Items in them are copied.
func Event(evs ...agent.StreamEvent) *Script {
	return events(func(*player) []agent.StreamEvent {
		out := make([]agent.StreamEvent, len(evs))
		for i, ev := range evs {
			if ev.Item != nil {
				c := *ev.Item
				ev.Item = &c
			}
			out[i] = ev
		}
		return out
	})
}

// Fail ends the stream with err (no completed event). Use an
// *agent.ModelError to choose retryable or fatal; other errors are
// retryable.
func Fail(err error) *Script {
	return &Script{steps: []step{{kind: stepFail, err: err}}, noComplete: true}
}

// CloseEarly ends the stream without a completed event (a retryable
// failure for the agent).
func CloseEarly() *Script {
	return &Script{steps: []step{{kind: stepEnd}}, noComplete: true}
}

// Usage sets the token usage reported with the completed event.
func Usage(u agent.TokenUsage) *Script { return &Script{usage: &u} }

// Tokens sets the completed event's usage to total input tokens.
func Tokens(total int64) *Script {
	return Usage(agent.TokenUsage{InputTokens: total, TotalTokens: total})
}

// Continue makes the completed event say end_turn=false: the model wants a
// follow-up step even without tool calls.
func Continue() *Script {
	f := false
	return &Script{endTurn: &f}
}

// ResponseID sets the response id of the completed event (default
// "resp_<n>").
func ResponseID(id string) *Script { return &Script{responseID: id} }

// Pause stops the stream at this point until g is released (or the
// request's context ends), so a test can act at an exact point of a stream:
// wait for g.Reached(), steer, send mail or interrupt, then g.Release().
func Pause(g *Gate) *Script {
	return &Script{steps: []step{{kind: stepGate, gate: g}}}
}

// Gate is a point in a scripted stream where the stream waits for the test.
type Gate struct {
	reached     chan struct{}
	release     chan struct{}
	reachOnce   sync.Once
	releaseOnce sync.Once
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{reached: make(chan struct{}), release: make(chan struct{})}
}

// Reached is closed when a stream arrives at the gate.
func (g *Gate) Reached() <-chan struct{} { return g.reached }

// Release lets the stream go on. Idempotent.
func (g *Gate) Release() { g.releaseOnce.Do(func() { close(g.release) }) }

func (s *Script) play(ctx context.Context, m *Model) iter.Seq2[agent.StreamEvent, error] {
	return func(yield func(agent.StreamEvent, error) bool) {
		p := &player{m: m}
		for _, st := range s.steps {
			if ctx.Err() != nil {
				yield(agent.StreamEvent{}, context.Cause(ctx))
				return
			}
			switch st.kind {
			case stepGate:
				st.gate.reachOnce.Do(func() { close(st.gate.reached) })
				select {
				case <-st.gate.release:
				case <-ctx.Done():
					yield(agent.StreamEvent{}, context.Cause(ctx))
					return
				}
			case stepFail:
				yield(agent.StreamEvent{}, st.err)
				return
			case stepEnd:
				return
			case stepEvents:
				for _, ev := range st.build(p) {
					if !yield(ev, nil) {
						return
					}
				}
			}
		}
		if s.noComplete {
			return
		}
		id := s.responseID
		if id == "" {
			id = p.id("resp")
		}
		yield(agent.StreamEvent{Kind: agent.StreamCompleted, ResponseID: id, Usage: s.usage, EndTurn: s.endTurn}, nil)
	}
}
