package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/uuid"
	"github.com/troupe-run/troupe/rollout"
)

// ErrLive is matched (errors.Is) when an operation needs a thread that is
// open for writing (a live Writer in this process, or a recorder holding
// the rollout's lock in another) to be closed first.
var ErrLive = errors.New("sqlitestore: thread is open for writing")

// Store puts rollout files and the index together: it creates threads
// (returning a Writer that keeps the index row current), reads, lists,
// archives, deletes and forks them. Its methods may be called
// concurrently. A Writer belongs to one goroutine.
type Store struct {
	ix   *Index
	cfg  Config
	home string

	mu      sync.Mutex
	writers map[rollout.ThreadID]*Writer
	closed  bool
}

// Open opens the store of cfg.Home, opening (creating, migrating,
// recovering or rebuilding) its index as OpenIndex does. The caller closes
// the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUIDv7
	}
	ix, err := OpenIndex(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Store{ix: ix, cfg: cfg, home: cfg.Home, writers: map[rollout.ThreadID]*Writer{}}, nil
}

func newUUIDv7() (rollout.ThreadID, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("sqlitestore: new thread id: %w", err)
	}
	return rollout.ThreadID(u.String()), nil
}

// Index returns the store's index, for queries the Store does not wrap.
func (s *Store) Index() *Index { return s.ix }

// Home returns the store's home.
func (s *Store) Home() string { return s.home }

// Recovery returns the corruption-recovery report of Open, or nil.
func (s *Store) Recovery() *Recovery { return s.ix.Recovery() }

// Close closes every Writer still open (flushing it) and then the index.
// It is idempotent; calls after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ws := make([]*Writer, 0, len(s.writers))
	for _, w := range s.writers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Close())
	}
	errs = append(errs, s.ix.Close())
	return errors.Join(errs...)
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

func (s *Store) isLive(id rollout.ThreadID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.writers[id]
	return ok
}

// locate finds thread id's rollout: the index row's path if it still
// names the thread's file, else a search of the home (sessions/, then
// archived_sessions/), repairing the row's path when the search finds it
// elsewhere (a copied home, a crash during archive). It returns the
// physical path and whether it is archived; ErrNotFound if there is none.
func (s *Store) locate(ctx context.Context, id rollout.ThreadID) (phys string, archived bool, err error) {
	row, rowErr := s.ix.Get(ctx, id)
	if rowErr != nil && !errors.Is(rowErr, ErrNotFound) {
		return "", false, rowErr
	}
	if rowErr == nil {
		if p, _, err := rollout.ResolvePath(row.RolloutPath); err == nil {
			if fi, err := rollout.ParseFileName(p); err == nil && fi.ID == id {
				return p, s.inArchive(p), nil
			}
		}
	}
	p, err := rollout.FindThread(s.home, id, true)
	if errors.Is(err, rollout.ErrThreadNotFound) {
		return "", false, fmt.Errorf("%w: no rollout for thread %s", ErrNotFound, id)
	}
	if err != nil {
		return "", false, err
	}
	archived = s.inArchive(p)
	if rowErr == nil && (rollout.PlainPath(p) != row.RolloutPath || archived != row.Archived) {
		if err := s.ix.setPath(ctx, id, rollout.PlainPath(p), archived); err != nil {
			s.cfg.Logger.Warn("sqlitestore: repair rollout path", "thread", id, "err", err)
		}
	}
	return p, archived, nil
}

func (s *Store) inArchive(p string) bool {
	return filepath.Dir(p) == filepath.Join(s.home, rollout.ArchivedDir)
}

// Get returns the index row of thread id (ErrNotFound if none).
func (s *Store) Get(ctx context.Context, id rollout.ThreadID) (Thread, error) {
	if err := s.checkOpen(); err != nil {
		return Thread{}, err
	}
	return s.ix.Get(ctx, id)
}

// ThreadData is a thread's row and its whole history as stored.
type ThreadData struct {
	Thread Thread
	// Items are the rollout's items in file order (undecodable lines are
	// skipped and counted in CorruptLines).
	Items []rollout.Item
	// Turns is the history as turns (rollout.Turns over Items).
	Turns        []rollout.Turn
	CorruptLines int
}

