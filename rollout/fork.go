package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ForkOptions configure Fork.
type ForkOptions struct {
	// NewID is the forked thread's id (from the caller's id source).
	// Required.
	NewID ThreadID
	// Path is where the fork's rollout is created; empty means
	// SessionPath(Home, Clock(), NewID).
	Path string
	// Home is the Codex home used when Path is empty.
	Home string
	// LastTurns, when positive, copies only the last LastTurns user turns
	// (surviving rollbacks); zero copies the full history.
	LastTurns int
	// Meta, if set, is the fork's session_meta as is (its ID must be
	// NewID). Otherwise it is derived from the parent's canonical meta: new
	// id and session id, forked_from_id = the parent, timestamp now,
	// parent-specific fields (history base, ordinals) cleared.
	Meta *SessionMeta
	// Clock stamps the new lines; nil means time.Now.
	Clock func() time.Time
	// BufferSize is the recorder's (see RecorderConfig).
	BufferSize int
}

// Fork copies the rollout at srcPath into a new thread and returns the
// fork's recorder, flushed and ready to continue (the caller closes it).
// The fork starts with its own session_meta, then the parent's lines in
// order, copied byte-identical (unknown kinds and members included; only
// the ordinal changes in a paginated thread, renumbered after the new
// session_meta). With LastTurns > 0 only the lines from the start of the
// LastTurns-th last surviving user turn are copied: metadata lines of the
// cut part (session_meta, turn_context, world_state, ...) are not. If the
// parent's last turn is still open (started, never ended), a turn_aborted
// {reason: interrupted} closes it in the fork, as Codex does. Corrupt lines
// of the parent are skipped; an unsupported history mode fails closed.
func Fork(ctx context.Context, srcPath string, opts ForkOptions) (*Recorder, error) {
	if !opts.NewID.Valid() {
		return nil, fmt.Errorf("rollout: fork: new id %q: %w", opts.NewID, ErrInvalidThreadID)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	parentMeta, err := ReadMeta(srcPath)
	if err != nil {
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	if !parentMeta.Mode().Known() {
		return nil, fmt.Errorf("rollout: fork: %w %q (thread %s)", ErrUnsupportedHistoryMode, parentMeta.HistoryMode, parentMeta.ID)
	}
	var items []Item
	for it, err := range Read(srcPath, ReadOptions{}) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				continue
			}
			return nil, fmt.Errorf("rollout: fork: %w", err)
		}
		items = append(items, it)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.LastTurns > 0 {
		items = items[forkCut(items, opts.LastTurns):]
	}

	var meta *SessionMeta
	if opts.Meta != nil {
		m := *opts.Meta // the caller's value is left alone
		meta = &m
	} else {
		m := *parentMeta
		m.ID, m.SessionID, m.ForkedFromID = opts.NewID, opts.NewID, parentMeta.ID
		m.Timestamp = FormatTimestamp(opts.Clock())
		m.HistoryBase, m.SubagentHistoryStartOrdinal, m.ForkedFromOrdinalExclusive = nil, nil, nil
		meta = &m
	}
	if meta.ID != opts.NewID {
		return nil, fmt.Errorf("rollout: fork: meta id %s is not the new id %s", meta.ID, opts.NewID)
	}
	if meta.ForkedFromID == "" {
		meta.ForkedFromID = parentMeta.ID
	}
	path := opts.Path
	if path == "" {
		path = SessionPath(opts.Home, opts.Clock(), opts.NewID)
	}
	rec, err := NewRecorder(RecorderConfig{Path: path, Meta: meta, Clock: opts.Clock, BufferSize: opts.BufferSize})
	if err != nil {
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	// The fork always gets a file, even from an empty parent history.
	if err := rec.Persist(ctx); err != nil {
		rec.Close()
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	if err := rec.AppendItems(items...); err != nil {
		rec.Close()
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	if open := openTurnID(items); open != "" {
		ev, err := NewEvent(TurnAborted{TurnID: open, Reason: "interrupted"})
		if err == nil {
			err = rec.Append(ev)
		}
		if err != nil {
			rec.Close()
			return nil, fmt.Errorf("rollout: fork: %w", err)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		rec.Close()
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	return rec, nil
}

// forkCut returns the index of the first item of the n-th last surviving
// user turn (0 when there are fewer). A turn starts at its task_started,
// or, in files without explicit boundaries, at its user message (legacy
// user_message event, or a user-turn-boundary response item).
func forkCut(items []Item, n int) int {
	var starts []int // surviving user-turn starts
	turnStart := -1  // index of the open explicit turn's task_started
	counted := false // the open explicit turn already counted as a user turn
	for i, it := range items {
		switch p := it.Payload.(type) {
		case *EventMsg:
			switch {
			case p.Is(EventTurnStarted):
				turnStart, counted = i, false
			case p.Is(EventTurnComplete), p.Is(EventTurnAborted):
				turnStart = -1
			case p.Is(EventThreadRolledBack):
				var rb ThreadRolledBack
				if p.Decode(&rb) == nil {
					starts = starts[:len(starts)-min(int(rb.NumTurns), len(starts))]
				}
			case p.Is(EventUserMessage):
				if turnStart < 0 && !prevIsUserItem(items, i) {
					starts = append(starts, i)
				}
			}
		case *ResponseItem:
			if !IsUserTurnBoundary(p) {
				continue
			}
			switch {
			case turnStart >= 0 && !counted:
				starts, counted = append(starts, turnStart), true
			case turnStart < 0:
				starts = append(starts, i)
			}
		case *InterAgentCommunication:
			if turnStart >= 0 && !counted {
				starts, counted = append(starts, turnStart), true
			} else if turnStart < 0 {
				starts = append(starts, i)
			}
		}
	}
	if n >= len(starts) || len(starts) == 0 {
		if len(starts) == 0 {
			return len(items)
		}
		return starts[0]
	}
	return starts[len(starts)-n]
}

// prevIsUserItem reports whether the legacy user_message event at i twins
// a user response item just before it (already counted).
func prevIsUserItem(items []Item, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch p := items[j].Payload.(type) {
		case *ResponseItem:
			return IsUserTurnBoundary(p)
		case *TurnContext, *WorldState, *InterAgentMetadata:
			continue
		default:
			return false
		}
	}
	return false
}

// openTurnID returns the id of an explicit turn left open at the end of
// items, or "".
func openTurnID(items []Item) string {
	open := ""
	for _, it := range items {
		if e, ok := it.Payload.(*EventMsg); ok {
			switch {
			case e.Is(EventTurnStarted):
				open = e.TurnID
			case e.Is(EventTurnComplete), e.Is(EventTurnAborted):
				if e.TurnID == "" || e.TurnID == open {
					open = ""
				}
			}
		}
	}
	return open
}
