package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// CreateOptions describes a new thread.
type CreateOptions struct {
	// Meta is the thread's session_meta. The store fills ID (minted with
	// Config.NewID) when empty, SessionID (= ID, a root) when empty,
	// Timestamp (the clock) when empty, and HistoryMode (legacy) when
	// empty. A sub-agent carries its parent in ParentThreadID and a
	// thread_spawn Source (rollout.SubagentSource).
	Meta rollout.SessionMeta
	// BufferSize is the recorder's group-commit threshold (see
	// rollout.RecorderConfig); 0 means the default.
	BufferSize int
}

// Writer appends to one thread's rollout through a rollout.Recorder and
// keeps the thread's index row current on every Flush: updated_at,
// preview and title, tokens, model, recency (when a turn started since the
// last flush) and the spawn edge of a sub-agent. Like the recorder, a
// Writer belongs to one goroutine. Close it (or close the Store) when the
// thread stops.
type Writer struct {
	s       *Store
	rec     *rollout.Recorder
	id      rollout.ThreadID
	sum     *summary
	dirty   bool // items appended since the last index write
	turn    bool // a turn started since the last index write
	indexed bool // the row exists
	closed  bool
}

// Create starts a new thread. Nothing is written until the first item is
// appended and flushed (an empty thread leaves no file and no row). The
// rollout goes to sessions/YYYY/MM/DD/ by the creation time in
// Config.Location.
func (s *Store) Create(ctx context.Context, opts CreateOptions) (*Writer, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	meta := opts.Meta
	if meta.ID == "" {
		id, err := s.cfg.NewID()
		if err != nil {
			return nil, err
		}
		meta.ID = id
	}
	if err := checkID(meta.ID); err != nil {
		return nil, err
	}
	if meta.SessionID == "" {
		meta.SessionID = meta.ID
	}
	now := s.cfg.Clock()
	if meta.Timestamp == "" {
		meta.Timestamp = rollout.FormatTimestamp(now)
	}
	if meta.HistoryMode == "" {
		meta.HistoryMode = rollout.HistoryModeLegacy
	}
	if _, err := s.ix.Get(ctx, meta.ID); err == nil {
		return nil, fmt.Errorf("%w: thread %s already exists", ErrInvalidRequest, meta.ID)
	}
	path := rollout.SessionPath(s.home, now.In(s.cfg.Location), meta.ID)
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{Path: path, Meta: &meta, Clock: s.cfg.Clock, BufferSize: opts.BufferSize})
	if err != nil {
		return nil, err
	}
	sum := newSummary(meta.ID)
	sum.applyMeta(&meta)
	sum.t.RolloutPath = path
	sum.t.CreatedAt = now.Truncate(time.Millisecond)
	return s.register(&Writer{s: s, rec: rec, id: meta.ID, sum: sum})
}

// Resume opens an existing thread for appending (materializing a .zst
// form, repairing a torn tail). A thread whose history mode is unknown
// fails with rollout.ErrUnsupportedHistoryMode; an archived thread must be
// unarchived first (ErrInvalidRequest). While another holder has the
// thread's lock (the compressor, or a writer in another process) Resume
// waits for it up to two seconds (and ctx), then fails with ErrLive.
func (s *Store) Resume(ctx context.Context, id rollout.ThreadID) (*Writer, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if s.isLive(id) {
		return nil, fmt.Errorf("%w: %s already has a writer", ErrLive, id)
	}
	phys, archived, err := s.locate(ctx, id)
	if err != nil {
		return nil, err
	}
	if archived {
		return nil, fmt.Errorf("%w: thread %s is archived", ErrInvalidRequest, id)
	}
	rec, err := s.resumeRecorder(ctx, phys)
	if err != nil {
		return nil, err
	}
	row, err := s.ix.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		row, err = s.indexFile(ctx, rec.Path())
	}
	if err != nil {
		rec.Close()
		return nil, err
	}
	sum := newSummary(id)
	sum.t, sum.haveMeta = row, true
	sum.t.RolloutPath = rec.Path()
	return s.register(&Writer{s: s, rec: rec, id: id, sum: sum, indexed: true})
}

// lockedRetryBudget bounds how long Resume waits for a thread lock held by
// someone else: the compressor (here or in another process) holds it for
// as long as one file takes to compress, which is worth waiting out; a
// writer of another process holds it for good, and Resume then fails with
// ErrLive after the budget.
const lockedRetryBudget = 2 * time.Second

