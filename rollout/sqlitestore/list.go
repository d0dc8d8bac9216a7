package sqlitestore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/troupe-run/troupe/rollout"
)

// SortKey orders a listing: newest first by one of the thread's times,
// ties broken by id (descending).
type SortKey string

// The sort keys. The zero value is SortCreated.
const (
	SortCreated SortKey = "created"
	SortUpdated SortKey = "updated"
	SortRecency SortKey = "recency"
	// SortTree is the order of Descendants by default: depth first, each
	// parent before its children, siblings in spawn order. It is not a
	// List order.
	SortTree SortKey = "tree"
)

func (k SortKey) column() (string, error) {
	switch k {
	case SortTree:
		return "", fmt.Errorf("%w: sort %q is only for Descendants", ErrInvalidRequest, k)
	case "", SortCreated:
		return "created_at_ms", nil
	case SortUpdated:
		return "updated_at_ms", nil
	case SortRecency:
		return "recency_at_ms", nil
	}
	return "", fmt.Errorf("%w: unknown sort key %q (want created, updated or recency)", ErrInvalidRequest, k)
}

func (k SortKey) norm() SortKey {
	if k == "" {
		return SortCreated
	}
	return k
}

// ErrInvalidRequest is matched (errors.Is) by errors about arguments: a bad
// filter combination, sort key or page size.
var ErrInvalidRequest = errors.New("sqlitestore: invalid request")

// ErrInvalidCursor is matched (errors.Is) when a page cursor is garbled,
// unknown, or was made for another sort order. It also matches
// ErrInvalidRequest.
var ErrInvalidCursor = fmt.Errorf("%w: invalid cursor", ErrInvalidRequest)

// DefaultPageSize is the page size when Limit is 0; MaxPageSize bounds it.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Page selects one page of a listing.
type Page struct {
	// Limit is the page size: 0 means DefaultPageSize; above MaxPageSize
	// or negative is an error.
	Limit int
	// Cursor is the Next of the previous page, or "" for the first page.
	Cursor string
	// Sort is the order (newest first); the zero value is SortCreated. A
	// cursor is only valid with the sort it was made for.
	Sort SortKey
}

// ThreadPage is one page of threads; Next is the cursor of the following
// page, "" at the end.
type ThreadPage struct {
	Threads []Thread
	Next    string
}

// ListOptions filters a listing. Each thread in the result carries its
// immediate parent (Thread.ParentThreadID), so callers can rebuild a tree.
type ListOptions struct {
	Page
	// Archived selects archived threads instead of live ones.
	Archived bool
	// SourceKinds keeps threads whose Thread.SourceKind is listed; empty
	// means all.
	SourceKinds []string
	// Providers keeps threads whose model provider is listed; empty means
	// all.
	Providers []string
	// Cwds keeps threads whose cwd is listed; nil means all, an empty
	// non-nil slice means none.
	Cwds []string
	// Parent keeps the direct children of a thread (by spawn edge).
	Parent rollout.ThreadID
	// Ancestor keeps every descendant of a thread at any depth. It is
	// mutually exclusive with Parent.
	Ancestor rollout.ThreadID
}

// cursor is the decoded form of a page cursor.
type cursor struct {
	sort SortKey
	ms   int64
	id   string
}

const cursorVersion = "c1"

