package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// This file is the one place where the thread's history grows and the
// rollout is written. Recording an item = append to history, persist the
// response_item line, emit RawResponseItem, in that order (SPEC-agent 3.9).
// The caller is whichever goroutine of the agent currently acts (the turn,
// a tool); a.mu serializes them.

// idPrefix returns the prefix of generated ids for a response item type.
func idPrefix(typ string) string {
	switch typ {
	case rollout.ItemMessage:
		return "msg"
	case rollout.ItemReasoning:
		return "rs"
	case rollout.ItemFunctionCall:
		return "fc"
	case rollout.ItemFunctionCallOutput:
		return "fco"
	case rollout.ItemCustomToolCall:
		return "ctc"
	case rollout.ItemCustomToolCallOutput:
		return "ctco"
	case rollout.ItemAgentMessage:
		return "amsg"
	case rollout.ItemAdditionalTools:
		return "at"
	case rollout.ItemWebSearchCall:
		return "ws"
	case rollout.ItemLocalShellCall:
		return "lsh"
	case "image_generation_call":
		return "ig"
	}
	return "item"
}

func (a *Agent) newItemID(typ string) string {
	return idPrefix(typ) + "_" + a.cfg.NewID()
}

// record appends item to the history and the rollout. It fills a missing id
// and the turn id of the passthrough metadata.
func (a *Agent) record(turnID string, item rollout.ResponseItem) rollout.ResponseItem {
	if item.ID == "" {
		item.ID = a.newItemID(item.Type)
	}
	if turnID != "" && item.TurnID() == "" {
		if item.Passthrough == nil {
			item.Passthrough = &rollout.Passthrough{TurnID: turnID}
		} else {
			p := *item.Passthrough
			p.TurnID = turnID
			item.Passthrough = &p
		}
	}
	a.mu.Lock()
	a.history = append(a.history, item)
	a.pairs.add(&item)
	a.noteLocked(&item)
	a.tokensSince += int64(approxBytes(&item) / 4)
	a.persistLocked(&item)
	// Emitted under the lock so subscribers see items in history order even
	// when tools record concurrently (emit never blocks).
	if a.hub.active() {
		a.hub.emit(&RawResponseItem{EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: turnID}, Item: item})
	}
	a.mu.Unlock()
	return item
}

// approxBytes estimates an item's serialized size without serializing it.
func approxBytes(it *rollout.ResponseItem) int {
	n := len(it.Arguments) + len(it.Input) + len(it.Output.Text) + len(it.EncryptedContent) + 64
	for _, p := range it.Content {
		n += len(p.Text) + len(p.EncryptedContent)
	}
	for _, p := range it.Summary {
		n += len(p.Text)
	}
	return n
}

// persist writes payloads to the rollout, if there is one.
func (a *Agent) persist(payloads ...rollout.Payload) {
	if a.cfg.Recorder == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.persistLocked(payloads...)
}

func (a *Agent) persistLocked(payloads ...rollout.Payload) {
	if a.cfg.Recorder == nil {
		return
	}
	now := a.cfg.Now()
	items := a.scratch[:0]
	for _, p := range payloads {
		items = append(items, rollout.Item{Timestamp: now, Payload: p})
	}
	if err := a.cfg.Recorder.AppendItems(items...); err != nil {
		a.warnLocked("", fmt.Sprintf("rollout append failed: %v", err))
	}
	clear(items)
	a.scratch = items[:0]
}

// persistEvent writes an event_msg line.
func (a *Agent) persistEvent(p rollout.EventPayload) {
	if a.cfg.Recorder == nil {
		return
	}
	ev, err := rollout.NewEvent(p)
	if err != nil {
		a.warn("", fmt.Sprintf("encode %s event: %v", p.EventType(), err))
		return
	}
	a.persist(ev)
}

// flush makes the rollout durable. Failures are reported as warnings: the
// thread goes on in memory and the next flush retries.
func (a *Agent) flush(turnID string) {
	if a.cfg.Recorder == nil {
		return
	}
	// A flush must finish even while the turn is being torn down.
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cfg.Recorder.Flush(ctx); err != nil {
		a.warnLocked(turnID, fmt.Sprintf("rollout flush failed: %v", err))
	}
}

// flushTimeout bounds one flush (an fsync on a sick disk).
const flushTimeout = 30 * time.Second

func (a *Agent) warn(turnID, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warnLocked(turnID, msg)
}

func (a *Agent) warnLocked(turnID, msg string) {
	a.cfg.Logger.Warn("agent: "+msg, "thread", string(a.cfg.ThreadID), "turn", turnID)
	a.hub.emit(&Warning{EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: turnID}, Message: msg})
}

