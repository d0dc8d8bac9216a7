package rollout

import (
	"encoding/json"
	"strconv"
	"time"
)

// TurnStatus is how a turn ended.
type TurnStatus string

// Turn statuses (Codex's app-server names).
const (
	TurnCompleted   TurnStatus = "completed"
	TurnInterrupted TurnStatus = "interrupted"
	TurnFailed      TurnStatus = "failed"
	TurnInProgress  TurnStatus = "inProgress"
)

// Turn is one turn of a thread as the turn reducer sees it.
type Turn struct {
	// ID is the turn id; implicit turns of old files get "rollout-<n>",
	// n the index of the record that opened them.
	ID     string
	Status TurnStatus
	// Items are the turn's items in order, upserted by id.
	Items []TurnItem
	// Error is set for a failed turn.
	Error *TurnError
	// StartedAt and CompletedAt are zero when unknown.
	StartedAt, CompletedAt time.Time
	// Duration is the reported duration, else CompletedAt-StartedAt.
	Duration time.Duration
	// Explicit is true for a turn opened by task_started.
	Explicit bool

	sawCompaction bool
}

// TurnItem is one item of a turn: a Codex TurnItem (UserMessage,
// AgentMessage, Reasoning, CommandExecution, SubAgentActivity, Extension,
// ContextCompaction, ...) as its JSON snapshot. Items rebuilt from legacy
// events get ids "item-<n>" and Codex's TurnItem shape.
type TurnItem struct {
	ID   string
	Type string
	Raw  json.RawMessage
}

// legacyTwinTypes are the TurnItem types whose legacy events carry them in
// legacy rollouts (their item_completed snapshots would duplicate them).
var legacyTwinTypes = map[string]bool{"UserMessage": true, "AgentMessage": true, "Reasoning": true, "ContextCompaction": true}

// turnReducer is the state of Turns.
type turnReducer struct {
	mode     HistoryMode
	turns    []*Turn
	cur      *Turn
	nextItem int
	idx      int // index of the record being reduced
}

// Turns reduces a thread's items (in file order) to its turns, as Codex's
// ThreadHistoryBuilder does: task_started opens an explicit turn;
// task_complete (matched by turn id) completes it, or fails it when it
// carries an error; turn_aborted interrupts it; in files without explicit
// boundaries a legacy user_message opens an implicit turn;
// thread_rolled_back{n} drops the last n turns; item_completed snapshots are
// upserted by item id into the turn their turn_id names (for legacy
// threads, only item types that have no legacy event twin). An implicit
// turn left empty is dropped unless it saw a compaction. A turn still open
// at the end stays in progress (explicit) or completed (implicit).
func Turns(items []Item) []Turn {
	r := &turnReducer{nextItem: 1, mode: HistoryModeLegacy}
	for _, it := range items {
		if m, ok := it.Payload.(*SessionMeta); ok {
			r.mode = m.Mode()
			break
		}
	}
	for i, it := range items {
		r.idx = i
		r.add(i, it)
	}
	r.finish()
	out := make([]Turn, len(r.turns))
	for i, t := range r.turns {
		out[i] = *t
	}
	return out
}

func (r *turnReducer) add(i int, it Item) {
	switch p := it.Payload.(type) {
	case *Compacted:
		if r.cur != nil {
			r.cur.sawCompaction = true
		}
	case *EventMsg:
		r.event(i, it, p)
	}
}

func (r *turnReducer) event(i int, it Item, e *EventMsg) {
	switch CanonicalEventType(e.Type) {
	case EventTurnStarted:
		var ev TurnStarted
		_ = e.Decode(&ev)
		r.finish()
		t := &Turn{ID: ev.TurnID, Status: TurnInProgress, Explicit: true, StartedAt: unixOr(ev.StartedAt, it.Timestamp)}
		r.cur = t
	case EventTurnComplete:
		var ev TurnComplete
		_ = e.Decode(&ev)
		t := r.byID(ev.TurnID)
		if t == nil {
			return
		}
		switch {
		case ev.Error != nil:
			t.Status, t.Error = TurnFailed, ev.Error
		case t.Status != TurnFailed && t.Status != TurnInterrupted:
			t.Status = TurnCompleted
		}
		r.timing(t, it, ev.CompletedAt, ev.DurationMS)
		if t == r.cur {
			r.close()
		}
	case EventTurnAborted:
		var ev TurnAborted
		_ = e.Decode(&ev)
		t := r.byID(ev.TurnID)
		if t == nil {
			return
		}
		t.Status = TurnInterrupted
		r.timing(t, it, ev.CompletedAt, ev.DurationMS)
		if t == r.cur {
			r.close()
		}
	case EventError:
		if r.cur != nil {
			var te TurnError
			_ = json.Unmarshal(e.Raw, &te)
			r.cur.Status, r.cur.Error = TurnFailed, &te
		}
	case EventThreadRolledBack:
		var ev ThreadRolledBack
		_ = e.Decode(&ev)
		r.finish()
		n := min(int(ev.NumTurns), len(r.turns))
		r.turns = r.turns[:len(r.turns)-n]
		count := 0
		for _, t := range r.turns {
			count += len(t.Items)
		}
		r.nextItem = count + 1
	case EventUserMessage:
		var ev UserMessage
		_ = e.Decode(&ev)
		if r.cur == nil || !r.cur.Explicit {
			r.finish()
			r.cur = &Turn{ID: "rollout-" + strconv.Itoa(i), Status: TurnCompleted, StartedAt: it.Timestamp}
		}
		r.push(r.legacyItem("UserMessage", map[string]any{"content": []map[string]any{{"type": "text", "text": ev.Message, "text_elements": []any{}}}}))
	case EventAgentMessage:
		var ev AgentMessage
		_ = e.Decode(&ev)
		if ev.Message == "" {
			return
		}
		fields := map[string]any{"content": []map[string]any{{"type": "Text", "text": ev.Message}}}
		if ev.Phase != "" {
			fields["phase"] = ev.Phase
		}
		r.push(r.legacyItem("AgentMessage", fields))
	case EventAgentReasoning, EventAgentReasoningRaw:
		var ev AgentReasoning
		_ = e.Decode(&ev)
		r.reasoning(ev.Text, e.Is(EventAgentReasoningRaw))
	case EventContextCompacted:
		r.push(r.legacyItem("ContextCompaction", nil))
	case EventItemCompleted:
		var ev ItemCompleted
		if e.Decode(&ev) != nil {
			return
		}
		typ, id, _ := ev.ItemHeader()
		if r.mode != HistoryModePaginated && legacyTwinTypes[typ] {
			return
		}
		t := r.itemTurn(ev.TurnID)
		if t == nil || id == "" {
			return // unknown turn: dropped, as Codex does
		}
		upsert(t, TurnItem{ID: id, Type: typ, Raw: ev.Item})
	}
}

