package agent

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// stepResult is the outcome of one model step.
type stepResult struct {
	needsFollowUp bool
	lastMessage   string
}

// sample runs one model step with retries (SPEC-agent 3.5). A retried
// request is rebuilt from the history, so whatever the failed attempt
// recorded stays.
func (a *Agent) sample(t *turn, step *Step) (stepResult, error) {
	tools := a.toolsFor(step)
	for attempt := 0; ; attempt++ {
		res, err := a.attempt(t, tools)
		if err == nil {
			return res, nil
		}
		if t.interrupted() {
			return res, context.Cause(t.ctx)
		}
		if err := a.awaitRetry(t, attempt, err); err != nil {
			return res, err
		}
	}
}

// awaitRetry decides whether a request that failed with err on attempt
// (from 0) is retried: if so it announces the retry with a StreamError,
// waits the server's delay or the backoff and returns nil; otherwise it
// returns the error to end with (err, or the turn's cancellation).
func (a *Agent) awaitRetry(t *turn, attempt int, err error) error {
	retry, delay := Retryable(err)
	if !retry || attempt >= a.cfg.MaxRetries {
		return err
	}
	n := attempt + 1
	if delay <= 0 {
		delay = a.backoff(n)
	}
	a.hub.emit(&StreamError{
		EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: t.id},
		Message:     fmt.Sprintf("Reconnecting... %d/%d", n, a.cfg.MaxRetries),
		Attempt:     n, MaxRetries: a.cfg.MaxRetries, Err: err,
	})
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-t.ctx.Done():
		return context.Cause(t.ctx)
	}
}

// backoff is 200ms × 2^(n−1) ± 10 % jitter.
func (a *Agent) backoff(n int) time.Duration {
	base := 200 * time.Millisecond * time.Duration(math.Pow(2, float64(min(n-1, 20))))
	return time.Duration(float64(base) * (0.9 + 0.2*a.cfg.Jitter()))
}

// toolsFor returns the step's tools with the built-in sleep tool first
// (unless disabled or the step has its own "sleep"). The merged set is
// cached per step set.
func (a *Agent) toolsFor(step *Step) *capability.Set {
	if a.sleep == nil {
		return step.Tools
	}
	if step.Tools == a.lastSrc && a.lastMerged != nil {
		return a.lastMerged
	}
	merged := &capability.Set{}
	if _, _, _, has := step.Tools.Lookup(SleepToolName); !has {
		if err := merged.Add(a.sleep); err != nil {
			panic(err) // the built-in spec is valid
		}
	}
	for _, tool := range step.Tools.Tools() {
		_ = merged.Add(tool) // names are unique within step.Tools
	}
	a.lastSrc, a.lastMerged = step.Tools, merged
	return merged
}

// streaming is an item the model is streaming (added, not yet done).
type streaming struct {
	id        string
	typ       string
	role      string
	startedAt time.Time
	announced bool // ItemStarted emitted
}

// toolRun is one tool call in flight.
type toolRun struct {
	call      rollout.ResponseItem
	tool      capability.Tool
	reported  bool              // no DynamicToolCall item: the tool reports its own, or shell
	shell     *CommandExecution // the item of a shell call
	startedAt time.Time
	done      chan struct{}
	out       capability.Output
	err       error
}

// attempt streams one response and handles its items (SPEC-agent 3.3 c–e).
func (a *Agent) attempt(t *turn, tools *capability.Set) (res stepResult, err error) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	req := a.request(t, tools)
	var (
		runs      []*toolRun
		active    *streaming
		byID      = map[string]*streaming{}
		completed bool
		preempted bool
		warned    bool
	)
	h := EventHeader{ThreadID: a.cfg.ThreadID, TurnID: t.id}
	deltaTarget := func(ev *StreamEvent) *streaming {
		if ev.ItemID != "" {
			if s, ok := byID[ev.ItemID]; ok {
				return s
			}
		} else if active != nil {
			return active
		}
		if !warned {
			warned = true
			a.warn(t.id, fmt.Sprintf("model stream sent a %s for no streaming item (item id %q); ignored", ev.Kind, ev.ItemID))
		}
		return nil
	}
