package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/troupe-run/troupe/rollout"
)

// This file is compaction (SPEC-agent 3.8): when the thread's context is
// replaced by a summary, how the summary is asked for, what the
// replacement history holds and what is persisted.

// CompactionConfig configures context windows and compaction.
type CompactionConfig struct {
	// ContextWindow is the model's context window in tokens. Zero: unknown;
	// tokens then never trigger a compaction unless TokenLimit is set.
	ContextWindow int64
	// TokenLimit is the token count (TokensUsed) at which the context is
	// compacted: before a turn, and mid-turn when a follow-up is needed.
	// Zero: DefaultCompactPercent of ContextWindow. Negative: never on
	// tokens.
	TokenLimit int64
	// Prompt is the summarization prompt, sent as a user message after the
	// history. Zero: DefaultSummarizationPrompt.
	Prompt string
	// UserMessageTokens is the allowance of approximate tokens (bytes/4) of
	// the most recent real user messages kept, verbatim, before the summary.
	// Zero: DefaultUserMessageTokens. Negative: none are kept.
	UserMessageTokens int
	// FreshWindow replaces summarization: a compaction starts a new window
	// whose history is only the initial context (the full world state
	// recorded right after it); nothing is asked of the model.
	FreshWindow bool
}

// Defaults of CompactionConfig.
const (
	// DefaultCompactPercent is the share of the context window at which the
	// context is compacted (Codex's 90 %).
	DefaultCompactPercent = 90
	// DefaultUserMessageTokens is Codex's allowance of user messages kept
	// by a compaction.
	DefaultUserMessageTokens = 20_000
)

// DefaultSummarizationPrompt asks the model for a summary another model can
// continue from.
const DefaultSummarizationPrompt = `Your context window is about to be replaced. Write a handoff note for the model that continues this conversation in a fresh context: it will see only the latest user messages and your note.

Cover, concisely:
- the goal the user set and any constraints or preferences they stated;
- what has been done so far and what it showed (key results, decisions, file paths, commands, identifiers);
- what is in progress and what remains to do, in order;
- anything that must not be forgotten (open questions, promises made, errors met).

Write only the note.`

// ErrTurnActive is returned by Compact while a turn runs.
var ErrTurnActive = errors.New("agent: a turn is running")

func (c *CompactionConfig) validate() error {
	switch {
	case c.ContextWindow < 0:
		return errors.New("negative Compaction.ContextWindow")
	case c.TokenLimit > 0 && c.ContextWindow > 0 && c.TokenLimit > c.ContextWindow:
		return fmt.Errorf("Compaction.TokenLimit %d exceeds Compaction.ContextWindow %d", c.TokenLimit, c.ContextWindow)
	}
	if c.Prompt == "" {
		c.Prompt = DefaultSummarizationPrompt
	}
	if c.UserMessageTokens == 0 {
		c.UserMessageTokens = DefaultUserMessageTokens
	}
	return nil
}

// CompactionError is how a failed compaction ends its turn (in
// TurnError.Err): the history is left as it was.
type CompactionError struct {
	// Reason says what triggered the compaction: "comp_hash", "token_limit",
	// "mid_turn" or "requested".
	Reason string
	Err    error
}

// Error says the compaction failed, why it ran and the cause.
func (e *CompactionError) Error() string {
	return fmt.Sprintf("context compaction (%s) failed, history left unchanged: %v", e.Reason, e.Err)
}

// Unwrap returns the cause (a *ModelError, a context error, ...).
func (e *CompactionError) Unwrap() error { return e.Err }

// Reasons a compaction runs.
const (
	reasonCompHash   = "comp_hash"
	reasonTokenLimit = "token_limit"
	reasonMidTurn    = "mid_turn"
	reasonRequested  = "requested"
)