// Read returns thread id's row, items and turns. A thread whose history mode
// this build does not know fails with rollout.ErrUnsupportedHistoryMode
// (its row stays readable with Get).
func (s *Store) Read(ctx context.Context, id rollout.ThreadID) (ThreadData, error) {
	if err := s.checkOpen(); err != nil {
		return ThreadData{}, err
	}
	if err := checkID(id); err != nil {
		return ThreadData{}, err
	}
	phys, _, err := s.locate(ctx, id)
	if err != nil {
		return ThreadData{}, err
	}
	meta, err := rollout.ReadMeta(phys)
	if err != nil {
		return ThreadData{}, err
	}
	if !meta.Mode().Known() {
		return ThreadData{}, fmt.Errorf("%w %q (thread %s)", rollout.ErrUnsupportedHistoryMode, meta.HistoryMode, id)
	}
	var d ThreadData
	for it, err := range rollout.Read(phys, rollout.ReadOptions{}) {
		if err != nil {
			var ce *rollout.CorruptError
			if errors.As(err, &ce) {
				d.CorruptLines++
				continue
			}
			return ThreadData{}, err
		}
		d.Items = append(d.Items, it)
	}
	row, err := s.ix.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// On disk but not indexed yet: index it now.
		if row, err = s.indexFile(ctx, phys); err != nil {
			return ThreadData{}, err
		}
	} else if err != nil {
		return ThreadData{}, err
	}
	d.Thread = row
	d.Turns = rollout.Turns(d.Items)
	return d, nil
}

// indexFile summarizes the rollout at phys into a fresh row.
func (s *Store) indexFile(ctx context.Context, phys string) (Thread, error) {
	fi, err := rollout.ParseFileName(phys)
	if err != nil {
		return Thread{}, err
	}
	t, _, err := summarizeFile(rolloutFile{phys: phys, logical: rollout.PlainPath(phys), info: fi, archived: s.inArchive(phys)})
	if err != nil {
		return Thread{}, err
	}
	if err := s.ix.upsertOne(ctx, t); err != nil {
		return Thread{}, err
	}
	return s.ix.Get(ctx, t.ID)
}

// List lists threads (see Index.List).
func (s *Store) List(ctx context.Context, opts ListOptions) (ThreadPage, error) {
	if err := s.checkOpen(); err != nil {
		return ThreadPage{}, err
	}
	return s.ix.List(ctx, opts)
}

// Children lists the direct children of a thread (see Index.Children).
func (s *Store) Children(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error) {
	if err := s.checkOpen(); err != nil {
		return ThreadPage{}, err
	}
	return s.ix.Children(ctx, id, page)
}

// Descendants lists all descendants of a thread (see Index.Descendants).
func (s *Store) Descendants(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error) {
	if err := s.checkOpen(); err != nil {
		return ThreadPage{}, err
	}
	return s.ix.Descendants(ctx, id, page)
}

// RecordEdge records a spawn edge (see Index.RecordEdge). The control
// plane calls it with EdgeOpen before the child runs.
func (s *Store) RecordEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.ix.RecordEdge(ctx, parent, child, status)
}

// SetEdgeStatus sets the status of child's spawn edge (EdgeClosed when
// the child is shut down).
func (s *Store) SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.ix.SetEdgeStatus(ctx, child, status)
}

// SpawnChildren lists parent's spawn edges with the given status ("" for
// any).
func (s *Store) SpawnChildren(ctx context.Context, parent rollout.ThreadID, status string) ([]Edge, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	return s.ix.SpawnChildren(ctx, parent, status)
}

// SpawnDescendants lists the spawn edges below root (see
// Index.SpawnDescendants).
func (s *Store) SpawnDescendants(ctx context.Context, root rollout.ThreadID, status string) ([]Edge, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	return s.ix.SpawnDescendants(ctx, root, status)
}

// Rebuild re-indexes every rollout of the home (see Index.Rebuild).
func (s *Store) Rebuild(ctx context.Context) (RebuildResult, error) {
	if err := s.checkOpen(); err != nil {
		return RebuildResult{}, err
	}
	return s.ix.Rebuild(ctx)
}

// subtree returns id followed by all its spawned descendants (any edge
// status), deepest last.
func (s *Store) subtree(ctx context.Context, id rollout.ThreadID) ([]rollout.ThreadID, error) {
	edges, err := s.ix.SpawnDescendants(ctx, id, "")
	if err != nil {
		return nil, err
	}
	out := []rollout.ThreadID{id}
	for _, e := range edges {
		out = append(out, e.Child)
	}
	return out, nil
}

// checkNotLive fails with ErrLive if one of ids has a live writer here.
func (s *Store) checkNotLive(ids []rollout.ThreadID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if _, ok := s.writers[id]; ok {
			return fmt.Errorf("%w: %s", ErrLive, id)
		}
	}
	return nil
}

// lockFile takes the per-thread lock of a plain rollout (so no recorder,
// here or in another process, writes while it moves); a .zst form has no
// writer and needs none. The caller closes the returned file, if any.
func lockFile(phys string) (*os.File, error) {
	if phys != rollout.PlainPath(phys) {
		return nil, nil
	}
	f, err := rollout.LockPath(phys, os.O_RDONLY)
	if errors.Is(err, rollout.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", ErrLive, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}
