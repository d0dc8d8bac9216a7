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
}
