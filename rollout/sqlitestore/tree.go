package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/troupe-run/troupe/rollout"
)

// nodeWidth is the width of one node number in a thread_tree path (hex).
const nodeWidth = 8

// ensureNode returns the tree path of thread id, creating a root node for
// it if it has none.
func ensureNode(ctx context.Context, x execer, id string) (string, error) {
	var path string
	err := x.QueryRowContext(ctx, `SELECT path FROM thread_tree WHERE thread_id = ?`, id).Scan(&path)
	if err == nil {
		return path, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if err := x.QueryRowContext(ctx, `INSERT INTO thread_tree(thread_id, path) VALUES (?, '') RETURNING node`, id).Scan(new(int64)); err != nil {
		return "", err
	}
	if err := x.QueryRowContext(ctx, `UPDATE thread_tree SET path = printf('%08x', node) WHERE thread_id = ? RETURNING path`, id).Scan(&path); err != nil {
		return "", err
	}
	return path, nil
}

// setTreeParent moves child (and its whole subtree) under parent in the
// materialized tree. An edge that would close a cycle (parent is child or
// below it) is kept in thread_spawn_edges but not in the tree, so tree
// queries always terminate.
func setTreeParent(ctx context.Context, x execer, parent, child string) error {
	ppath, err := ensureNode(ctx, x, parent)
	if err != nil {
		return fmt.Errorf("sqlitestore: spawn tree: %w", err)
	}
	cpath, err := ensureNode(ctx, x, child)
	if err != nil {
		return fmt.Errorf("sqlitestore: spawn tree: %w", err)
	}
	if strings.HasPrefix(ppath, cpath) {
		return nil // a cycle: parent is child or one of its descendants
	}
	newPath := ppath + cpath[len(cpath)-nodeWidth:]
	if newPath == cpath {
		return nil
	}
	if _, err := x.ExecContext(ctx, `UPDATE thread_tree SET path = ? || substr(path, ?) WHERE path >= ? AND path < ? || 'g'`,
		newPath, len(cpath)+1, cpath, cpath); err != nil {
		return fmt.Errorf("sqlitestore: spawn tree: %w", err)
	}
	return nil
}

// descendantsInTree returns one page of thread id's descendants in tree
// order (depth first, parents before children) using the materialized
// paths; the cursor is the last path.
func (ix *Index) descendantsInTree(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error) {
	limit, err := page.limit()
	if err != nil {
		return ThreadPage{}, err
	}
	after := ""
	if page.Cursor != "" {
		c, err := decodeCursor(page.Cursor, SortTree)
		if err != nil {
			return ThreadPage{}, err
		}
		after = c.id
	}
	var root string
	err = ix.db.QueryRowContext(ctx, `SELECT path FROM thread_tree WHERE thread_id = ?`, string(id)).Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		return ThreadPage{}, nil // never a parent: no descendants
	}
	if err != nil {
		return ThreadPage{}, fmt.Errorf("sqlitestore: descendants of %s: %w", id, err)
	}
	lo := root
	if after > lo {
		lo = after
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT `+threadCols+`, d.path FROM thread_tree d
CROSS JOIN threads t ON t.id = d.thread_id LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id
WHERE d.path > ? AND d.path < ? ORDER BY d.path LIMIT ?`, lo, root+"g", limit+1)
	if err != nil {
		return ThreadPage{}, fmt.Errorf("sqlitestore: descendants of %s: %w", id, err)
	}
	defer rows.Close()
	var out ThreadPage
	var paths []string
	for rows.Next() {
		var p string
		t, err := scanThread(rows, &p)
		if err != nil {
			return ThreadPage{}, fmt.Errorf("sqlitestore: descendants of %s: %w", id, err)
		}
		out.Threads = append(out.Threads, t)
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		return ThreadPage{}, fmt.Errorf("sqlitestore: descendants of %s: %w", id, err)
	}
	if len(out.Threads) > limit {
		out.Threads = out.Threads[:limit]
		out.Next = encodeCursor(cursor{sort: SortTree, id: paths[limit-1]})
	}
	return out, nil
}
