package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// RebuildProgress is reported after each rollout file of a rebuild.
type RebuildProgress struct {
	// Done files of Total; Path is the file just indexed (or skipped).
	Done, Total int
	Path        string
}

// RebuildResult summarizes a rebuild.
type RebuildResult struct {
	// Threads is the number of threads indexed.
	Threads int
	// Removed is the number of stale rows dropped (no rollout any more).
	Removed int
	// CorruptLines counts undecodable lines skipped while reading.
	CorruptLines int
	// Skipped lists the files that could not be indexed, with why.
	Skipped []SkippedFile
}

// SkippedFile is a rollout file a rebuild could not index.
type SkippedFile struct {
	Path string
	Err  error
}

// rolloutFile is one rollout found on disk.
type rolloutFile struct {
	phys     string
	logical  string
	info     rollout.FileInfo
	archived bool
}

// scanRollouts lists the rollouts of home: sessions/ (recursively) and
// archived_sessions/ (flat), one entry per thread, the plain form preferred
// over .zst and the live copy over an archived one.
func scanRollouts(home string) ([]rolloutFile, error) {
	byID := map[rollout.ThreadID]rolloutFile{}
	var order []rollout.ThreadID
	add := func(p string, archived bool) {
		fi, err := rollout.ParseFileName(filepath.Base(p))
		if err != nil {
			return
		}
		f := rolloutFile{phys: p, logical: rollout.PlainPath(p), info: fi, archived: archived}
		old, ok := byID[fi.ID]
		if !ok {
			byID[fi.ID] = f
			order = append(order, fi.ID)
			return
		}
		switch {
		case old.archived && !archived:
			byID[fi.ID] = f // the live copy wins
		case old.archived == archived && old.info.Compressed && !fi.Compressed:
			byID[fi.ID] = f // plain wins over .zst
		}
	}
	sessions := filepath.Join(home, rollout.SessionsDir)
	err := filepath.WalkDir(sessions, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == sessions {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			add(p, false)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: scan %s: %w", sessions, err)
	}
	archived := filepath.Join(home, rollout.ArchivedDir)
	ents, err := os.ReadDir(archived)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sqlitestore: scan %s: %w", archived, err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			add(filepath.Join(archived, e.Name()), true)
		}
	}
	out := make([]rolloutFile, 0, len(order))
	for _, id := range order {
		out = append(out, byID[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].logical < out[j].logical })
	return out, nil
}

// summarizeFile reads a whole rollout into an index row.
func summarizeFile(f rolloutFile) (Thread, int, error) {
	s := newSummary(f.info.ID)
	corrupt := 0
	var lastTurn time.Time
	for it, err := range rollout.Read(f.phys, rollout.ReadOptions{DropRaw: true}) {
		if err != nil {
			var ce *rollout.CorruptError
			if errors.As(err, &ce) {
				corrupt++
				continue
			}
			return Thread{}, corrupt, err
		}
		if s.apply(it) {
			lastTurn = it.Timestamp
		}
	}
	if !s.haveMeta {
		return Thread{}, corrupt, fmt.Errorf("%w: no session_meta for thread %s", rollout.ErrNoSessionMeta, f.info.ID)
	}
	t := s.t
	t.RolloutPath = f.logical
	if t.CreatedAt.IsZero() {
		t.CreatedAt = f.info.Created
	}
	st, err := os.Stat(f.phys)
	if err != nil {
		return Thread{}, corrupt, err
	}
	// The last line's time is what a live index would have had; the
	// file's mtime (what Codex uses) does not survive a copy.
	t.UpdatedAt = s.lastItemAt
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = st.ModTime()
	}
	t.UpdatedAt = t.UpdatedAt.Truncate(time.Millisecond)
	t.RecencyAt = t.CreatedAt
	if !lastTurn.IsZero() {
		t.RecencyAt = lastTurn.Truncate(time.Millisecond)
	}
	if f.archived {
		t.Archived, t.ArchivedAt = true, st.ModTime().Truncate(time.Millisecond)
	}
	return t, corrupt, nil
}

