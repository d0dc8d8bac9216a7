package agent

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// turn is one turn: immutable context (id, input, start time) set before its
// goroutine starts, and mutable state behind mu (pending input, mailbox
// delivery phase, wake-up signal), shared by the owner loop (steering, mail
// signals), the turn goroutine and its tools.
type turn struct {
	id        string
	a         *Agent
	input     []string // initial user input; empty for a mail-triggered turn
	handle    *Turn
	ctx       context.Context
	cancel    context.CancelCauseFunc
	startedAt time.Time

	mu       sync.Mutex
	pending  []pendingInput
	nextTurn bool          // mailbox delivery phase is next_turn
	sig      chan struct{} // closed when new input arrives; nil until asked for
	closed   bool          // finishing: no more steering

	// Immutable turn context, set by the owner loop when the turn starts.
	tc          *rollout.TurnContext // the turn's turn_context record
	model       Model                // serves the turn's requests (tc.Model)
	modelErr    error                // resolving tc.Model failed: the turn fails
	compactOnly bool                 // a Compact turn: compaction only, not steerable

	// Owned by the turn goroutine.
	seenIDs      map[string]struct{} // item ids and call ids used in this turn
	toolCalls    int
	step         *Step // the step being sampled (its tools and world state)
	compactStuck bool  // a compaction left the context at the limit
}

// pendingInput is steered user text or taken mail waiting to be recorded.
type pendingInput struct {
	text string
	mail *mailbox.Message
	item *rollout.ResponseItem // injected
}

// closedChan is a closed channel, handed out when input is already pending.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// steer appends user input; false when the turn is finishing.
func (t *turn) steer(text string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.compactOnly {
		return false
	}
	t.pending = append(t.pending, pendingInput{text: text})
	t.nextTurn = false
	t.signalLocked()
	return true
}

// inject appends items to the pending input; false when the turn is
// finishing.
func (t *turn) inject(items []rollout.ResponseItem) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	for i := range items {
		t.pending = append(t.pending, pendingInput{item: &items[i]})
	}
	t.nextTurn = false
	t.signalLocked()
	return true
}

// signal wakes whoever waits for new input (sleep).
func (t *turn) signal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.signalLocked()
}

func (t *turn) signalLocked() {
	if t.sig != nil {
		close(t.sig)
		t.sig = nil
	}
}

// newInput returns a channel closed when input the model has not seen is
// available: at once if some already is.
func (t *turn) newInput() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) > 0 || t.mailWaiting() {
		return closedChan
	}
	if t.sig == nil {
		t.sig = make(chan struct{})
	}
	return t.sig
}

func (t *turn) mailWaiting() bool {
	return t.a.cfg.Inbox != nil && t.a.cfg.Inbox.Len() > 0
}

// hasPending reports whether input waits for this turn (none while delivery
// is deferred to the next turn).
func (t *turn) hasPending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.nextTurn && (len(t.pending) > 0 || t.mailWaiting())
}

// reopen sets the delivery phase back to current_turn.
func (t *turn) reopen() {
	t.mu.Lock()
	t.nextTurn = false
	t.mu.Unlock()
}

// deferMail moves delivery to next_turn after a final answer, unless input
// other than queue-only mail is pending.
func (t *turn) deferMail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.pending {
		if p.mail == nil || p.mail.TriggerTurn {
			return
		}
	}
	t.nextTurn = true
}

// takePending takes the pending input and the waiting mail, in that order,
// if delivery is open.
func (t *turn) takePending() []pendingInput {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nextTurn {
		return nil
	}
	out := t.pending
	t.pending = nil
	if t.a.cfg.Inbox != nil {
		for _, m := range t.a.cfg.Inbox.Take() {
			out = append(out, pendingInput{mail: &m})
		}
	}
	return out
}

// close stops steering and returns what is pending.
func (t *turn) close() []pendingInput {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	out := t.pending
	t.pending = nil
	t.signalLocked()
	return out
}

