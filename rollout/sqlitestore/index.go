package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// ErrNotFound is matched (errors.Is) when a thread has no index row (or,
// for Store operations, no rollout either).
var ErrNotFound = errors.New("sqlitestore: thread not found")

// ErrClosed is matched (errors.Is) by calls after Close.
var ErrClosed = errors.New("sqlitestore: closed")

// Edge statuses of thread_spawn_edges. Other values (written by a newer
// build) are kept and returned by unfiltered reads.
const (
	EdgeOpen   = "open"
	EdgeClosed = "closed"
)

// Thread is one row of the index: what the rollouts say about a thread,
// plus the index's own timestamps.
type Thread struct {
	ID rollout.ThreadID
	// RolloutPath is the logical (.jsonl) path, whatever the physical form;
	// under archived_sessions/ when Archived.
	RolloutPath string
	CreatedAt   time.Time
	// UpdatedAt advances on every persisted mutation.
	UpdatedAt time.Time
	// RecencyAt advances only when a turn starts.
	RecencyAt time.Time
	// Source is Codex's session source as stored by Codex: a plain name
	// ("exec", "cli") or the JSON text of the object form.
	Source string
	// SourceKind is the short name of Source: "cli", "exec", "subagent", ...
	SourceKind    string
	ThreadSource  string
	ModelProvider string
	Model         string
	Cwd           string
	// Title and Preview come from the first user message (Title with the
	// "## My request for Codex:" prefix stripped); Preview is empty for a
	// thread no user has written to (sub-agents fed by mail).
	Title         string
	Preview       string
	AgentPath     string
	AgentNickname string
	AgentRole     string
	SessionID     rollout.ThreadID
	Originator    string
	CLIVersion    string
	HistoryMode   rollout.HistoryMode
	Archived      bool
	ArchivedAt    time.Time
	TokensUsed    int64
	// Name is an explicit name given by a user; never derived.
	Name string
	// ParentThreadID is the immediate parent: the spawn edge's parent if
	// there is one, else session_meta's parent_thread_id.
	ParentThreadID rollout.ThreadID
	ForkedFromID   rollout.ThreadID
}

// Config configures an Index or a Store.
type Config struct {
	// Home is the troupe (or Codex) home: rollouts under sessions/ and
	// archived_sessions/, the index at Home/state.sqlite. Required.
	Home string
	// Clock stamps index rows and rollout lines. Nil means time.Now.
	Clock func() time.Time
	// NewID mints thread ids (Store only). Nil means UUIDv7.
	NewID func() (rollout.ThreadID, error)
	// Logger receives recovery and best-effort cleanup reports. Nil
	// discards them.
	Logger *slog.Logger
	// Progress, if set, is called during rebuilds (including the one that
	// follows a corruption recovery) after each rollout file.
	Progress func(RebuildProgress)
	// Location is the zone of the wall time in new rollout file names
	// (Codex uses local time). Nil means time.Local.
	Location *time.Location
	// Compaction opts the Store into cold-rollout compression
	// (Store.RunCompaction); its Home is the store's. Nil means the store
	// never compresses. Index ignores it.
	Compaction *rollout.CompactorConfig
}