// byID finds the turn an event names: the current one, else an earlier
// one with that id, else (no id) the current one.
func (r *turnReducer) byID(id string) *Turn {
	if r.cur != nil && (id == "" || r.cur.ID == id) {
		return r.cur
	}
	for i := len(r.turns) - 1; i >= 0; i-- {
		if r.turns[i].ID == id {
			return r.turns[i]
		}
	}
	return r.cur
}

// itemTurn finds the turn an item event names; nil for an unknown id.
func (r *turnReducer) itemTurn(id string) *Turn {
	if id == "" || (r.cur != nil && r.cur.ID == id) {
		return r.cur
	}
	for i := len(r.turns) - 1; i >= 0; i-- {
		if r.turns[i].ID == id {
			return r.turns[i]
		}
	}
	return nil
}

func (r *turnReducer) timing(t *Turn, it Item, completedAt, durationMS *int64) {
	t.CompletedAt = unixOr(completedAt, it.Timestamp)
	if durationMS != nil {
		t.Duration = time.Duration(*durationMS) * time.Millisecond
	} else if !t.StartedAt.IsZero() {
		t.Duration = t.CompletedAt.Sub(t.StartedAt)
	}
}

// close ends the current turn, keeping it.
func (r *turnReducer) close() {
	r.turns = append(r.turns, r.cur)
	r.cur = nil
}

// finish ends the current turn, dropping it if it is an empty implicit one.
func (r *turnReducer) finish() {
	if r.cur == nil {
		return
	}
	if !r.cur.Explicit && len(r.cur.Items) == 0 && !r.cur.sawCompaction {
		r.cur = nil
		return
	}
	r.close()
}

func (r *turnReducer) legacyItem(typ string, fields map[string]any) TurnItem {
	id := "item-" + strconv.Itoa(r.nextItem)
	r.nextItem++
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	raw, _ := marshalJSON(m)
	return TurnItem{ID: id, Type: typ, Raw: raw}
}

// push adds an item to the current turn, opening an implicit one if none.
func (r *turnReducer) push(ti TurnItem) {
	if r.cur == nil {
		r.cur = &Turn{ID: "rollout-" + strconv.Itoa(r.idx), Status: TurnCompleted}
	}
	r.cur.Items = append(r.cur.Items, ti)
}

// reasoning appends text to the trailing Reasoning item or starts one.
func (r *turnReducer) reasoning(text string, raw bool) {
	key := "summary_text"
	if raw {
		key = "raw_content"
	}
	if r.cur != nil && len(r.cur.Items) > 0 {
		last := &r.cur.Items[len(r.cur.Items)-1]
		if last.Type == "Reasoning" {
			var m map[string]any
			if json.Unmarshal(last.Raw, &m) == nil {
				list, _ := m[key].([]any)
				m[key] = append(list, text)
				last.Raw, _ = marshalJSON(m)
				return
			}
		}
	}
	fields := map[string]any{"summary_text": []string{}, "raw_content": []string{}}
	fields[key] = []string{text}
	r.push(r.legacyItem("Reasoning", fields))
}

func upsert(t *Turn, ti TurnItem) {
	for i := range t.Items {
		if t.Items[i].ID == ti.ID {
			t.Items[i] = ti
			return
		}
	}
	t.Items = append(t.Items, ti)
}

func unixOr(sec *int64, fallback time.Time) time.Time {
	if sec != nil && *sec > 0 {
		return time.Unix(*sec, 0).UTC()
	}
	return fallback
}