// finishing reports whether the turn has stopped taking input: it is
// recording its end and will report to the owner loop.
func (t *turn) finishing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// interruptCause reports whether the turn was cancelled, and why.
func (t *turn) interrupted() bool { return t.ctx.Err() != nil }

// runTurn is the turn goroutine: the step loop, then exactly one terminal
// event.
func (a *Agent) runTurn(t *turn) {
	t.startedAt = a.cfg.Now()
	t.seenIDs = make(map[string]struct{})
	a.setOpenTurn(t.id)
	h := EventHeader{ThreadID: a.cfg.ThreadID, TurnID: t.id}
	started := t.startedAt.Unix()
	ts := rollout.TurnStarted{TurnID: t.id, StartedAt: &started}
	if w := a.cfg.Compaction.ContextWindow; w > 0 {
		ts.ModelContextWindow = &w
	}
	a.persistEvent(ts)
	a.hub.emit(&TurnStarted{EventHeader: h, StartedAtMs: t.startedAt.UnixMilli()})
	if f := a.cfg.OnTurnStart; f != nil {
		a.callback("OnTurnStart", func() { f(t.id) })
	}

	var last string
	var terr *TurnError
	if t.compactOnly {
		terr = a.compactTurn(t)
	} else {
		last, terr = a.steps(t)
	}

	res := TurnResult{TurnID: t.id, Compaction: t.compactOnly}
	end := a.cfg.Now()
	if t.interrupted() && terr == nil {
		// Abort: drop unrecorded input (mail goes back to the inbox), mark
		// the history, flush, then the terminal event.
		t.close()
		if a.cfg.Inbox != nil {
			a.cfg.Inbox.Requeue()
		}
		a.record(t.id, *rollout.NewMessage(rollout.RoleDeveloper, turnAbortedMarker))
		res.Aborted = AbortInterrupted
		a.setOpenTurn("")
		st, ct, dur := t.startedAt.Unix(), end.Unix(), end.Sub(t.startedAt).Milliseconds()
		a.persistEvent(rollout.TurnAborted{TurnID: t.id, Reason: string(res.Aborted), StartedAt: &st, CompletedAt: &ct, DurationMS: &dur})
		a.flush(t.id)
		a.hub.emit(&TurnAborted{EventHeader: h, Reason: res.Aborted, StartedAtMs: t.startedAt.UnixMilli(), CompletedAtMs: end.UnixMilli()})
	} else {
		// Input left pending is recorded before the turn completes.
		a.recordInputs(t, t.close())
		res.LastAgentMessage, res.Err = last, terr
		a.setOpenTurn("")
		st, ct, dur := t.startedAt.Unix(), end.Unix(), end.Sub(t.startedAt).Milliseconds()
		ev := rollout.TurnComplete{TurnID: t.id, StartedAt: &st, CompletedAt: &ct, DurationMS: &dur}
		if last != "" {
			ev.LastAgentMessage = &last
		}
		if terr != nil {
			ev.Error = &rollout.TurnError{Message: terr.Message}
		}
		a.persistEvent(ev)
		a.flush(t.id)
		a.hub.emit(&TurnComplete{EventHeader: h, LastAgentMessage: last, Error: terr, StartedAtMs: t.startedAt.UnixMilli(), CompletedAtMs: end.UnixMilli()})
	}
	if f := a.cfg.OnTurnEnd; f != nil {
		a.callback("OnTurnEnd", func() { f(res) })
	}
	t.handle.result = res
	close(t.handle.done)
	a.turnDone <- t
}

// turnAbortedMarker is the model-visible note recorded when a turn is
// interrupted (a developer message, as Codex's multi-agent v2 writes it).
const turnAbortedMarker = "<turn_aborted>\nThe user interrupted the previous turn on purpose. Any running tools may have been stopped partway; if any tools or commands were aborted, they may have partially executed.\n</turn_aborted>"