func (c Config) withDefaults() (Config, error) {
	if c.Home == "" {
		return c, errors.New("sqlitestore: Config.Home is required")
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	return c, nil
}

// Recovery reports an automatic recovery from a corrupt database.
type Recovery struct {
	// DBPath is the database that was found corrupt (and re-created).
	DBPath string
	// BackupDir holds the corrupt database and its -wal/-shm files.
	BackupDir string
	// Cause is the corruption error.
	Cause error
	// Rebuilt is the result of the rebuild from the rollouts.
	Rebuilt RebuildResult
}

// Index is the SQLite index of a home's threads. Its methods may be called
// concurrently; SQLite (WAL) serializes writers and lets readers run beside
// them.
type Index struct {
	db       *sql.DB
	home     string
	path     string
	clock    func() time.Time
	log      *slog.Logger
	progress func(RebuildProgress)
	recovery *Recovery

	mu         sync.Mutex // guards the high-water marks
	updatedHWM int64
	recencyHWM int64

	closeOnce sync.Once
	closeErr  error
}

// OpenIndex opens (creating and migrating as needed) the index at
// cfg.Home/state.sqlite. A database written by a newer build fails with
// ErrSchemaTooNew and is left untouched. A corrupt database is moved to
// Home/db-backups/state-<secs>-<n>/, a fresh one is created and rebuilt from
// every rollout of the home; Recovery then reports what happened. The
// caller closes the index.
func OpenIndex(ctx context.Context, cfg Config) (*Index, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Home, 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	path := filepath.Join(cfg.Home, DBName)
	ix, fresh, err := openIndexAt(ctx, cfg, path)
	if err == nil && fresh {
		// A new index over an existing home (a copied Codex home, a deleted
		// state.sqlite): index what is on disk.
		if _, err := ix.Rebuild(ctx); err != nil {
			ix.Close()
			return nil, fmt.Errorf("sqlitestore: initial rebuild of %s: %w", path, err)
		}
	}
	if err == nil || !isCorruption(err) {
		return ix, err
	}
	cause := err
	backup, merr := moveAside(cfg.Home, path, cfg.Clock())
	if merr != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w (recovery failed: %v)", path, cause, merr)
	}
	cfg.Logger.Warn("sqlitestore: corrupt index moved aside; rebuilding from rollouts",
		"db", path, "backup", backup, "err", cause)
	ix, _, err = openIndexAt(ctx, cfg, path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s after moving the corrupt database to %s: %w", path, backup, err)
	}
	res, err := ix.Rebuild(ctx)
	if err != nil {
		ix.Close()
		return nil, fmt.Errorf("sqlitestore: rebuild %s after moving the corrupt database to %s: %w", path, backup, err)
	}
	ix.recovery = &Recovery{DBPath: path, BackupDir: backup, Cause: cause, Rebuilt: res}
	cfg.Logger.Warn("sqlitestore: index rebuilt after corruption",
		"db", path, "backup", backup, "threads", res.Threads, "skipped", len(res.Skipped))
	return ix, nil
}