const rebuildBatch = 256

// Rebuild re-creates every thread row from the rollouts under the home
// (sessions/ and archived_sessions/), reporting progress to
// Config.Progress. Rows without a rollout are dropped; spawn edges are
// kept (their status is not in the rollouts) and missing sub-agent edges
// added; projected items are dropped and re-projected on demand. Files
// that cannot be read are skipped and listed. Writers may run meanwhile:
// rows are written in batches of short transactions.
func (ix *Index) Rebuild(ctx context.Context) (RebuildResult, error) {
	var res RebuildResult
	files, err := scanRollouts(ix.home)
	if err != nil {
		return res, err
	}
	seen := make(map[string]bool, len(files))
	var batch []Thread
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		tx, err := ix.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlitestore: rebuild: %w", err)
		}
		defer tx.Rollback()
		for _, t := range batch {
			if err := upsert(ctx, tx, t); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM thread_items WHERE thread_id = ?`, string(t.ID)); err != nil {
				return fmt.Errorf("sqlitestore: rebuild: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM thread_projection WHERE thread_id = ?`, string(t.ID)); err != nil {
				return fmt.Errorf("sqlitestore: rebuild: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlitestore: rebuild: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t, corrupt, err := summarizeFile(f)
		res.CorruptLines += corrupt
		if err != nil {
			res.Skipped = append(res.Skipped, SkippedFile{Path: f.phys, Err: err})
			ix.log.Warn("sqlitestore: rebuild: skipping rollout", "path", f.phys, "err", err)
		} else {
			seen[string(t.ID)] = true
			batch = append(batch, t)
			res.Threads++
			ix.mu.Lock()
			ix.updatedHWM = max(ix.updatedHWM, t.UpdatedAt.UnixMilli())
			ix.recencyHWM = max(ix.recencyHWM, t.RecencyAt.UnixMilli())
			ix.mu.Unlock()
		}
		if len(batch) >= rebuildBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
		if ix.progress != nil {
			ix.progress(RebuildProgress{Done: i + 1, Total: len(files), Path: f.phys})
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	removed, err := ix.dropUnseen(ctx, seen)
	res.Removed = removed
	return res, err
}

// dropUnseen deletes the rows (and their items) of threads not in seen.
func (ix *Index) dropUnseen(ctx context.Context, seen map[string]bool) (int, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT id FROM threads`)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
	}
	var stale []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
		}
		if !seen[id] {
			stale = append(stale, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
	}
	if len(stale) == 0 {
		return 0, nil
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
	}
	defer tx.Rollback()
	for _, id := range stale {
		for _, q := range []string{`DELETE FROM threads WHERE id = ?`, `DELETE FROM thread_items WHERE thread_id = ?`,
			`DELETE FROM thread_projection WHERE thread_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlitestore: rebuild: %w", err)
	}
	return len(stale), nil
}

// finishPendingDeletes removes the rollout files of deletes that committed
// but did not finish their file cleanup (a crash in between).
func (ix *Index) finishPendingDeletes(ctx context.Context) error {
	rows, err := ix.db.QueryContext(ctx, `SELECT path FROM pending_file_deletes`)
	if err != nil {
		return err
	}
	var paths []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		paths = append(paths, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return ix.removeFiles(ctx, paths)
}

// removeFiles removes both forms of each logical rollout path, then
// forgets the paths that are gone. Failures are logged and kept pending.
func (ix *Index) removeFiles(ctx context.Context, paths []string) error {
	var errs []error
	for _, p := range paths {
		ok := true
		for _, f := range []string{rollout.PlainPath(p), rollout.CompressedPath(p)} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				ok = false
				errs = append(errs, err)
				ix.log.Warn("sqlitestore: remove rollout", "path", f, "err", err)
			}
		}
		if ok {
			if _, err := ix.db.ExecContext(ctx, `DELETE FROM pending_file_deletes WHERE path = ?`, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