// Compact compacts the thread's context now, as its own turn (TurnStarted,
// ContextCompaction item events, TurnComplete, with TurnResult.Err set when
// it failed). It fails with ErrTurnActive while a turn runs (a turn whose
// result is already out does not count): a running turn compacts itself
// when it reaches the token limit. Input submitted while the
// compaction runs is not steered into it; it starts the next turn.
func (a *Agent) Compact(ctx context.Context) (*Turn, error) {
	var h *Turn
	var cerr error
	err := a.do(ctx, func() {
		if t := a.active; t != nil && t.finishing() {
			// Its result is out (a caller that waited for it may compact
			// at once): let it end first. It is past every step that
			// needs this loop, so its end comes promptly.
			a.finished(<-a.turnDone)
		}
		if a.active != nil {
			cerr = fmt.Errorf("%w (turn %s)", ErrTurnActive, a.active.id)
			return
		}
		t := a.newTurn(nil)
		t.compactOnly = true
		a.start(t)
		h = t.handle
	})
	if err != nil {
		return nil, err
	}
	return h, cerr
}

// compactTurn is the body of a turn started by Compact.
func (a *Agent) compactTurn(t *turn) *TurnError {
	if t.modelErr != nil {
		return &TurnError{Message: t.modelErr.Error(), Err: t.modelErr}
	}
	step, err := a.cfg.Steps.CaptureStep(t.ctx, StepInfo{ThreadID: a.cfg.ThreadID, TurnID: t.id, Index: 0, Now: a.cfg.Now()})
	if err != nil {
		if t.interrupted() {
			return nil
		}
		return &TurnError{Message: fmt.Sprintf("capture step: %v", err), Err: err}
	}
	if terr := a.compactNow(t, t.model, reasonRequested, step); terr != nil {
		return terr
	}
	if !t.interrupted() {
		// The history is now the current model's summary: a comp_hash
		// change since the last turn has been dealt with.
		a.prevTurn = t.tc
	}
	return nil
}

// preTurnCompact runs the compaction checks before a turn's first step
// (SPEC-agent 3.8): a comp_hash change between the previous turn and this
// one compacts with the previous turn's model; else reaching the token
// limit compacts with this turn's. The world state recorded next is full
// (the baseline is cleared), then the turn_context follows.
func (a *Agent) preTurnCompact(t *turn) *TurnError {
	if a.historyLen() == 0 {
		return nil
	}
	if prev := a.prevTurn; prev != nil && prev.CompHash != "" && t.tc.CompHash != "" && prev.CompHash != t.tc.CompHash {
		m, err := a.modelFor(prev.Model)
		if err != nil {
			cerr := &CompactionError{Reason: reasonCompHash, Err: fmt.Errorf("previous model %q: %w", prev.Model, err)}
			return &TurnError{Message: cerr.Error(), Err: cerr}
		}
		return a.compactNow(t, m, reasonCompHash, nil)
	}
	if a.tokenLimitReached() {
		return a.compactNow(t, t.model, reasonTokenLimit, nil)
	}
	return nil
}

// midTurnCompact compacts when a follow-up step is needed and the token
// limit is reached. step is the step just sampled: its world state is
// recorded in full after the compaction, then the turn_context.
func (a *Agent) midTurnCompact(t *turn, step *Step) *TurnError {
	if t.compactStuck || !a.tokenLimitReached() {
		return nil
	}
	return a.compactNow(t, t.model, reasonMidTurn, step)
}

