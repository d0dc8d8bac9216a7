package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/troupe-run/troupe/rollout"
)

// setPath points thread id's row at a new logical path and archived state.
func (ix *Index) setPath(ctx context.Context, id rollout.ThreadID, logical string, archived bool) error {
	var at any
	if archived {
		at = ix.clock().UnixMilli()
	}
	_, err := ix.db.ExecContext(ctx, `UPDATE threads SET rollout_path = ?, archived = ?,
 archived_at_ms = CASE WHEN ? THEN coalesce(archived_at_ms, ?) ELSE NULL END, updated_at_ms = ? WHERE id = ?`,
		logical, boolInt(archived), boolInt(archived), at, ix.nextUpdated(), string(id))
	if err != nil {
		return fmt.Errorf("sqlitestore: set path of %s: %w", id, err)
	}
	return nil
}

// markArchived records an archive or unarchive of thread id (whose
// rollout now is at phys), indexing the file if it had no row.
func (s *Store) markArchived(ctx context.Context, id rollout.ThreadID, phys string, archived bool) error {
	if _, err := s.ix.Get(ctx, id); errors.Is(err, ErrNotFound) {
		_, err := s.indexFile(ctx, phys)
		return err
	} else if err != nil {
		return err
	}
	ix := s.ix
	var at any
	if archived {
		at = ix.clock().UnixMilli()
	}
	_, err := ix.db.ExecContext(ctx, `UPDATE threads SET rollout_path = ?, archived = ?, archived_at_ms = ?, updated_at_ms = ? WHERE id = ?`,
		rollout.PlainPath(phys), boolInt(archived), at, ix.nextUpdated(), string(id))
	if err != nil {
		return fmt.Errorf("sqlitestore: mark %s archived=%v: %w", id, archived, err)
	}
	return nil
}

