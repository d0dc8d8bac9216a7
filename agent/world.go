package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"

	"github.com/troupe-run/troupe/rollout"
)

// This file is the world state (SPEC-agent 3.7): the sections a step
// carries, the thread's baseline (what the model last saw), the diff of a
// step against it, and the replay of persisted world_state records.

// Fragment is what the model sees of a section: one developer or user
// message part. Consecutive fragments of the same role are recorded as one
// message with several parts.
type Fragment struct {
	// Role is rollout.RoleDeveloper or rollout.RoleUser.
	Role string
	Text string
}

// PriorKind says what the model last saw of a section.
type PriorKind uint8

// The kinds of Prior.
const (
	// PriorAbsent: the model never saw the section (no baseline, or the
	// baseline has no such section). Render the full state.
	PriorAbsent PriorKind = iota
	// PriorUnknown: the model saw something, but what is not known (the
	// stored snapshot could not be read). Render the full state.
	PriorUnknown
	// PriorKnown: Prior.State is the section's snapshot as last recorded.
	// Render what changed.
	PriorKnown
)

// Prior is the previous snapshot of a section, handed to its renderer.
type Prior struct {
	Kind PriorKind
	// State is the recorded snapshot (nulls stripped from objects) when
	// Kind is PriorKnown.
	State json.RawMessage
}

// Decode decodes a known prior into v, rejecting members v does not have.
// It returns false when the prior is not known or does not decode; the
// section then renders as for PriorUnknown (a stored snapshot of another
// shape is unknown, not an error).
func (p Prior) Decode(v any) bool {
	if p.Kind != PriorKnown {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(p.State))
	dec.DisallowUnknownFields()
	return dec.Decode(v) == nil
}

// Section is one part of the model-visible world state at one step
// (environments, capability roots, the agent's place in its tree, ...).
// Sections are built fresh per step by the StepProvider; the agent compares
// each with what the model last saw and records what changed.
type Section interface {
	// SectionID is the section's stable id: its key in world_state records.
	// Ids are unique within a step.
	SectionID() string
	// Snapshot is the section's comparison state: any value encoding/json
	// encodes to something other than null. It must not change once the
	// step is captured. A provider may hand back the same section value
	// (the same pointer) at a later step when nothing changed: the agent
	// then does not encode it again. Null members of objects are
	// stripped (through nested objects, not inside arrays) before it is
	// compared and recorded, so an absent optional field and a null one
	// are the same state.
	Snapshot() any
	// Render returns the fragment the model sees, given what it saw of the
	// section before: the full state for PriorAbsent and PriorUnknown, the
	// changes for PriorKnown. ok is false when there is nothing to say (the
	// change is not worth a message; the new snapshot is recorded anyway).
	Render(prior Prior) (f Fragment, ok bool)
}

// worldState is the thread's world-state baseline (SPEC-agent 3.1, 3.7):
// the snapshot most recently made visible to the model, by section id. It
// is changed only by the turn goroutine (and by New, before any turn),
// which reads it without locking; changes hold mu so that other goroutines
// (Agent.WorldState) can read it under mu.
type worldState struct {
	mu sync.Mutex
	// baseline holds each section's canonical JSON; nil when there is no
	// baseline (a new thread, after a compaction, or after clear).
	baseline map[string]json.RawMessage
	// unknown says the model saw a world state that could not be read
	// back (an unparsable stored snapshot): every section renders as
	// PriorUnknown and the next record is full.
	unknown bool

	// replayWarnings are the replay's warnings, logged at New and emitted
	// as Warning events at the first step that records world state (no
	// one subscribes before New returns). Turn goroutine only after New.
	replayWarnings []string

	// memo remembers, by section id, the last encoded snapshot and its
	// canonical form: a section that encodes as it did at the last step
	// (the usual case) is not decoded again. Turn goroutine only.
	memo map[string]memoEntry
}

type memoEntry struct {
	v          any // the snapshot value when it is a pointer
	raw, canon json.RawMessage
}

// canonical returns the canonical JSON of a section's snapshot, reusing
// the last one when the snapshot is the same pointer as at the last step
// (a provider that kept an unchanged section) or encodes to the same
// bytes.
func (w *worldState) canonical(id string, v any) (json.RawMessage, error) {
	isPtr := v != nil && reflect.TypeOf(v).Kind() == reflect.Pointer
	if m, ok := w.memo[id]; ok && isPtr && m.v == v {
		return m.canon, nil
	}
	raw, ok := v.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var ptr any
	if isPtr {
		ptr = v
	}
	if m, ok := w.memo[id]; ok && bytes.Equal(m.raw, raw) {
		m.v = ptr
		w.memo[id] = m
		return m.canon, nil
	}
	c, err := canonical(raw)
	if err != nil {
		return nil, err
	}
	if w.memo == nil {
		w.memo = make(map[string]memoEntry)
	}
	w.memo[id] = memoEntry{v: ptr, raw: bytes.Clone(raw), canon: c}
	return c, nil
}

