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
// cut part (session_meta, turn_context, world_state, ...) are not, nor are
// the kept turns' world_state patches that come before their first full
// record (SPEC-agent 3.7: such a fork starts without a world-state
// baseline). If the
// parent's last turn is still open (started, never ended), a turn_aborted
// {reason: interrupted} closes it in the fork, as Codex does. Corrupt lines
// of the parent are skipped; an unsupported history mode fails closed.
//
// The parent is read twice (once to find the cut, once to copy), holding
// one line at a time, so forking a large thread needs little memory. The
// parent may be live: the fork copies the items the first pass saw.
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
	// Pass 1 (raw lines dropped): where to cut, and whether a turn is left
	// open. Pass 2 streams the kept lines into the fork, so forking a large
	// thread holds one line at a time, not the whole history.
	var scan forkScan
	total := 0
	for it, err := range Read(srcPath, ReadOptions{DropRaw: true}) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				continue
			}
			return nil, fmt.Errorf("rollout: fork: %w", err)
		}
		scan.add(total, it)
		total++
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cut := 0
	if opts.LastTurns > 0 {
		cut = scan.cut(total, opts.LastTurns)
	}
	// The parent may still be growing: copy exactly the items pass 1 saw.
	copyItems := func(rec *Recorder) (string, error) {
		open := ""
		i := 0
		// A last-turns fork starts without a world-state baseline: the
		// kept turns' patch records before their first full record patch a
		// baseline it lacks and are dropped.
		sawFull := opts.LastTurns <= 0
		keep := func(it Item) bool {
			ws, ok := it.Payload.(*WorldState)
			if !ok || sawFull {
				return true
			}
			sawFull = ws.Full
			return ws.Full
		}
		for it, err := range Read(srcPath, ReadOptions{}) {
			if err != nil {
				var ce *CorruptError
				if errors.As(err, &ce) {
					continue
				}
				return "", err
			}
			if i >= total {
				break
			}
			if i >= cut && keep(it) {
				if err := rec.AppendItems(it); err != nil {
					return "", err
				}
				open = trackOpenTurn(open, it)
			}
			i++
		}
		if i < total {
			return "", fmt.Errorf("rollout: fork: %s shrank while forking (%d of %d items)", srcPath, i, total)
		}
		return open, nil
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
	open, err := copyItems(rec)
	if err != nil {
		rec.Close()
		return nil, fmt.Errorf("rollout: fork: %w", err)
	}
	if open != "" {
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

// forkScan finds user-turn starts in one forward pass. A turn starts at
// its task_started, or, in files without explicit boundaries, at its user
// message (legacy user_message event, or a user-turn-boundary response
// item); rollbacks remove the starts of the turns they drop.
type forkScan struct {
	starts    []int // surviving user-turn starts
	turnStart int   // index of the open explicit turn's task_started, or -1
	counted   bool  // the open explicit turn already counted as a user turn
	prevUser  bool  // the last history item was a user-turn boundary
	init      bool
}

func (s *forkScan) add(i int, it Item) {
	if !s.init {
		s.turnStart, s.init = -1, true
	}
	boundary := func() {
		switch {
		case s.turnStart >= 0 && !s.counted:
			s.starts, s.counted = append(s.starts, s.turnStart), true
		case s.turnStart < 0:
			s.starts = append(s.starts, i)
		}
	}
	switch p := it.Payload.(type) {
	case *EventMsg:
		switch {
		case p.Is(EventTurnStarted):
			s.turnStart, s.counted = i, false
		case p.Is(EventTurnComplete), p.Is(EventTurnAborted):
			s.turnStart = -1
		case p.Is(EventThreadRolledBack):
			var rb ThreadRolledBack
			if p.Decode(&rb) == nil {
				s.starts = s.starts[:len(s.starts)-min(int(rb.NumTurns), len(s.starts))]
			}
		case p.Is(EventUserMessage):
			// The legacy twin of a user response item just before it is
			// the same turn.
			if s.turnStart < 0 && !s.prevUser {
				s.starts = append(s.starts, i)
			}
		}
		s.prevUser = false
	case *ResponseItem:
		u := IsUserTurnBoundary(p)
		if u {
			boundary()
		}
		s.prevUser = u
	case *InterAgentCommunication:
		boundary()
		s.prevUser = false
	case *TurnContext, *WorldState, *InterAgentMetadata:
		// Between a user item and its legacy twin: keep prevUser.
	default:
		s.prevUser = false
	}
}

// cut returns the index of the first item of the n-th last surviving user
// turn (the first turn's start when there are fewer; total when there is
// none).
func (s *forkScan) cut(total, n int) int {
	switch {
	case len(s.starts) == 0:
		return total
	case n >= len(s.starts):
		return s.starts[0]
	default:
		return s.starts[len(s.starts)-n]
	}
}

// trackOpenTurn returns the id of the explicit turn left open after it,
// given the one open before it.
func trackOpenTurn(open string, it Item) string {
	if e, ok := it.Payload.(*EventMsg); ok {
		switch {
		case e.Is(EventTurnStarted):
			return e.TurnID
		case e.Is(EventTurnComplete), e.Is(EventTurnAborted):
			if e.TurnID == "" || e.TurnID == open {
				return ""
			}
		}
	}
	return open
}
