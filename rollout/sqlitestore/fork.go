package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// ForkOptions configure Store.Fork.
type ForkOptions struct {
	// LastTurns, when positive, copies only the last LastTurns user turns;
	// zero copies the whole history (see rollout.Fork).
	LastTurns int
	// Meta, if set, is the fork's session_meta (its ID is minted when
	// empty). Otherwise rollout.Fork derives it from the source's: a new
	// id and session id, forked_from_id = the source. A fork of a
	// sub-agent then keeps the sub-agent's spawn source, and so its parent
	// edge; pass a Meta to fork into an independent root.
	Meta *rollout.SessionMeta
	// BufferSize is the recorder's group-commit threshold; 0 means the
	// default.
	BufferSize int
}

// Fork copies thread id into a new thread through rollout.Fork (the full
// history or the last LastTurns user turns, lines copied byte-identical,
// an open last turn closed as interrupted), indexes it with ForkedFromID
// = id, and returns the new thread's Writer, ready to continue. The caller
// closes the Writer. Forking an archived thread is allowed; the fork is
// live. A source thread open for writing is forked as far as it was
// flushed.
func (s *Store) Fork(ctx context.Context, id rollout.ThreadID, opts ForkOptions) (*Writer, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if opts.LastTurns < 0 {
		return nil, fmt.Errorf("%w: fork of the last %d turns", ErrInvalidRequest, opts.LastTurns)
	}
	src, _, err := s.locate(ctx, id)
	if err != nil {
		return nil, err
	}
	var newID rollout.ThreadID
	if opts.Meta != nil && opts.Meta.ID != "" {
		newID = opts.Meta.ID
	} else if newID, err = s.cfg.NewID(); err != nil {
		return nil, err
	}
	if err := checkID(newID); err != nil {
		return nil, err
	}
	if _, err := s.ix.Get(ctx, newID); err == nil {
		return nil, fmt.Errorf("%w: thread %s already exists", ErrInvalidRequest, newID)
	}
	var meta *rollout.SessionMeta
	if opts.Meta != nil {
		m := *opts.Meta
		m.ID = newID
		if m.SessionID == "" {
			m.SessionID = newID
		}
		if m.ForkedFromID == "" {
			m.ForkedFromID = id
		}
		if m.Timestamp == "" {
			m.Timestamp = rollout.FormatTimestamp(s.cfg.Clock())
		}
		meta = &m
	}
	now := s.cfg.Clock()
	path := rollout.SessionPath(s.home, now.In(s.cfg.Location), newID)
	rec, err := rollout.Fork(ctx, src, rollout.ForkOptions{NewID: newID, Path: path, LastTurns: opts.LastTurns,
		Meta: meta, Clock: s.cfg.Clock, BufferSize: opts.BufferSize})
	if err != nil {
		return nil, err
	}
	fi, err := rollout.ParseFileName(path)
	if err != nil {
		rec.Close()
		return nil, err
	}
	t, _, err := summarizeFile(rolloutFile{phys: path, logical: path, info: fi})
	if err != nil {
		rec.Close()
		return nil, fmt.Errorf("sqlitestore: fork %s: index %s: %w", id, newID, err)
	}
	t.CreatedAt = now.Truncate(time.Millisecond)
	t.UpdatedAt = time.UnixMilli(s.ix.nextUpdated())
	t.RecencyAt = t.CreatedAt
	if t.ForkedFromID == "" {
		t.ForkedFromID = id
	}
	if err := s.ix.upsertOne(ctx, t); err != nil {
		rec.Close()
		return nil, err
	}
	sum := newSummary(newID)
	sum.t, sum.haveMeta = t, true
	return s.register(&Writer{s: s, rec: rec, id: newID, sum: sum, indexed: true})
}