// itemLifecycle persists a completed turn item per the history mode's
// policy and emits ItemCompleted. Paginated threads persist every
// completed item as an item_completed snapshot; legacy threads persist the
// legacy event twin instead, and item_completed only for sleep items (as
// Codex does).
func (a *Agent) completeItem(turnID string, item TurnItem, startedAt, completedAt time.Time) {
	a.emitMu.RLock()
	defer a.emitMu.RUnlock()
	if !a.turnOpenLocked(turnID) {
		a.cfg.Logger.Warn("agent: item completed after its turn ended; dropped", "thread", string(a.cfg.ThreadID), "turn", turnID, "item", item.ItemID())
		return
	}
	h := EventHeader{ThreadID: a.cfg.ThreadID, TurnID: turnID}
	st, ct := startedAt.UnixMilli(), completedAt.UnixMilli()
	if a.cfg.Recorder != nil {
		if a.cfg.HistoryMode == rollout.HistoryModePaginated || item.ItemKind() == KindSleep {
			raw, err := json.Marshal(item)
			if err != nil {
				a.warn(turnID, fmt.Sprintf("encode %s item: %v", item.ItemKind(), err))
			} else {
				a.persistEvent(rollout.ItemCompleted{ThreadID: a.cfg.ThreadID, TurnID: turnID, Item: raw, StartedAtMS: &st, CompletedAtMS: &ct})
			}
		} else {
			a.persistLegacyTwin(item)
		}
	}
	a.hub.emit(&ItemCompleted{EventHeader: h, Item: item, StartedAtMs: st, CompletedAtMs: ct})
}

func (a *Agent) persistLegacyTwin(item TurnItem) {
	switch x := item.(type) {
	case *UserMessage:
		a.persistEvent(rollout.UserMessage{Message: x.Text()})
	case *AgentMessage:
		if text := x.Text(); text != "" {
			a.persistEvent(rollout.AgentMessage{Message: text, Phase: x.Phase})
		}
	case *Reasoning:
		for _, s := range x.SummaryText {
			a.persistEvent(rollout.AgentReasoning{Text: s})
		}
	case *ContextCompaction:
		a.persistEvent(rollout.ContextCompacted{})
	}
}

func (a *Agent) startItem(turnID string, item TurnItem, at time.Time) {
	a.emitMu.RLock()
	defer a.emitMu.RUnlock()
	if !a.turnOpenLocked(turnID) {
		return
	}
	a.hub.emit(&ItemStarted{EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: turnID}, Item: item, StartedAtMs: at.UnixMilli()})
}

// recordUserText records a user message (history + item events).
func (a *Agent) recordUserText(turnID, text string) {
	now := a.cfg.Now()
	item := &UserMessage{ID: a.cfg.NewID(), Content: []UserInput{{Type: "text", Text: text}}}
	a.record(turnID, *rollout.NewMessage(rollout.RoleUser, text))
	a.startItem(turnID, item, now)
	a.completeItem(turnID, item, now, now)
}

// recordMail records a delivered message: the inter_agent_communication_metadata
// line, then the agent_message item.
//
// The item id is "amsg_" + the message id, so a message redelivered after a
// crash between recording and acknowledging it (the inbox restored from
// Unacked) is recognized and not recorded twice.
func (a *Agent) recordMail(turnID string, m *mailbox.Message) {
	id := ""
	if m.ID != "" {
		id = "amsg_" + m.ID
		a.mu.Lock()
		_, dup := a.mailSeen[id]
		a.mu.Unlock()
		if dup {
			a.warn(turnID, fmt.Sprintf("mail %s from %s was already delivered; not recorded again", m.ID, m.Author))
			return
		}
	}
	content := make([]rollout.ContentPart, len(m.Content))
	for i, p := range m.Content {
		switch p.Type {
		case mailbox.PartSealed:
			content[i] = rollout.ContentPart{Type: rollout.PartEncryptedContent, EncryptedContent: p.EncryptedContent}
		default:
			content[i] = rollout.ContentPart{Type: rollout.PartInputText, Text: p.Text}
		}
	}
	a.persist(&rollout.InterAgentMetadata{TriggerTurn: m.TriggerTurn})
	a.record(turnID, rollout.ResponseItem{
		Type:      rollout.ItemAgentMessage,
		ID:        id,
		Author:    m.Author,
		Recipient: m.Recipient,
		Content:   content,
	})
}

// isCall reports whether an item is a tool call whose output must follow it,
// and the output type that answers it.
func isCall(it *rollout.ResponseItem) (outputType string, ok bool) {
	switch it.Type {
	case rollout.ItemFunctionCall, rollout.ItemLocalShellCall:
		return rollout.ItemFunctionCallOutput, true
	case rollout.ItemCustomToolCall:
		return rollout.ItemCustomToolCallOutput, true
	}
	return "", false
}

func isOutput(it *rollout.ResponseItem) bool {
	return it.Type == rollout.ItemFunctionCallOutput || it.Type == rollout.ItemCustomToolCallOutput
}

// pairing tracks, as items are recorded, whether the history has calls
// without outputs or outputs without calls, so a well-formed history (the
// usual case) is sent without scanning it at every step.
type pairing struct {
	open    map[string]int // call id -> calls still without an output
	orphans int            // outputs recorded without their call
}