// clear drops the baseline: the next recorded world state is full.
//
// Compaction hook: a compaction that replaces the history calls clear, then
// recordWorld with the current step (a full world_state follows the
// compacted record), then persists the turn_context.
func (w *worldState) clear() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.baseline = nil
	w.unknown = false
}

// has reports whether there is a baseline (known or not).
func (w *worldState) has() bool { return w.baseline != nil || w.unknown }

// set makes state (canonical JSON by section id) the baseline.
func (w *worldState) set(state map[string]json.RawMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.baseline = state
	w.unknown = false
}

// setUnknown records that the model saw a world state that cannot be read.
func (w *worldState) setUnknown() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.baseline, w.unknown = nil, true
}

// errNullSnapshot is returned for a section whose snapshot encodes to null.
var errNullSnapshot = errors.New("snapshot is null")

// canonical returns v's JSON with null object members stripped through
// nested objects (arrays are kept as they are, as Codex does) and object
// keys sorted, so equal states have equal bytes.
func canonical(v any) (json.RawMessage, error) {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, errNullSnapshot
	}
	return json.Marshal(stripNulls(tree))
}

// stripNulls removes null members of objects, recursively through
// objects; arrays are data and stay untouched.
func stripNulls(v any) any {
	if x, ok := v.(map[string]any); ok {
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = stripNulls(e)
		}
	}
	return v
}

// worldChange is what one step's world state adds to the thread: the
// fragments to record, then the world_state record; zero when nothing
// changed.
type worldChange struct {
	fragments []Fragment
	record    *rollout.WorldState
	state     map[string]json.RawMessage // the new baseline
}

// diff compares the step's sections with the baseline. Sections whose
// snapshot cannot be encoded are skipped with a warning (returned); a
// duplicate id is an error (the provider is broken). The patch is built
// per section, so an unchanged section costs one encoding and a compare.
func (w *worldState) diff(sections []Section) (worldChange, []string, error) {
	var warnings []string
	state := make(map[string]json.RawMessage, len(sections))
	type entry struct {
		id    string
		s     Section
		prior Prior
	}
	changed := make([]entry, 0, len(sections))
	for _, s := range sections {
		id := s.SectionID()
		if id == "" {
			return worldChange{}, warnings, errors.New("world state: section with an empty id")
		}
		if _, dup := state[id]; dup {
			return worldChange{}, warnings, fmt.Errorf("world state: duplicate section id %q", id)
		}
		snap, err := w.canonical(id, s.Snapshot())
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("world state: section %q skipped: %v", id, err))
			continue
		}
		state[id] = snap
		var prior Prior
		switch {
		case w.unknown:
			prior.Kind = PriorUnknown
		case w.baseline != nil:
			old, ok := w.baseline[id]
			if ok && bytes.Equal(old, snap) {
				continue
			}
			if ok {
				prior = Prior{Kind: PriorKnown, State: old}
			}
		}
		changed = append(changed, entry{id, s, prior})
	}
	var removed []string
	if !w.unknown {
		for id := range w.baseline {
			if _, ok := state[id]; !ok {
				removed = append(removed, id)
			}
		}
	}
	if len(changed) == 0 && len(removed) == 0 && w.has() {
		return worldChange{}, warnings, nil
	}
	ch := worldChange{state: state}
	for _, e := range changed {
		if f, ok := e.s.Render(e.prior); ok {
			ch.fragments = append(ch.fragments, f)
		}
	}
	if w.baseline == nil {
		full, err := marshalState(state)
		if err != nil {
			return worldChange{}, warnings, err
		}
		ch.record = &rollout.WorldState{Full: true, State: full}
		return ch, warnings, nil
	}
	patch := make(map[string]json.RawMessage, len(changed)+len(removed))
	for _, e := range changed {
		if e.prior.Kind != PriorKnown {
			patch[e.id] = state[e.id]
			continue
		}
		p, err := createMergePatch(e.prior.State, state[e.id])
		if err != nil {
			return worldChange{}, warnings, err
		}
		patch[e.id] = p
	}
	for _, id := range removed {
		patch[id] = json.RawMessage("null")
	}
	raw, err := marshalState(patch)
	if err != nil {
		return worldChange{}, warnings, err
	}
	ch.record = &rollout.WorldState{Full: false, State: raw}
	return ch, warnings, nil
}

// marshalState encodes a state as one JSON object (keys sorted).
func marshalState(state map[string]json.RawMessage) (json.RawMessage, error) {
	return json.Marshal(state)
}

// parseState reads a persisted world state: an object of section
// snapshots, each made canonical.
func parseState(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("state is null")
	}
	for id, v := range m {
		c, err := canonical(v)
		if errors.Is(err, errNullSnapshot) {
			delete(m, id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("section %q: %w", id, err)
		}
		m[id] = c
	}
	return m, nil
}