func encodeCursor(c cursor) string {
	s := cursorVersion + "|" + string(c.sort) + "|" + strconv.FormatInt(c.ms, 10) + "|" + c.id
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string, want SortKey) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w %q: not a cursor of this store", ErrInvalidCursor, s)
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 4 || parts[0] != cursorVersion {
		return cursor{}, fmt.Errorf("%w %q: not a cursor of this store", ErrInvalidCursor, s)
	}
	c := cursor{sort: SortKey(parts[1]), id: parts[3]}
	if c.sort != want.norm() {
		return cursor{}, fmt.Errorf("%w %q: made for sort %q, used with %q", ErrInvalidCursor, s, c.sort, want.norm())
	}
	if c.ms, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
		return cursor{}, fmt.Errorf("%w %q: bad time", ErrInvalidCursor, s)
	}
	if c.sort == SortTree {
		if c.id == "" || len(c.id)%nodeWidth != 0 || strings.Trim(c.id, "0123456789abcdef") != "" {
			return cursor{}, fmt.Errorf("%w %q: bad tree position", ErrInvalidCursor, s)
		}
		return c, nil
	}
	if _, err := rollout.ParseThreadID(c.id); err != nil {
		return cursor{}, fmt.Errorf("%w %q: bad thread id", ErrInvalidCursor, s)
	}
	return c, nil
}

func (p Page) limit() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultPageSize, nil
	case p.Limit < 0 || p.Limit > MaxPageSize:
		return 0, fmt.Errorf("%w: page limit %d out of range 1..%d", ErrInvalidRequest, p.Limit, MaxPageSize)
	}
	return p.Limit, nil
}

func sortMS(t Thread, k SortKey) int64 {
	switch k.norm() {
	case SortUpdated:
		return t.UpdatedAt.UnixMilli()
	case SortRecency:
		return t.RecencyAt.UnixMilli()
	}
	return t.CreatedAt.UnixMilli()
}

// query is a listing query under construction.
type query struct {
	with  string
	from  string
	where []string
	args  []any
}

func (q *query) and(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

func inList(col string, vals []string) (string, []any) {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + ph + ")", args
}

// subtreeCTE lists the descendants of ? (child, parent) over the edge
// index. UNION (not UNION ALL) makes it terminate on cyclic edges.
const subtreeCTE = `WITH RECURSIVE sub(child, parent) AS (
  SELECT child_thread_id, parent_thread_id FROM thread_spawn_edges WHERE parent_thread_id = ?
  UNION
  SELECT e.child_thread_id, e.parent_thread_id FROM sub JOIN thread_spawn_edges e ON e.parent_thread_id = sub.child
) `

// run executes q with keyset pagination over page.
func (ix *Index) run(ctx context.Context, q query, page Page) (ThreadPage, error) {
	col, err := page.Sort.column()
	if err != nil {
		return ThreadPage{}, err
	}
	limit, err := page.limit()
	if err != nil {
		return ThreadPage{}, err
	}
	if page.Cursor != "" {
		c, err := decodeCursor(page.Cursor, page.Sort)
		if err != nil {
			return ThreadPage{}, err
		}
		// A row value, so SQLite bounds the index range (an OR would not).
		q.and("(t."+col+", t.id) < (?, ?)", c.ms, c.id)
	}
	var sb strings.Builder
	sb.WriteString(q.with)
	sb.WriteString("SELECT " + threadCols + " FROM " + q.from)
	if len(q.where) > 0 {
		sb.WriteString(" WHERE " + strings.Join(q.where, " AND "))
	}
	sb.WriteString(" ORDER BY t." + col + " DESC, t.id DESC LIMIT ?")
	args := append(q.args, limit+1)
	rows, err := ix.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return ThreadPage{}, fmt.Errorf("sqlitestore: list: %w", err)
	}
	defer rows.Close()
	var out ThreadPage
	for rows.Next() {
		t, err := scanThread(rows)
		if err != nil {
			return ThreadPage{}, fmt.Errorf("sqlitestore: list: %w", err)
		}
		out.Threads = append(out.Threads, t)
	}
	if err := rows.Err(); err != nil {
		return ThreadPage{}, fmt.Errorf("sqlitestore: list: %w", err)
	}
	if len(out.Threads) > limit {
		out.Threads = out.Threads[:limit]
		last := out.Threads[limit-1]
		out.Next = encodeCursor(cursor{sort: page.Sort.norm(), ms: sortMS(last, page.Sort), id: string(last.ID)})
	}
	return out, nil
}