func (p *pairing) add(it *rollout.ResponseItem) {
	if _, ok := isCall(it); ok {
		if p.open == nil {
			p.open = make(map[string]int)
		}
		p.open[it.CallID]++
		return
	}
	if !isOutput(it) {
		return
	}
	if p.open[it.CallID] > 0 {
		if p.open[it.CallID]--; p.open[it.CallID] == 0 {
			delete(p.open, it.CallID)
		}
		return
	}
	p.orphans++
}

func (p *pairing) wellFormed() bool { return len(p.open) == 0 && p.orphans == 0 }

// AbortedOutput is the output a call without one gets in a request.
const AbortedOutput = "aborted"

// Normalize returns history as it may be sent to a model: a call lacking an
// output is followed by an "aborted" output, and an output lacking its call
// is dropped (Codex's for_prompt). When nothing needs fixing it returns
// history itself, capped so appends by the caller cannot alias it.
func Normalize(history []rollout.ResponseItem) []rollout.ResponseItem {
	calls := make(map[string]struct{})
	outputs := make(map[string]struct{})
	for i := range history {
		it := &history[i]
		if _, ok := isCall(it); ok {
			calls[it.CallID] = struct{}{}
		} else if isOutput(it) {
			outputs[it.CallID] = struct{}{}
		}
	}
	fine := len(calls) == len(outputs)
	if fine {
		for id := range calls {
			if _, ok := outputs[id]; !ok {
				fine = false
				break
			}
		}
	}
	if fine {
		return history[:len(history):len(history)]
	}
	out := make([]rollout.ResponseItem, 0, len(history)+len(calls))
	for i := range history {
		it := &history[i]
		if isOutput(it) {
			if _, ok := calls[it.CallID]; !ok {
				continue
			}
		}
		out = append(out, *it)
		if ot, ok := isCall(it); ok {
			if _, has := outputs[it.CallID]; !has {
				out = append(out, rollout.ResponseItem{Type: ot, CallID: it.CallID, Output: rollout.ToolOutput{Text: AbortedOutput}, Passthrough: it.Passthrough})
				outputs[it.CallID] = struct{}{} // a repeated call id gets one output
			}
		}
	}
	return out
}

func isSealedMail(it *rollout.ResponseItem) bool {
	if it.Type != rollout.ItemAgentMessage {
		return false
	}
	for _, p := range it.Content {
		if p.Type == rollout.PartEncryptedContent {
			return true
		}
	}
	return false
}

// openSealed returns input with the sealed parts of agent messages opened
// by the configured sealer. input is copied before any change.
func (a *Agent) openSealed(turnID string, input []rollout.ResponseItem) []rollout.ResponseItem {
	copied := false
	for i := range input {
		it := &input[i]
		if !isSealedMail(it) {
			continue
		}
		parts := make([]mailbox.Part, len(it.Content))
		for j, p := range it.Content {
			parts[j] = mailbox.Part{Type: mailbox.PartType(p.Type), Text: p.Text, EncryptedContent: p.EncryptedContent}
		}
		opened, err := mailbox.OpenForRequest(a.cfg.Sealer, parts)
		var content []rollout.ContentPart
		if err != nil {
			if _, done := a.openWarned[it.ID]; !done {
				if a.openWarned == nil {
					a.openWarned = make(map[string]struct{})
				}
				a.openWarned[it.ID] = struct{}{}
				a.warn(turnID, fmt.Sprintf("mail %s from %s could not be opened: %v", it.ID, it.Author, err))
			}
			content = []rollout.ContentPart{{Type: rollout.PartInputText, Text: fmt.Sprintf("[The content of this message could not be opened: %v]", err)}}
		} else {
			content = make([]rollout.ContentPart, len(opened))
			for j, p := range opened {
				content[j] = rollout.ContentPart{Type: string(p.Type), Text: p.Text, EncryptedContent: p.EncryptedContent}
			}
		}
		if !copied {
			input = slices.Clone(input)
			copied = true
			it = &input[i]
		}
		it.Content = content
	}
	return input
}

// noteLocked updates the indexes kept over the history for a new item.
func (a *Agent) noteLocked(it *rollout.ResponseItem) {
	if it.Type != rollout.ItemAgentMessage {
		return
	}
	if isSealedMail(it) {
		a.sealed++
	}
	if strings.HasPrefix(it.ID, "amsg_") {
		if a.mailSeen == nil {
			a.mailSeen = make(map[string]struct{})
		}
		a.mailSeen[it.ID] = struct{}{}
	}
}

// turnOpenLocked reports whether item events for turnID may still be
// emitted: the turn has not emitted its terminal event. Events outside a
// turn ("") always may. Callers hold emitMu.
func (a *Agent) turnOpenLocked(turnID string) bool {
	return turnID == "" || turnID == a.openTurn
}

// setOpenTurn opens or (with "") closes item events of a turn.
func (a *Agent) setOpenTurn(turnID string) {
	a.emitMu.Lock()
	a.openTurn = turnID
	a.emitMu.Unlock()
}
