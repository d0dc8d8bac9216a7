// Package sqlitestore owns troupe's SQLite index of threads and the Store
// that puts rollout files and the index together. It is the only package
// that imports modernc.org/sqlite (pure Go).
//
// # What it owns
//
// The index lives at HOME/state.sqlite (never Codex's state_5.sqlite, which
// it only ever reads in tests). Its tables:
//
//   - threads: one row per thread (see Thread), with indexes for each list
//     order, (archived, <sort>_ms DESC, id DESC);
//   - thread_spawn_edges(parent_thread_id, child_thread_id PK, status) with
//     an index on (parent, status): who spawned whom, open or closed;
//   - thread_tree: each thread's ancestor chain along the spawn edges as a
//     path of fixed-width node numbers, kept in the same transaction as
//     every edge write, so that a subtree is one index range and a page of
//     Descendants (tree order) costs O(page) even over 100 000 threads;
//     List with an Ancestor filter and time-sorted Descendants use a
//     recursive CTE over the edge index instead (O(subtree) per page);
//   - thread_items and thread_projection: the history items projected
//     incrementally for paginated reads (Store.Items), with a per-thread
//     checkpoint (byte offset, next sequence, open turns) so that only the
//     new suffix of a rollout is ever reduced;
//   - pending_file_deletes: rollout files whose thread was deleted but not
//     yet removed from disk;
//   - schema_migrations: the numbered migrations applied, each in its own
//     transaction.
//
// The index is derived data: Rebuild re-creates every row from the
// rollouts (sessions/ and archived_sessions/, plain or .zst), and OpenIndex
// does so by itself for a new database over an existing home (a copied
// Codex home works: paths are taken from where the files are, not from
// Codex's database). A database written by a newer build fails to open
// with ErrSchemaTooNew and is not touched. A corrupt one (SQLITE_CORRUPT,
// SQLITE_NOTADB, or a failed quick_check) is moved with its -wal/-shm to
// HOME/db-backups/state-<secs>-<n>/, re-created and rebuilt; Recovery
// reports both paths and the logger is told.
//
// The database runs in WAL mode with synchronous=NORMAL and a 5 s busy
// timeout; write transactions begin IMMEDIATE. Timestamps come from the
// injected clock: updated_at advances on every persisted mutation,
// recency_at only when a turn starts, and both are unique per millisecond
// within the process (Codex's high-water marks).
//
// # Usage
//
//	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: dir})
//	defer s.Close()
//	w, err := s.Create(ctx, sqlitestore.CreateOptions{Meta: rollout.SessionMeta{Cwd: wd}})
//	w.Append(items...)          // buffered in the recorder
//	w.Flush(ctx)                // durable; the index row is now current
//	page, err := s.Descendants(ctx, w.ID(), sqlitestore.Page{Limit: 50})
//
// A child is spawned by recording its edge first (Store.RecordEdge with
// EdgeOpen), then creating its thread with a thread_spawn source and
// ParentThreadID; SetEdgeStatus(child, EdgeClosed) closes it.
//
// # Concurrency
//
// Store and Index methods may be called from any goroutine concurrently:
// the one *sql.DB pool (at most 4 connections) is shared, SQLite
// serializes writers and WAL lets readers run beside them. A Writer, like
// the rollout.Recorder inside it, belongs to one goroutine (the agent's);
// the Store refuses a second writer for a thread (ErrLive), and archive
// and delete refuse threads that are open for writing, here (ErrLive) or
// in another process (the recorder's flock). Rebuild writes in short
// batches, so writers keep going while it runs. The package starts no
// goroutines.
//
// # Ownership
//
// The caller closes the Store (or an Index from OpenIndex). Store.Close
// first closes (flushing) every Writer still open — call it only once the
// goroutines owning them have stopped — then the database. Each Writer
// should be closed by its owner when its thread stops; Close is idempotent
// everywhere. Cursors are opaque strings valid only with the sort they
// were made for.
//
// # Testing
//
// The package runs the storetest conformance suite, compares a rebuild of
// each Codex 0.169 corpus home (testdata/codex-0.169) with Codex's own
// state_5.sqlite, tests migrations, newer and corrupt databases, and has
// benchmarks for tree and list pages over 100 000 threads.
package sqlitestore