// resumeRecorder opens the thread's recorder, retrying with a doubling
// delay (10 ms up) while its lock is held, within lockedRetryBudget and
// ctx.
func (s *Store) resumeRecorder(ctx context.Context, phys string) (*rollout.Recorder, error) {
	delay, waited := 10*time.Millisecond, time.Duration(0)
	for {
		rec, err := rollout.ResumeRecorder(rollout.RecorderConfig{Path: phys, Clock: s.cfg.Clock})
		if !errors.Is(err, rollout.ErrLocked) {
			return rec, err
		}
		if waited >= lockedRetryBudget {
			return nil, fmt.Errorf("%w: %w", ErrLive, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w (%w)", ErrLive, err, context.Cause(ctx))
		case <-t.C:
		}
		waited += delay
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func (s *Store) register(w *Writer) (*Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		w.rec.Close()
		return nil, ErrClosed
	}
	if _, ok := s.writers[w.id]; ok {
		w.rec.Close()
		return nil, fmt.Errorf("%w: %s already has a writer", ErrLive, w.id)
	}
	s.writers[w.id] = w
	return w, nil
}

// ID returns the thread's id.
func (w *Writer) ID() rollout.ThreadID { return w.id }

// Path returns the rollout's plain path.
func (w *Writer) Path() string { return w.rec.Path() }

// Meta returns the thread's session_meta. The caller must not modify it.
func (w *Writer) Meta() *rollout.SessionMeta { return w.rec.Meta() }

// Append stamps payloads with the clock and appends those the persistence
// policy keeps (see rollout.Recorder.Append). They are durable, and the
// index row current, after Flush.
func (w *Writer) Append(payloads ...rollout.Payload) error {
	now := w.s.cfg.Clock()
	items := make([]rollout.Item, len(payloads))
	for i, p := range payloads {
		items[i] = rollout.Item{Timestamp: now, Payload: p}
	}
	return w.AppendItems(items...)
}

// AppendItems appends items with their own timestamps (see
// rollout.Recorder.AppendItems).
func (w *Writer) AppendItems(items ...rollout.Item) error {
	if w.closed {
		return rollout.ErrClosed
	}
	if err := w.rec.AppendItems(items...); err != nil {
		return err
	}
	mode := w.rec.Mode()
	for _, it := range items {
		if !rollout.ShouldPersist(it.Payload, mode) {
			continue
		}
		if _, ok := it.Payload.(*rollout.SessionMeta); ok {
			continue // copied metas never redefine the thread
		}
		if w.sum.apply(it) {
			w.turn = true
		}
		w.dirty = true
	}
	return nil
}

// Flush makes everything appended durable (rollout.Recorder.Flush) and
// then brings the index row up to date, projecting new items for
// paginated reads. The rollout is the source of truth: if the index write
// fails the error is returned, and the next Flush (or a Rebuild) repairs
// the row.
func (w *Writer) Flush(ctx context.Context) error {
	if w.closed {
		return rollout.ErrClosed
	}
	if err := w.rec.Flush(ctx); err != nil {
		return err
	}
	return w.sync(ctx)
}

// Persist makes the thread exist now, on disk with its session_meta and
// in the index, even if nothing else was appended (rollout.Recorder.Persist),
// and flushes like Flush.
func (w *Writer) Persist(ctx context.Context) error {
	if w.closed {
		return rollout.ErrClosed
	}
	if err := w.rec.Persist(ctx); err != nil {
		return err
	}
	return w.sync(ctx)
}

func (w *Writer) sync(ctx context.Context) error {
	if !w.rec.Created() || (!w.dirty && w.indexed) {
		return nil
	}
	t := w.sum.t
	ix := w.s.ix
	t.UpdatedAt = time.UnixMilli(ix.nextUpdated())
	if w.turn || !w.indexed {
		if w.turn {
			prev := int64(0)
			if !t.RecencyAt.IsZero() {
				prev = t.RecencyAt.UnixMilli()
			}
			t.RecencyAt = time.UnixMilli(ix.nextRecency(prev))
		} else if t.RecencyAt.IsZero() {
			t.RecencyAt = t.CreatedAt
		}
	}
	if err := ix.upsertOne(ctx, t); err != nil {
		return err
	}
	w.sum.t.RecencyAt, w.sum.t.UpdatedAt = t.RecencyAt, t.UpdatedAt
	w.dirty, w.turn, w.indexed = false, false, true
	if _, err := ix.project(ctx, w.id, w.rec.Path()); err != nil {
		w.s.cfg.Logger.Warn("sqlitestore: project items", "thread", w.id, "err", err)
	}
	return nil
}

// Close flushes, updates the index row and closes the rollout. It is
// idempotent.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.rec.Flush(context.Background())
	if err == nil {
		err = w.sync(context.Background())
	}
	if cerr := w.rec.Close(); err == nil {
		err = cerr
	}
	w.closed = true
	w.s.mu.Lock()
	delete(w.s.writers, w.id)
	w.s.mu.Unlock()
	return err
}