// compactNow compacts the history with model m and reports a failure as the
// turn's error (an interruption is not an error: the caller sees
// t.interrupted()). With a step, the full world state of the step and the
// turn's turn_context are recorded after the compacted record; without one
// (before a turn's first step) the first step records them.
func (a *Agent) compactNow(t *turn, m Model, reason string, step *Step) *TurnError {
	item := &ContextCompaction{ID: "cc_" + a.cfg.NewID()}
	started := a.cfg.Now()
	a.startItem(t.id, item, started)
	err := a.compact(t, m, reason)
	if err != nil {
		if t.interrupted() {
			item.Status = CompactionInterrupted
			a.completeItem(t.id, item, started, a.cfg.Now())
			return nil
		}
		cerr := &CompactionError{Reason: reason, Err: err}
		a.cfg.Logger.Warn("agent: "+cerr.Error(), "thread", string(a.cfg.ThreadID), "turn", t.id)
		item.Status, item.Error = CompactionFailed, cerr.Error()
		a.completeItem(t.id, item, started, a.cfg.Now())
		return &TurnError{Message: cerr.Error(), Err: cerr}
	}
	if werr := a.worldAfterCompaction(t, step); werr != nil {
		// The history was replaced; only the world state after it failed.
		a.completeItem(t.id, item, started, a.cfg.Now())
		return &TurnError{Message: werr.Error(), Err: werr}
	}
	if step != nil {
		a.persist(t.tc)
	}
	a.completeItem(t.id, item, started, a.cfg.Now())
	if a.tokenLimitReached() {
		// What is kept (user messages, summary, world state) still reaches
		// the limit: compacting again would not help this turn.
		t.compactStuck = true
		a.warn(t.id, fmt.Sprintf("context still at %d tokens after compaction (limit %d); no further automatic compaction this turn", a.TokensUsed(), a.cfg.Compaction.tokenLimit()))
	}
	return nil
}

// worldAfterCompaction is the world-state hook of a compaction: it clears
// the baseline (the replaced history no longer shows the world) and, given
// the step, records the step's world state, which is then full.
func (a *Agent) worldAfterCompaction(t *turn, step *Step) error {
	a.world.clear()
	if step == nil {
		return nil
	}
	return a.recordWorld(t, step)
}

// compact asks m for a summary of the history (unless in fresh-window
// mode), then replaces the history, advances the window and persists the
// compacted record. On error the history is untouched.
func (a *Agent) compact(t *turn, m Model, reason string) error {
	a.mu.Lock()
	// Normalize caps a history it returns as is, so later appends cannot
	// reach the snapshot.
	snapshot := Normalize(a.history)
	taken := len(a.history)
	a.mu.Unlock()

	var summary string
	var replacement []rollout.ResponseItem
	if a.cfg.Compaction.FreshWindow {
		replacement = []rollout.ResponseItem{}
	} else {
		text, err := a.summarize(t, m, snapshot)
		if err != nil {
			return err
		}
		summary = rollout.SummaryPrefix + "\n" + text
		msg := rollout.NewMessage(rollout.RoleUser, summary)
		msg.ID = a.newItemID(rollout.ItemMessage)
		msg.Passthrough = &rollout.Passthrough{TurnID: t.id}
		replacement = append(keptUserMessages(snapshot, a.cfg.Compaction.UserMessageTokens), *msg)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.win.advance(a.cfg.NewID)
	// Items recorded while the summary was asked for (none in practice:
	// the turn goroutine is the only writer during a turn) are kept.
	later := a.history[taken:]
	hist := make([]rollout.ResponseItem, 0, len(replacement)+len(later))
	hist = append(append(hist, replacement...), later...)
	a.history = hist
	a.pairs = pairing{}
	a.sealed = 0
	for i := range a.history {
		a.pairs.add(&a.history[i])
		a.noteLocked(&a.history[i])
	}
	a.tokensUsed, a.tokensSince = 0, approxTokens(a.history)
	n := a.win.number
	a.persistLocked(&rollout.Compacted{
		Message:            summary,
		ReplacementHistory: replacement,
		WindowNumber:       &n,
		FirstWindowID:      a.win.firstID,
		PreviousWindowID:   a.win.prevID,
		WindowID:           a.win.id,
	})
	a.cfg.Logger.Info("agent: context compacted", "thread", string(a.cfg.ThreadID), "turn", t.id, "reason", reason,
		"window", n, "items_before", taken, "items_after", len(a.history))
	return nil
}

// summarize asks m for a summary of history and returns the text of its
// last assistant message. Retryable failures are retried like a step's
// (StreamError events); a context-window-exceeded failure drops the oldest
// history item and tries again while more than one is left.
func (a *Agent) summarize(t *turn, m Model, history []rollout.ResponseItem) (string, error) {
	a.mu.Lock()
	window := a.win.number
	sealed := a.sealed > 0 && a.cfg.Sealer != nil
	a.mu.Unlock()
	prompt := rollout.NewMessage(rollout.RoleUser, a.cfg.Compaction.Prompt)
	for attempt := 0; ; attempt++ {
		input := append(history[:len(history):len(history)], *prompt)
		if sealed {
			input = a.openSealed(t.id, input)
		}
		req := &Request{
			Instructions: a.cfg.Instructions,
			Input:        input,
			Metadata: RequestMetadata{
				ThreadID:  a.cfg.ThreadID,
				TurnID:    t.id,
				WindowID:  WindowID(a.cfg.ThreadID, int(window)),
				AgentPath: a.cfg.AgentPath,
			},
		}
		text, err := a.summaryAttempt(t, m, req)
		if err == nil {
			if strings.TrimSpace(text) == "" {
				return "", errors.New("the model returned no summary")
			}
			return text, nil
		}
		if t.interrupted() {
			return "", context.Cause(t.ctx)
		}
		if errors.Is(err, ErrContextWindowExceeded) && len(history) > 1 {
			// Drop from the front: the newest items matter most, and the
			// prefix cache survives.
			history = Normalize(history[1:])
			attempt = -1
			continue
		}
		if err := a.awaitRetry(t, attempt, err); err != nil {
			return "", err
		}
	}
}

// summaryAttempt streams one summarization response and returns its last
// assistant message's text. Nothing of the response is recorded: the
// summary reaches the history only through the compaction.
func (a *Agent) summaryAttempt(t *turn, m Model, req *Request) (string, error) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	var text string
	for ev, err := range m.Stream(ctx, req) {
		if err != nil {
			return "", err
		}
		switch ev.Kind {
		case StreamItemDone:
			if it := ev.Item; it != nil && it.Type == rollout.ItemMessage && (it.Role == rollout.RoleAssistant || it.Role == "") {
				if s := it.Text(); s != "" {
					text = s
				}
			}
		case StreamCompleted:
			if ev.Usage != nil {
				a.usage(t, *ev.Usage)
			}
			return text, nil
		}
	}
	if ctx.Err() != nil {
		return "", context.Cause(ctx)
	}
	return "", &ModelError{Class: ErrStreamClosed}
}