stream:
	for ev, serr := range t.model.Stream(ctx, req) {
		if serr != nil {
			err = serr
			break
		}
		switch ev.Kind {
		case StreamItemAdded:
			if ev.Item == nil {
				continue
			}
			it := ev.Item
			key := a.claimStreamID(t, it)
			s := &streaming{id: it.ID, typ: it.Type, role: it.Role, startedAt: a.cfg.Now()}
			byID[key] = s
			active = s
			if ti := turnItemOf(it); ti != nil {
				s.announced = true
				a.startItem(t.id, ti, s.startedAt)
			}
		case StreamTextDelta:
			if s := deltaTarget(&ev); s != nil && a.hub.active() {
				a.hub.emit(&AgentMessageDelta{EventHeader: h, ItemID: s.id, Delta: ev.Delta})
			}
		case StreamReasoningSummaryDelta:
			if s := deltaTarget(&ev); s != nil && a.hub.active() {
				a.hub.emit(&ReasoningSummaryDelta{EventHeader: h, ItemID: s.id, Delta: ev.Delta, SummaryIndex: ev.Index})
			}
		case StreamReasoningContentDelta:
			if s := deltaTarget(&ev); s != nil && a.hub.active() {
				a.hub.emit(&ReasoningContentDelta{EventHeader: h, ItemID: s.id, Delta: ev.Delta, ContentIndex: ev.Index})
			}
		case StreamItemDone:
			if ev.Item == nil {
				a.warn(t.id, "model stream sent an output_item_done without an item; ignored")
				continue
			}
			it := *ev.Item
			s := a.claimID(t, &it, active, byID)
			if s == active {
				active = nil
			}
			if _, isCall := isCall(&it); isCall {
				t.reopen()
				a.claimCallID(t, &it)
				it = a.record(t.id, it)
				runs = append(runs, a.startTool(ctx, t, tools, it))
				res.needsFollowUp = true
				continue
			}
			preempt := a.completeOutputItem(t, &it, s, &res)
			if preempt {
				// Mail preemption: the model sees the mail before going on;
				// what the stream says next is discarded.
				res.needsFollowUp = true
				preempted = true
				break stream
			}
		case StreamCompleted:
			completed = true
			if ev.Usage != nil {
				a.usage(t, *ev.Usage)
			}
			if ev.EndTurn != nil && !*ev.EndTurn {
				res.needsFollowUp = true
			}
			break stream
		}
	}
	if err == nil && !completed && !preempted {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		} else {
			err = &ModelError{Class: ErrStreamClosed}
		}
	}
	if err != nil {
		cancel() // stop the attempt's tools
	}
	a.finishTools(t, runs, err != nil)
	if err != nil {
		res.lastMessage = ""
	}
	return res, err
}

// claimID settles the id of a done item: the id of its streaming entry when
// it was streamed, else its own (or a fresh one when missing or already used
// in this turn). It returns the streaming entry, if any.
func (a *Agent) claimID(t *turn, it *rollout.ResponseItem, active *streaming, byID map[string]*streaming) *streaming {
	var s *streaming
	switch {
	case it.ID != "":
		s = byID[it.ID]
	case active != nil && active.typ == it.Type:
		s = active
	}
	if s != nil {
		for k, v := range byID {
			if v == s {
				delete(byID, k)
			}
		}
		it.ID = s.id
		return s
	}
	if it.ID == "" {
		it.ID = a.newItemID(it.Type)
	} else if _, used := t.seenIDs[it.ID]; used {
		fresh := a.newItemID(it.Type)
		a.warn(t.id, fmt.Sprintf("model reused item id %q; recorded as %q", it.ID, fresh))
		it.ID = fresh
	}
	t.seenIDs[it.ID] = struct{}{}
	return nil
}

// claimStreamID settles the id of an added item, keyed by the id the model
// used so later deltas and the done item find it.
func (a *Agent) claimStreamID(t *turn, it *rollout.ResponseItem) (key string) {
	key = it.ID
	if it.ID == "" {
		it.ID = a.newItemID(it.Type)
		key = it.ID
	} else if _, used := t.seenIDs[it.ID]; used {
		fresh := a.newItemID(it.Type)
		a.warn(t.id, fmt.Sprintf("model reused item id %q; recorded as %q", it.ID, fresh))
		it.ID = fresh
	}
	t.seenIDs[it.ID] = struct{}{}
	return key
}

// claimCallID gives a call a call id that is unique in the turn.
func (a *Agent) claimCallID(t *turn, it *rollout.ResponseItem) {
	key := func(id string) string { return "call\x00" + id }
	if it.CallID == "" {
		it.CallID = "call_" + a.cfg.NewID()
	} else if _, used := t.seenIDs[key(it.CallID)]; used {
		fresh := "call_" + a.cfg.NewID()
		a.warn(t.id, fmt.Sprintf("model reused call id %q; recorded as %q", it.CallID, fresh))
		it.CallID = fresh
	}
	t.seenIDs[key(it.CallID)] = struct{}{}
}