// openIndexAt opens and migrates the database at path; fresh reports
// that it had no schema yet.
func openIndexAt(ctx context.Context, cfg Config, path string) (ix *Index, fresh bool, err error) {
	version, err := probeVersion(ctx, path)
	if err != nil {
		return nil, false, err
	}
	db, err := openPool(path)
	if err != nil {
		return nil, false, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	fail := func(err error) (*Index, bool, error) {
		db.Close()
		return nil, false, err
	}
	if err := checkIntegrity(ctx, db); err != nil {
		return fail(fmt.Errorf("sqlitestore: open %s: integrity check: %w", path, err))
	}
	if err := migrate(ctx, db, cfg.Clock); err != nil {
		return fail(fmt.Errorf("sqlitestore: open %s: %w", path, err))
	}
	ix = &Index{db: db, home: cfg.Home, path: path, clock: cfg.Clock, log: cfg.Logger, progress: cfg.Progress}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(updated_at_ms),0), coalesce(max(recency_at_ms),0) FROM threads`).
		Scan(&ix.updatedHWM, &ix.recencyHWM); err != nil {
		return fail(fmt.Errorf("sqlitestore: open %s: %w", path, err))
	}
	if err := ix.finishPendingDeletes(ctx); err != nil {
		ix.log.Warn("sqlitestore: pending rollout deletes", "err", err)
	}
	return ix, version == 0, nil
}

// Path returns the database file.
func (ix *Index) Path() string { return ix.path }

// Home returns the home the index covers.
func (ix *Index) Home() string { return ix.home }

// Recovery returns the report of the corruption recovery done by
// OpenIndex, or nil if there was none.
func (ix *Index) Recovery() *Recovery { return ix.recovery }

// Close closes the database. It is idempotent.
func (ix *Index) Close() error {
	ix.closeOnce.Do(func() { ix.closeErr = ix.db.Close() })
	return ix.closeErr
}

// CheckIntegrity runs SQLite's quick_check; a failure matches ErrCorrupt.
func (ix *Index) CheckIntegrity(ctx context.Context) error { return checkIntegrity(ctx, ix.db) }

// allocMS turns a candidate time into a unique, monotonic millisecond
// within this process (Codex's high-water-mark rule): a candidate above the
// mark is used as is; one at least a second below it is historical and
// kept; anything else becomes mark+1.
func allocMS(hwm *int64, candidate int64) int64 {
	switch {
	case candidate > *hwm:
		*hwm = candidate
		return candidate
	case candidate+1000 <= *hwm:
		return candidate
	default:
		*hwm++
		return *hwm
	}
}

func (ix *Index) nextUpdated() int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return allocMS(&ix.updatedHWM, ix.clock().UnixMilli())
}

// nextRecency returns the recency of a turn that starts now in a thread
// whose recency was prev: after prev (strictly monotonic per thread) and
// after every recency handed out in this process (unique per ms).
func (ix *Index) nextRecency(prev int64) int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.clock().UnixMilli()
	c = max(c, ix.recencyHWM+1, prev+1)
	ix.recencyHWM = c
	return c
}

const threadCols = `t.id, t.rollout_path, t.created_at_ms, t.updated_at_ms, t.recency_at_ms, t.source, t.source_kind,
t.thread_source, t.model_provider, t.model, t.cwd, t.title, t.preview, t.agent_path, t.agent_nickname, t.agent_role,
t.session_id, t.originator, t.cli_version, t.history_mode, t.archived, t.archived_at_ms, t.tokens_used, t.name,
coalesce(e.parent_thread_id, t.parent_thread_id), t.forked_from_id`

type scanner interface{ Scan(...any) error }

func scanThread(s scanner, extra ...any) (Thread, error) {
	var t Thread
	var created, updated, recency int64
	var archived int
	var archivedAt sql.NullInt64
	var id, session, mode, parent, forked string
	dest := []any{&id, &t.RolloutPath, &created, &updated, &recency, &t.Source, &t.SourceKind,
		&t.ThreadSource, &t.ModelProvider, &t.Model, &t.Cwd, &t.Title, &t.Preview, &t.AgentPath, &t.AgentNickname, &t.AgentRole,
		&session, &t.Originator, &t.CLIVersion, &mode, &archived, &archivedAt, &t.TokensUsed, &t.Name, &parent, &forked}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return Thread{}, err
	}
	t.ID, t.SessionID, t.HistoryMode = rollout.ThreadID(id), rollout.ThreadID(session), rollout.HistoryMode(mode)
	t.ParentThreadID, t.ForkedFromID = rollout.ThreadID(parent), rollout.ThreadID(forked)
	t.CreatedAt, t.UpdatedAt, t.RecencyAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC(), time.UnixMilli(recency).UTC()
	t.Archived = archived != 0
	if archivedAt.Valid {
		t.ArchivedAt = time.UnixMilli(archivedAt.Int64).UTC()
	}
	return t, nil
}

// Get returns the row of thread id, or an error matching ErrNotFound.
func (ix *Index) Get(ctx context.Context, id rollout.ThreadID) (Thread, error) {
	if err := checkID(id); err != nil {
		return Thread{}, err
	}
	row := ix.db.QueryRowContext(ctx, `SELECT `+threadCols+` FROM threads t
LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id WHERE t.id = ?`, string(id))
	t, err := scanThread(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Thread{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Thread{}, fmt.Errorf("sqlitestore: get %s: %w", id, err)
	}
	return t, nil
}

func checkID(id rollout.ThreadID) error {
	if _, err := rollout.ParseThreadID(string(id)); err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	return nil
}

func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// upsert writes t's row: every column from t, except that recency never
// goes backwards, an empty incoming preview/title keeps the stored one and
// the name is kept when t has none. Times are taken as given (callers
// allocate them). A sub-agent's spawn edge is inserted (open) if absent.
func upsert(ctx context.Context, x execer, t Thread) error {
	_, err := x.ExecContext(ctx, `INSERT INTO threads (id, rollout_path, created_at_ms, updated_at_ms, recency_at_ms,
 source, source_kind, thread_source, model_provider, model, cwd, title, preview, agent_path, agent_nickname, agent_role,
 session_id, originator, cli_version, history_mode, archived, archived_at_ms, tokens_used, name, parent_thread_id, forked_from_id)
VALUES (?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(id) DO UPDATE SET
 rollout_path = excluded.rollout_path,
 created_at_ms = excluded.created_at_ms,
 updated_at_ms = excluded.updated_at_ms,
 recency_at_ms = max(threads.recency_at_ms, excluded.recency_at_ms),
 source = excluded.source, source_kind = excluded.source_kind, thread_source = excluded.thread_source,
 model_provider = excluded.model_provider, model = excluded.model, cwd = excluded.cwd,
 title = CASE WHEN excluded.title = '' THEN threads.title ELSE excluded.title END,
 preview = CASE WHEN excluded.preview = '' THEN threads.preview ELSE excluded.preview END,
 agent_path = excluded.agent_path, agent_nickname = excluded.agent_nickname, agent_role = excluded.agent_role,
 session_id = excluded.session_id, originator = excluded.originator, cli_version = excluded.cli_version,
 history_mode = excluded.history_mode, archived = excluded.archived, archived_at_ms = excluded.archived_at_ms,
 tokens_used = excluded.tokens_used,
 name = CASE WHEN excluded.name = '' THEN threads.name ELSE excluded.name END,
 parent_thread_id = excluded.parent_thread_id, forked_from_id = excluded.forked_from_id`,
		string(t.ID), t.RolloutPath, t.CreatedAt.UnixMilli(), t.UpdatedAt.UnixMilli(), t.RecencyAt.UnixMilli(),
		t.Source, t.SourceKind, t.ThreadSource, t.ModelProvider, t.Model, t.Cwd, t.Title, t.Preview, t.AgentPath, t.AgentNickname, t.AgentRole,
		string(t.SessionID), t.Originator, t.CLIVersion, string(t.HistoryMode.Normalize()), boolInt(t.Archived), msOrNull(t.ArchivedAt),
		t.TokensUsed, t.Name, string(t.ParentThreadID), string(t.ForkedFromID))
	if err != nil {
		return fmt.Errorf("sqlitestore: upsert %s: %w", t.ID, err)
	}
	if t.SourceKind == "subagent" && t.ParentThreadID != "" && t.ParentThreadID != t.ID {
		res, err := x.ExecContext(ctx, `INSERT INTO thread_spawn_edges(parent_thread_id, child_thread_id, status)
VALUES (?, ?, 'open') ON CONFLICT(child_thread_id) DO NOTHING`, string(t.ParentThreadID), string(t.ID))
		if err != nil {
			return fmt.Errorf("sqlitestore: upsert %s: spawn edge: %w", t.ID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if err := setTreeParent(ctx, x, string(t.ParentThreadID), string(t.ID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// upsertOne runs upsert in its own transaction (the row, its edge and
// the tree change together).
func (ix *Index) upsertOne(ctx context.Context, t Thread) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: upsert %s: %w", t.ID, err)
	}
	defer tx.Rollback()
	if err := upsert(ctx, tx, t); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: upsert %s: %w", t.ID, err)
	}
	return nil
}

// Upsert writes t's row (see Thread). UpdatedAt is allocated from the
// clock (unique per ms within the process) and RecencyAt never moves
// backwards; a zero CreatedAt or RecencyAt becomes UpdatedAt. A sub-agent
// (SourceKind "subagent" with a ParentThreadID) gets its spawn edge,
// status open, if it has none.
func (ix *Index) Upsert(ctx context.Context, t Thread) error {
	if err := checkID(t.ID); err != nil {
		return err
	}
	t.UpdatedAt = time.UnixMilli(ix.nextUpdated())
	if t.CreatedAt.IsZero() {
		t.CreatedAt = t.UpdatedAt
	}
	if t.RecencyAt.IsZero() {
		t.RecencyAt = t.CreatedAt
	}
	return ix.upsertOne(ctx, t)
}

// TouchRecency advances thread id's recency_at (a turn started) and
// updated_at. Recency is strictly monotonic per thread and unique per ms
// within the process.
func (ix *Index) TouchRecency(ctx context.Context, id rollout.ThreadID) error {
	if err := checkID(id); err != nil {
		return err
	}
	var prev int64
	err := ix.db.QueryRowContext(ctx, `SELECT recency_at_ms FROM threads WHERE id = ?`, string(id)).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: touch recency %s: %w", id, err)
	}
	rec, upd := ix.nextRecency(prev), ix.nextUpdated()
	res, err := ix.db.ExecContext(ctx, `UPDATE threads SET recency_at_ms = max(?, recency_at_ms + 1),
 updated_at_ms = ? WHERE id = ?`, rec, upd, string(id))
	if err != nil {
		return fmt.Errorf("sqlitestore: touch recency %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// SetName sets (or, with "", clears) the explicit name of a thread.
func (ix *Index) SetName(ctx context.Context, id rollout.ThreadID, name string) error {
	if err := checkID(id); err != nil {
		return err
	}
	res, err := ix.db.ExecContext(ctx, `UPDATE threads SET name = ?, updated_at_ms = ? WHERE id = ?`, name, ix.nextUpdated(), string(id))
	if err != nil {
		return fmt.Errorf("sqlitestore: set name %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}
