package sqlitestore

// migration is one numbered step of the schema. Versions are unique and
// contiguous from 1 (checked by a test); each is applied in its own
// transaction together with its schema_migrations row.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrations is the schema of state.sqlite, oldest first. Never edit an
// entry that has shipped: add a new one.
var migrations = []migration{
	{1, "threads and spawn edges", `
CREATE TABLE threads (
    id               TEXT PRIMARY KEY NOT NULL,
    rollout_path     TEXT NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    recency_at_ms    INTEGER NOT NULL,
    source           TEXT NOT NULL DEFAULT '',
    source_kind      TEXT NOT NULL DEFAULT '',
    thread_source    TEXT NOT NULL DEFAULT '',
    model_provider   TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL DEFAULT '',
    cwd              TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL DEFAULT '',
    preview          TEXT NOT NULL DEFAULT '',
    agent_path       TEXT NOT NULL DEFAULT '',
    agent_nickname   TEXT NOT NULL DEFAULT '',
    agent_role       TEXT NOT NULL DEFAULT '',
    session_id       TEXT NOT NULL DEFAULT '',
    originator       TEXT NOT NULL DEFAULT '',
    cli_version      TEXT NOT NULL DEFAULT '',
    history_mode     TEXT NOT NULL DEFAULT 'legacy',
    archived         INTEGER NOT NULL DEFAULT 0,
    archived_at_ms   INTEGER,
    tokens_used      INTEGER NOT NULL DEFAULT 0,
    name             TEXT NOT NULL DEFAULT '',
    parent_thread_id TEXT NOT NULL DEFAULT '',
    forked_from_id   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_threads_archived_created_at_ms ON threads(archived, created_at_ms DESC, id DESC);
CREATE INDEX idx_threads_archived_updated_at_ms ON threads(archived, updated_at_ms DESC, id DESC);
CREATE INDEX idx_threads_archived_recency_at_ms ON threads(archived, recency_at_ms DESC, id DESC);
CREATE INDEX idx_threads_archived_cwd_created_at_ms ON threads(archived, cwd, created_at_ms DESC, id DESC);

CREATE TABLE thread_spawn_edges (
    parent_thread_id TEXT NOT NULL,
    child_thread_id  TEXT NOT NULL PRIMARY KEY,
    status           TEXT NOT NULL
);
CREATE INDEX idx_thread_spawn_edges_parent_status ON thread_spawn_edges(parent_thread_id, status);
`},
	{2, "projected thread items", `
CREATE TABLE thread_items (
    thread_id     TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    turn_id       TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    item_type     TEXT NOT NULL,
    ordinal       INTEGER,
    byte_offset   INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    item_json     TEXT NOT NULL,
    PRIMARY KEY (thread_id, seq)
);
CREATE INDEX idx_thread_items_turn ON thread_items(thread_id, turn_id, seq);

CREATE TABLE thread_projection (
    thread_id        TEXT PRIMARY KEY NOT NULL,
    next_byte_offset INTEGER NOT NULL,
    next_seq         INTEGER NOT NULL,
    turn_id          TEXT NOT NULL DEFAULT '',
    turns            TEXT NOT NULL DEFAULT '[]'
);
`},
	{3, "pending file deletes", `
CREATE TABLE pending_file_deletes (
    path TEXT PRIMARY KEY NOT NULL
);
`},
	// thread_tree materializes each thread's chain of ancestors along the
	// spawn edges as a path of fixed-width node numbers, so that a
	// subtree is one index range: descendant pages cost O(page), not
	// O(subtree) as a recursive CTE does.
	{4, "materialized spawn tree", `
CREATE TABLE thread_tree (
    node      INTEGER PRIMARY KEY,
    thread_id TEXT NOT NULL UNIQUE,
    path      TEXT NOT NULL
);
CREATE INDEX idx_thread_tree_path ON thread_tree(path);
INSERT INTO thread_tree(thread_id, path)
  SELECT id, '' FROM (SELECT parent_thread_id AS id FROM thread_spawn_edges UNION SELECT child_thread_id FROM thread_spawn_edges);
WITH RECURSIVE p(thread_id, path) AS (
  SELECT t.thread_id, printf('%08x', t.node) FROM thread_tree t
   WHERE t.thread_id NOT IN (SELECT child_thread_id FROM thread_spawn_edges)
  UNION
  SELECT e.child_thread_id, p.path || printf('%08x', c.node)
    FROM p JOIN thread_spawn_edges e ON e.parent_thread_id = p.thread_id
    JOIN thread_tree c ON c.thread_id = e.child_thread_id
)
UPDATE thread_tree SET path = coalesce((SELECT path FROM p WHERE p.thread_id = thread_tree.thread_id), printf('%08x', node));
`},
}