// completeOutputItem handles a done item that is not a tool call: item
// events, history, last message and delivery phase. It reports whether the
// stream should be preempted for waiting mail.
func (a *Agent) completeOutputItem(t *turn, it *rollout.ResponseItem, s *streaming, res *stepResult) (preempt bool) {
	ti := turnItemOf(it)
	if ti != nil {
		now := a.cfg.Now()
		started := now
		if s != nil && s.announced {
			started = s.startedAt
		} else {
			a.startItem(t.id, ti, now)
		}
		a.completeItem(t.id, ti, started, now)
	}
	a.record(t.id, *it)
	switch x := ti.(type) {
	case *AgentMessage:
		if x.Phase == rollout.PhaseCommentary {
			return t.mailWaiting()
		}
		if text := x.Text(); text != "" {
			res.lastMessage = text
			t.deferMail()
		}
	case *Reasoning:
		return t.mailWaiting()
	}
	return false
}

// turnItemOf returns the turn item shown for a model output item: an
// AgentMessage for an assistant message, a Reasoning item for reasoning, nil
// for anything else.
func turnItemOf(it *rollout.ResponseItem) TurnItem {
	switch it.Type {
	case rollout.ItemMessage:
		if it.Role != rollout.RoleAssistant && it.Role != "" {
			return nil
		}
		m := &AgentMessage{ID: it.ID, Phase: it.Phase, Content: []AgentContent{}}
		for _, p := range it.Content {
			if p.Text != "" {
				m.Content = append(m.Content, AgentContent{Type: "Text", Text: p.Text})
			}
		}
		return m
	case rollout.ItemReasoning:
		r := &Reasoning{ID: it.ID, SummaryText: []string{}, RawContent: []string{}}
		for _, p := range it.Summary {
			r.SummaryText = append(r.SummaryText, p.Text)
		}
		for _, p := range it.Content {
			r.RawContent = append(r.RawContent, p.Text)
		}
		return r
	}
	return nil
}

// usage records a response's token usage.
func (a *Agent) usage(t *turn, u TokenUsage) {
	a.mu.Lock()
	a.tokensUsed, a.tokensSince = u.TotalTokens, 0
	tu := a.totalUsage
	tu.InputTokens += u.InputTokens
	tu.CachedInputTokens += u.CachedInputTokens
	tu.OutputTokens += u.OutputTokens
	tu.ReasoningOutputTokens += u.ReasoningOutputTokens
	tu.TotalTokens += u.TotalTokens
	a.totalUsage = tu
	a.mu.Unlock()
	info := &rollout.TokenCountInfo{TotalTokenUsage: tu, LastTokenUsage: u}
	if w := a.cfg.Compaction.ContextWindow; w > 0 {
		info.ModelContextWindow = &w
	}
	a.persistEvent(rollout.TokenCount{Info: info})
	a.hub.emit(&TokenCount{EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: t.id}, Last: u, Total: tu})
}

// TokensUsed returns the context size as the agent estimates it: the last
// response's total tokens plus bytes/4 of what was recorded after it.
func (a *Agent) TokensUsed() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokensUsed + a.tokensSince
}

// request builds the step's request from the normalized history.
func (a *Agent) request(t *turn, tools *capability.Set) *Request {
	a.mu.Lock()
	var input []rollout.ResponseItem
	if a.pairs.wellFormed() {
		input = a.history[:len(a.history):len(a.history)]
	} else {
		input = Normalize(a.history)
	}
	window := int(a.win.number)
	sealed := a.sealed > 0 && a.cfg.Sealer != nil
	a.mu.Unlock()
	if sealed {
		input = a.openSealed(t.id, input)
	}
	return &Request{
		Instructions:      a.cfg.Instructions,
		Input:             input,
		Tools:             a.specsFor(tools),
		ParallelToolCalls: !a.cfg.SerialToolCalls,
		Metadata: RequestMetadata{
			ThreadID:  a.cfg.ThreadID,
			TurnID:    t.id,
			WindowID:  WindowID(a.cfg.ThreadID, window),
			AgentPath: a.cfg.AgentPath,
		},
	}
}

func (a *Agent) specsFor(tools *capability.Set) []capability.Spec {
	if tools == a.specsSrc && a.specs != nil {
		return a.specs
	}
	a.specsSrc, a.specs = tools, tools.Specs()
	return a.specs
}