// steps runs the step loop. It returns the last agent message, or the error
// that ended the turn; when the turn was interrupted it returns (.., nil)
// and the caller sees t.interrupted().
//
// The first step is captured before anything of the turn is recorded: its
// world state (fragments, then the world_state record), then the turn's
// turn_context, then the turn's input (SPEC-agent 3.3, 3.7). Later steps
// take the pending input, then capture and record what changed.
func (a *Agent) steps(t *turn) (string, *TurnError) {
	began := false
	begin := func() {
		if began {
			return
		}
		began = true
		a.persist(t.tc)
		for _, text := range t.input {
			a.recordUserText(t.id, text)
		}
	}
	defer begin() // an interrupted or failed first step still records its input
	if t.modelErr != nil {
		return "", &TurnError{Message: t.modelErr.Error(), Err: t.modelErr}
	}
	if terr := a.preTurnCompact(t); terr != nil || t.interrupted() {
		return "", terr
	}
	a.prevTurn = t.tc
	// A turn with initial input samples it first; pending input (mail taken
	// at start, steers) joins from the second step on.
	canDrain := len(t.input) == 0
	for i := 0; ; i++ {
		if t.interrupted() {
			return "", nil
		}
		if canDrain && began {
			a.recordInputs(t, t.takePending())
		}
		step, err := a.cfg.Steps.CaptureStep(t.ctx, StepInfo{ThreadID: a.cfg.ThreadID, TurnID: t.id, Index: i, Now: a.cfg.Now()})
		if err != nil {
			if t.interrupted() {
				return "", nil
			}
			return "", &TurnError{Message: fmt.Sprintf("capture step: %v", err), Err: err}
		}
		t.step = step
		if err := a.recordWorld(t, step); err != nil {
			return "", &TurnError{Message: err.Error(), Err: err}
		}
		if !began {
			begin()
			if canDrain {
				a.recordInputs(t, t.takePending())
			}
		}
		res, err := a.sample(t, step)
		if err != nil {
			if t.interrupted() {
				return "", nil
			}
			return "", &TurnError{Message: err.Error(), Err: err}
		}
		canDrain = true
		if res.needsFollowUp {
			t.reopen()
		}
		if !res.needsFollowUp && !t.hasPending() {
			return res.lastMessage, nil
		}
		// A follow-up is needed: compact first if the context reached the
		// token limit (SPEC-agent 3.8).
		if terr := a.midTurnCompact(t, step); terr != nil {
			return "", terr
		}
	}
}

// recordInputs records pending input in order: steered text as user
// messages, mail as agent_message items. Mail is acknowledged once it is
// flushed to the rollout.
func (a *Agent) recordInputs(t *turn, in []pendingInput) {
	var mail []mailbox.Message
	for _, p := range in {
		if p.mail != nil {
			a.recordMail(t.id, p.mail)
			mail = append(mail, *p.mail)
			continue
		}
		if p.item != nil {
			a.record(t.id, *p.item)
			continue
		}
		a.recordUserText(t.id, p.text)
	}
	if len(mail) == 0 || a.cfg.Inbox == nil {
		return
	}
	a.flush(t.id)
	if err := a.cfg.Inbox.Ack(mail...); err != nil {
		a.warn(t.id, fmt.Sprintf("acknowledge mail: %v", err))
	}
}

// abortedOutput is the output of a tool cut short by an interrupt.
func abortedOutput(elapsed time.Duration) string {
	return fmt.Sprintf("aborted by user after %.1fs", elapsed.Seconds())
}

// callback runs an embedder's callback, turning a panic into a log entry.
func (a *Agent) callback(name string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			a.cfg.Logger.Error("agent: "+name+" panicked", "thread", string(a.cfg.ThreadID), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// turnContext returns the turn_context record of a turn: the current
// template (Config.TurnContext, SetTurnContext) with the turn id (and the
// model name when the template has none). Owner loop only.
func (a *Agent) turnContext(turnID string) *rollout.TurnContext {
	tc := rollout.TurnContext{}
	if a.settings != nil {
		tc = *a.settings
	}
	tc.TurnID = turnID
	if tc.Model == "" {
		tc.Model = a.cfg.ModelName
	}
	return &tc
}