// keptUserMessages returns the most recent real user messages of history
// (not harness context such as world-state fragments, see
// IsHarnessContext; not earlier summaries) within budget approximate
// tokens, newest first, the oldest one kept truncated to fit, in
// chronological order.
func keptUserMessages(history []rollout.ResponseItem, budget int) []rollout.ResponseItem {
	var kept []rollout.ResponseItem
	remaining := budget
	for i := len(history) - 1; i >= 0 && remaining > 0; i-- {
		it := &history[i]
		if !it.IsUserMessage() || IsHarnessContext(it) {
			continue
		}
		text := it.Text()
		if strings.HasPrefix(text, rollout.SummaryPrefix+"\n") {
			continue
		}
		tokens := (len(text) + 3) / 4
		if tokens <= remaining {
			kept = append(kept, *it)
			remaining -= tokens
			continue
		}
		cut := truncateUTF8(text, remaining*4)
		msg := rollout.NewMessage(rollout.RoleUser, cut)
		msg.ID, msg.Passthrough = it.ID, it.Passthrough
		kept = append(kept, *msg)
		break
	}
	slices.Reverse(kept)
	return kept
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// historyLen is the number of items in the history.
func (a *Agent) historyLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.history)
}

// modelFor returns the Model serving a model name (Config.ModelFor), or
// Config.Model when no resolver is configured.
func (a *Agent) modelFor(name string) (Model, error) {
	if a.cfg.ModelFor == nil {
		return a.cfg.Model, nil
	}
	m, err := a.cfg.ModelFor(name)
	if err == nil && m == nil {
		err = errors.New("no model")
	}
	if err != nil {
		return nil, fmt.Errorf("agent: model %q: %w", name, err)
	}
	return m, nil
}