// Archive moves thread id's rollout (either form) to archived_sessions/
// and marks its row archived, then does the same for every descendant it
// spawned (as Codex does when a root is archived). It is idempotent: an
// already archived thread is left as is and its descendants are still
// archived, so a retry after a crash finishes the job. It fails with
// ErrLive, before moving anything, if one of the threads is open for
// writing, and with ErrNotFound if id has no rollout. A descendant that
// cannot be moved is reported in the returned error after the others are
// done.
func (s *Store) Archive(ctx context.Context, id rollout.ThreadID) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	ids, err := s.subtree(ctx, id)
	if err != nil {
		return err
	}
	if err := s.checkNotLive(ids); err != nil {
		return err
	}
	if _, _, err := s.locate(ctx, id); err != nil {
		return err
	}
	var errs []error
	for i, tid := range ids {
		err := s.archiveOne(ctx, tid)
		if i > 0 && errors.Is(err, ErrNotFound) {
			continue // a spawned child that never wrote anything
		}
		if err != nil {
			if i == 0 {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Store) archiveOne(ctx context.Context, id rollout.ThreadID) error {
	phys, archived, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	if archived {
		return s.markArchived(ctx, id, phys, true)
	}
	dst, err := moveRollout(phys, filepath.Join(s.home, rollout.ArchivedDir))
	if err != nil {
		return fmt.Errorf("sqlitestore: archive %s: %w", id, err)
	}
	return s.markArchived(ctx, id, dst, true)
}

// Unarchive moves thread id's rollout back to sessions/YYYY/MM/DD/ (the
// date of its file name) and clears its archived mark. Like Codex, it
// touches only that thread, not its descendants. An already live thread
// is left as is.
func (s *Store) Unarchive(ctx context.Context, id rollout.ThreadID) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	phys, archived, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	if !archived {
		return s.markArchived(ctx, id, phys, false)
	}
	fi, err := rollout.ParseFileName(phys)
	if err != nil {
		return fmt.Errorf("sqlitestore: unarchive %s: %w", id, err)
	}
	c := fi.Created
	dir := filepath.Join(s.home, rollout.SessionsDir, c.Format("2006"), c.Format("01"), c.Format("02"))
	dst, err := moveRollout(phys, dir)
	if err != nil {
		return fmt.Errorf("sqlitestore: unarchive %s: %w", id, err)
	}
	now := s.cfg.Clock()
	_ = os.Chtimes(dst, now, now) // Codex marks an unarchived thread fresh
	return s.markArchived(ctx, id, dst, false)
}

// moveRollout moves a thread's rollout, in whichever form it has, into
// dir without replacing anything there. rollout.MoveRollout holds the
// thread's lock (plain form) or Materialize's lock (compressed form) while
// it moves, so no recorder and no decompression races the move; a thread
// being written is ErrLive.
func moveRollout(phys, dir string) (string, error) {
	dst, err := rollout.MoveRollout(phys, dir)
	if errors.Is(err, rollout.ErrLocked) {
		return "", fmt.Errorf("%w: %w", ErrLive, err)
	}
	return dst, err
}

// Delete removes thread id and every descendant it spawned (any edge
// status): their rows, edges and projected items, in one transaction that
// is the commit point, and then their rollout files in both forms, in
// sessions/ and archived_sessions/. The files to remove are recorded in
// the same transaction, so a crash after the commit is finished when the
// index is next opened; a crash before it changes nothing. It returns the
// deleted ids (id first). It fails with ErrLive if one of the threads is
// open for writing, and ErrNotFound if id has no row, no rollout and no
// descendants.
func (s *Store) Delete(ctx context.Context, id rollout.ThreadID) ([]rollout.ThreadID, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	ids, err := s.subtree(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkNotLive(ids); err != nil {
		return nil, err
	}
	var paths []string
	var locks []*os.File
	defer func() {
		for _, l := range locks {
			l.Close()
		}
	}()
	found := len(ids) > 1
	for _, tid := range ids {
		if row, err := s.ix.Get(ctx, tid); err == nil {
			found = true
			paths = append(paths, rollout.PlainPath(row.RolloutPath))
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		for _, archived := range []bool{false, true} {
			p, err := findIn(s.home, tid, archived)
			if err != nil {
				return nil, err
			}
			if p == "" {
				continue
			}
			found = true
			lock, err := lockFile(p)
			if err != nil {
				return nil, err
			}
			if lock != nil {
				locks = append(locks, lock)
			}
			paths = append(paths, rollout.PlainPath(p))
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err := s.ix.deleteRows(ctx, ids, paths); err != nil {
		return nil, err
	}
	if err := s.ix.removeFiles(ctx, paths); err != nil {
		s.cfg.Logger.Warn("sqlitestore: delete: rollout files left for the next open", "thread", id, "err", err)
	}
	return ids, nil
}

// findIn finds id's rollout in sessions/ (archived false) or
// archived_sessions/ only, "" if none.
func findIn(home string, id rollout.ThreadID, archived bool) (string, error) {
	if archived {
		dir := filepath.Join(home, rollout.ArchivedDir)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if fi, err := rollout.ParseFileName(e.Name()); err == nil && fi.ID == id {
				return filepath.Join(dir, e.Name()), nil
			}
		}
		return "", nil
	}
	p, err := rollout.FindThread(home, id, false)
	if errors.Is(err, rollout.ErrThreadNotFound) {
		return "", nil
	}
	return p, err
}

// deleteRows deletes the rows, edges and items of ids and records paths
// for removal, in one transaction.
func (ix *Index) deleteRows(ctx context.Context, ids []rollout.ThreadID, paths []string) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: delete: %w", err)
	}
	defer tx.Rollback()
	for _, p := range paths {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pending_file_deletes(path) VALUES (?) ON CONFLICT DO NOTHING`, p); err != nil {
			return fmt.Errorf("sqlitestore: delete: %w", err)
		}
	}
	for _, id := range ids {
		for _, q := range []string{
			`DELETE FROM threads WHERE id = ?`,
			`DELETE FROM thread_spawn_edges WHERE child_thread_id = ?1 OR parent_thread_id = ?1`,
			`DELETE FROM thread_items WHERE thread_id = ?`,
			`DELETE FROM thread_projection WHERE thread_id = ?`,
			`DELETE FROM thread_tree WHERE thread_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, string(id)); err != nil {
				return fmt.Errorf("sqlitestore: delete %s: %w", id, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: delete: %w", err)
	}
	return nil
}