const fromThreads = `threads t LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id`

// List returns one page of threads matching opts, newest first by
// opts.Sort.
func (ix *Index) List(ctx context.Context, opts ListOptions) (ThreadPage, error) {
	if opts.Parent != "" && opts.Ancestor != "" {
		return ThreadPage{}, fmt.Errorf("%w: parent and ancestor filters are mutually exclusive", ErrInvalidRequest)
	}
	q := query{from: fromThreads}
	switch {
	case opts.Parent != "":
		if err := checkID(opts.Parent); err != nil {
			return ThreadPage{}, fmt.Errorf("%w: parent: %w", ErrInvalidRequest, err)
		}
		q.and("e.parent_thread_id = ?", string(opts.Parent))
	case opts.Ancestor != "":
		if err := checkID(opts.Ancestor); err != nil {
			return ThreadPage{}, fmt.Errorf("%w: ancestor: %w", ErrInvalidRequest, err)
		}
		q.with = subtreeCTE
		q.args = append(q.args, string(opts.Ancestor))
		q.and("t.id IN (SELECT child FROM sub WHERE child <> ?)", string(opts.Ancestor))
	}
	q.and("t.archived = ?", boolInt(opts.Archived))
	if len(opts.SourceKinds) > 0 {
		c, a := inList("t.source_kind", opts.SourceKinds)
		q.and(c, a...)
	}
	if len(opts.Providers) > 0 {
		c, a := inList("t.model_provider", opts.Providers)
		q.and(c, a...)
	}
	if opts.Cwds != nil {
		if len(opts.Cwds) == 0 {
			return ThreadPage{}, nil
		}
		c, a := inList("t.cwd", opts.Cwds)
		q.and(c, a...)
	}
	return ix.run(ctx, q, opts.Page)
}

// Children returns one page of the direct children (by spawn edge, any
// status) of thread id, archived or not.
func (ix *Index) Children(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error) {
	if err := checkID(id); err != nil {
		return ThreadPage{}, err
	}
	q := query{from: `thread_spawn_edges e CROSS JOIN threads t ON t.id = e.child_thread_id`}
	q.and("e.parent_thread_id = ?", string(id))
	return ix.run(ctx, q, page)
}

// Descendants returns one page of all descendants of thread id at any
// depth (spawn edges of any status, archived or not), each with its
// immediate parent. With Page.Sort "" or SortTree they come in tree order
// (depth first, parents before children) from the materialized tree: a
// page costs O(page) however large the subtree. With a time sort they
// come newest first from a recursive CTE over the edge index, which costs
// O(subtree) per page. Cyclic edges terminate.
func (ix *Index) Descendants(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error) {
	if err := checkID(id); err != nil {
		return ThreadPage{}, err
	}
	if page.Sort == "" || page.Sort == SortTree {
		return ix.descendantsInTree(ctx, id, page)
	}
	q := query{with: subtreeCTE, args: []any{string(id)},
		from: `sub CROSS JOIN threads t ON t.id = sub.child LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id`}
	q.and("sub.child <> ?", string(id))
	return ix.run(ctx, q, page)
}

// Edge is one spawn edge: parent spawned child.
type Edge struct {
	Parent rollout.ThreadID
	Child  rollout.ThreadID
	Status string
	// Depth is the child's depth below the root of a SpawnDescendants
	// query (1 for direct children); 1 in SpawnChildren.
	Depth int
}