// replay restores the baseline from persisted records in file order
// (rollout.History.WorldState): a compacted record clears it, a full
// world_state sets it, a patch applies to it. A record that cannot be used
// is reported in the returned warnings, never an error: an unreadable full
// snapshot (or a patch that does not apply) leaves the baseline unknown, so
// the next step re-renders everything; a patch without a baseline is
// ignored.
func (w *worldState) replay(items []rollout.Item) []string {
	var warnings []string
	for _, it := range items {
		switch p := it.Payload.(type) {
		case *rollout.Compacted:
			w.clear()
		case *rollout.WorldState:
			if p.Full {
				st, err := parseState(p.State)
				if err != nil {
					warnings = append(warnings, fmt.Sprintf("world state: stored snapshot unreadable (%v); the next step restates the world state", err))
					w.setUnknown()
					continue
				}
				w.set(st)
				continue
			}
			switch {
			case w.unknown:
				// Still unknown: the patch has nothing known to apply to.
			case w.baseline == nil:
				warnings = append(warnings, "world state: patch record without a baseline ignored")
			default:
				if err := w.apply(p.State); err != nil {
					warnings = append(warnings, fmt.Sprintf("world state: patch record does not apply (%v); the next step restates the world state", err))
					w.setUnknown()
				}
			}
		}
	}
	return warnings
}

// apply applies a merge patch to the baseline.
func (w *worldState) apply(patch json.RawMessage) error {
	old, err := marshalState(w.baseline)
	if err != nil {
		return err
	}
	doc, err := applyMergePatch(old, patch)
	if err != nil {
		return err
	}
	st, err := parseState(doc)
	if err != nil {
		return err
	}
	w.set(st)
	return nil
}

// fragmentMessages turns fragments into messages: consecutive fragments of
// one role become one message with a part each.
func fragmentMessages(fs []Fragment) []rollout.ResponseItem {
	var out []rollout.ResponseItem
	for _, f := range fs {
		role := f.Role
		if role == "" {
			role = rollout.RoleDeveloper
		}
		part := rollout.ContentPart{Type: rollout.PartInputText, Text: f.Text}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, part)
			continue
		}
		out = append(out, rollout.ResponseItem{Type: rollout.ItemMessage, Role: role, Content: []rollout.ContentPart{part}})
	}
	return out
}

// recordWorld records the world state of step if it changed since the
// baseline: the rendered fragments into the history, then the world_state
// record (full without a baseline, else a merge patch), and makes it the
// baseline. Nothing is recorded when nothing changed. The caller persists
// the turn_context afterwards when one is due (order: history items, then
// world_state, then turn_context). Turn goroutine only.
//
// Compaction hook: after a compaction has recorded its compacted item and
// called a.world.clear(), calling recordWorld(t, t.step) records the full
// world state that must follow it, before the turn_context.
func (a *Agent) recordWorld(t *turn, step *Step) error {
	if step == nil || len(step.Sections) == 0 {
		// A provider without sections does not manage world state: the
		// baseline (a resumed thread's, say) stays for a later step that
		// has sections.
		return nil
	}
	for _, w := range a.world.replayWarnings {
		a.hub.emit(&Warning{EventHeader: EventHeader{ThreadID: a.cfg.ThreadID, TurnID: t.id}, Message: w})
	}
	a.world.replayWarnings = nil
	ch, warnings, err := a.world.diff(step.Sections)
	for _, w := range warnings {
		a.warn(t.id, w)
	}
	if err != nil {
		return err
	}
	if ch.record == nil {
		return nil
	}
	for _, m := range fragmentMessages(ch.fragments) {
		// Marked as harness context (persisted with the item), so no
		// compaction takes a user-role fragment for a user message.
		rollout.MarkHarness(&m)
		a.record(t.id, m)
	}
	a.persist(ch.record)
	a.world.set(ch.state)
	return nil
}

// replayWorld restores the baseline at New from Config.WorldState, logging
// what could not be used (and keeping it for Warning events).
func (a *Agent) replayWorld(items []rollout.Item) {
	warnings := a.world.replay(items)
	for _, w := range warnings {
		a.cfg.Logger.Warn("agent: "+w, slog.String("thread", string(a.cfg.ThreadID)))
	}
	a.world.replayWarnings = warnings
}

// WorldState returns the world state the model last saw as a full
// world_state record, or nil when there is none (no world state recorded
// yet, a compaction cleared it, or the stored one could not be read). A
// full-history fork persists it after the copied history and passes it as
// the fork's Config.WorldState, so the fork keeps diffing from it. Safe to
// call from any goroutine.
func (a *Agent) WorldState() *rollout.WorldState {
	w := &a.world
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.baseline == nil {
		return nil
	}
	state, err := marshalState(w.baseline)
	if err != nil {
		return nil
	}
	return &rollout.WorldState{Full: true, State: state}
}

// ReplayWorldState replays world_state and compacted records (in file
// order, as rollout.History.WorldState holds them) the way an agent does at
// New, and returns the resulting baseline as a full world_state record (nil
// when there is none) with warnings naming the records that could not be
// used. It serves forks of threads that are not live.
func ReplayWorldState(items []rollout.Item) (*rollout.WorldState, []string) {
	var w worldState
	warnings := w.replay(items)
	if w.baseline == nil {
		return nil, warnings
	}
	state, err := marshalState(w.baseline)
	if err != nil {
		return nil, append(warnings, err.Error())
	}
	return &rollout.WorldState{Full: true, State: state}, warnings
}