// RecordEdge records that parent spawned child with the given status
// (EdgeOpen before the child runs). An existing edge of child is replaced:
// a child has one parent.
func (ix *Index) RecordEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error {
	if err := checkID(parent); err != nil {
		return fmt.Errorf("%w: parent: %w", ErrInvalidRequest, err)
	}
	if err := checkID(child); err != nil {
		return fmt.Errorf("%w: child: %w", ErrInvalidRequest, err)
	}
	if parent == child {
		return fmt.Errorf("%w: thread %s cannot be its own parent", ErrInvalidRequest, child)
	}
	if status == "" {
		return fmt.Errorf("%w: empty edge status", ErrInvalidRequest)
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: record edge %s -> %s: %w", parent, child, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO thread_spawn_edges(parent_thread_id, child_thread_id, status) VALUES (?,?,?)
ON CONFLICT(child_thread_id) DO UPDATE SET parent_thread_id = excluded.parent_thread_id, status = excluded.status`,
		string(parent), string(child), status); err != nil {
		return fmt.Errorf("sqlitestore: record edge %s -> %s: %w", parent, child, err)
	}
	if err := setTreeParent(ctx, tx, string(parent), string(child)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: record edge %s -> %s: %w", parent, child, err)
	}
	return nil
}

// SetEdgeStatus sets the status of child's spawn edge. A child without an
// edge gives an error matching ErrNotFound.
func (ix *Index) SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error {
	if err := checkID(child); err != nil {
		return err
	}
	if status == "" {
		return fmt.Errorf("%w: empty edge status", ErrInvalidRequest)
	}
	res, err := ix.db.ExecContext(ctx, `UPDATE thread_spawn_edges SET status = ? WHERE child_thread_id = ?`, status, string(child))
	if err != nil {
		return fmt.Errorf("sqlitestore: set edge status %s: %w", child, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no spawn edge for %s", ErrNotFound, child)
	}
	return nil
}

// SpawnChildren returns the spawn edges from parent, ordered by child id;
// status "" means any status. Children need not have an index row yet.
func (ix *Index) SpawnChildren(ctx context.Context, parent rollout.ThreadID, status string) ([]Edge, error) {
	if err := checkID(parent); err != nil {
		return nil, err
	}
	q := `SELECT parent_thread_id, child_thread_id, status, 1 FROM thread_spawn_edges WHERE parent_thread_id = ?`
	args := []any{string(parent)}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	return ix.edges(ctx, q+` ORDER BY child_thread_id`, args...)
}

// SpawnDescendants returns the spawn edges below root in breadth-first
// order (depth, then child id). With a status, only edges of that status
// are followed: a closed edge prunes its whole subtree from an "open"
// query. Cyclic edges terminate.
func (ix *Index) SpawnDescendants(ctx context.Context, root rollout.ThreadID, status string) ([]Edge, error) {
	if err := checkID(root); err != nil {
		return nil, err
	}
	filter := ""
	if status != "" {
		filter = " AND e.status = ?"
	}
	q := `WITH RECURSIVE d(parent, child, status, depth) AS (
  SELECT e.parent_thread_id, e.child_thread_id, e.status, 1 FROM thread_spawn_edges e WHERE e.parent_thread_id = ?` + filter + `
  UNION
  SELECT e.parent_thread_id, e.child_thread_id, e.status, d.depth + 1 FROM d JOIN thread_spawn_edges e ON e.parent_thread_id = d.child
  WHERE d.child <> ?` + filter + `
) SELECT parent, child, status, min(depth) FROM d WHERE child <> ? GROUP BY child ORDER BY min(depth), child`
	args := []any{string(root), string(root), string(root)}
	if status != "" {
		args = []any{string(root), status, string(root), status, string(root)}
	}
	return ix.edges(ctx, q, args...)
}

func (ix *Index) edges(ctx context.Context, q string, args ...any) ([]Edge, error) {
	rows, err := ix.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: spawn edges: %w", err)
	}
	defer rows.Close()
	var out []Edge
	for rows.Next() {
		var p, c string
		var e Edge
		if err := rows.Scan(&p, &c, &e.Status, &e.Depth); err != nil {
			return nil, fmt.Errorf("sqlitestore: spawn edges: %w", err)
		}
		e.Parent, e.Child = rollout.ThreadID(p), rollout.ThreadID(c)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: spawn edges: %w", err)
	}
	return out, nil
}
