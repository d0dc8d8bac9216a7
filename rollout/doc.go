// Package rollout owns the on-disk thread model: the Codex rollout line
// format, the JSONL recorder and streaming readers, plain and zstd file
// forms, history reconstruction, the turn reducer and forks. Data Codex
// persists keeps Codex's names and shapes, so troupe reads Codex 0.169
// sessions and Codex can read troupe's.
//
// It knows nothing about agents, models or mailboxes, and imports only the
// standard library and zstd (github.com/klauspost/compress/zstd).
//
// # Items
//
// A rollout is a JSONL file; each line is an [Item]: a timestamp, an
// optional ordinal (paginated threads only), a [Payload] and optional
// line-level metadata. [ParseLine] decodes a line; [MarshalLine] and
// [AppendLine] encode one in Codex's layout
// ({"timestamp":"2006-01-02T15:04:05.000Z","ordinal":N,"type":K,"payload":{...}}).
//
// Payloads are typed by [Kind]: [*SessionMeta], [*ResponseItem],
// [*EventMsg], [*TurnContext], [*Compacted], [*WorldState],
// [*InterAgentMetadata], the legacy [*InterAgentCommunication]
// ([InterAgentCommunication.AgentMessage] turns it into an agent_message),
// [*TokenUsageRecord], and [*Unknown] for any other kind. Nothing is lost
// on the way through: typed payloads keep the members they do not model in
// Extra ([Members], in their original order) and write them back;
// [*EventMsg] keeps its payload verbatim (decode it on demand with
// [EventMsg.Decode] into [TurnStarted], [TurnComplete], [TurnAborted],
// [TokenCount], [ThreadRolledBack], [ItemCompleted], [UserMessage], ...;
// build one with [NewEvent]); and every decoded [Item] keeps the line it
// came from ([Item.Raw]) so forks copy lines byte-identical.
//
// # Files
//
// [SessionPath], [FileName] and [ParseFileName] implement Codex's layout
// (HOME/sessions/YYYY/MM/DD/rollout-<stamp>-<uuid>.jsonl, flat
// HOME/archived_sessions/). A rollout has a logical path (the plain .jsonl
// name) and a physical one, which may be the cold .jsonl.zst sibling:
// [ResolvePath] prefers the plain file, and every reader accepts either
// form. [FindThread] finds a thread's file from its id without reading any
// file. An explicit path that is a directory or not a regular file fails
// with [ErrNotRegular] before anything is read.
//
// # Reading
//
// [Read] streams a rollout as an iter.Seq2[Item, error]. A malformed line in
// the middle is yielded as a [*CorruptError] (path, line, offset) and
// reading goes on if the caller keeps iterating; a torn final line (a crash
// during an append) is ignored; lines are bounded ([ReadOptions]).
// [ReadBackward], [ReverseLines] and [ReadTail] read from the end in 8 KiB
// chunks (the latest turn_context, the last ordinal, the last turn) without
// reading the whole file; [ReadMeta] reads only the head.
//
// [LoadHistory] and [ReconstructHistory] rebuild what a resume needs, once:
// the model history (compactions, rollbacks, legacy records applied), the
// surviving world_state/compacted records for world-state replay, the
// reference turn_context and the context window to restore. [LoadHistory]
// streams the file ([StreamHistory]: one forward pass holding the live
// history and a few small records per turn, never the items, then the
// selected turn_context and world-state lines read again at their
// offsets), so a long thread, plain or .zst, resumes without being held
// whole; [ReconstructHistory] works on items already read and is the
// reference it is tested against. [Turns] reduces
// items to [Turn] values for clients. [Fork] copies a thread (all of it or
// its last N user turns) into a new one.
//
// # Writing
//
// A [Recorder] appends to one thread's rollout. [NewRecorder] starts a new
// thread (the file appears with its session_meta first only once something
// is written); [ResumeRecorder] reopens an existing one (materializing a
// .zst form, repairing a torn tail, continuing ordinals). Appends are
// filtered by the persistence policy of the thread's history mode
// ([ShouldPersist]), encoded into memory and written in batches (group
// commit); [Recorder.Flush] makes everything appended durable (fsync, and
// fsync of the directory after creating the file) and must be called
// before a turn-terminal event is reported. A thread whose history mode is
// unknown fails closed with [ErrUnsupportedHistoryMode]: its metadata can
// be read ([ReadMeta], [ReadTail]), but [LoadHistory],
// [ReconstructHistory], [Fork], [ResumeRecorder] and appends refuse it.
// [Read] itself is the low-level line reader under all of these and does
// not judge the mode.
//
// # Concurrency and ownership
//
// A Recorder is owned by one goroutine (the agent that owns the thread):
// its methods must not be called concurrently, and it starts no goroutines.
// Whoever creates it closes it; Close flushes, closes the file and is
// idempotent. While its file is open the recorder holds the thread's lock
// (an exclusive flock on the plain file, see [TryLock] and [LockPath]), so
// a second recorder for the same file, in this process or another, fails
// with [ErrLocked]. Anything that removes or replaces a plain rollout
// (compression, archive, delete) must take the same lock first.
//
// Readers take no lock: they may run while a recorder appends (they see
// complete lines up to some point, and ignore a torn last line). Item
// values and payloads are plain data, safe to share between goroutines as
// long as nobody mutates them; a [History] is built to be shared read-only
// by every consumer of a resume. The package has no global mutable state.
//
// # Testing
//
// Tests run on real files in t.TempDir(), on the Codex 0.169 sessions
// copied into testdata/corpus, and on hand-made legacy and damaged files in
// testdata/. Fuzz targets cover the line decoder, the file reader and file
// names. Benchmarks compare the recorder and the loader with plain
// baselines in the same run.
//
// # Cold compression, search and persistence metrics
//
// A cold rollout may live as rollout-….jsonl.zst (one zstd stream of the
// same bytes, same mode and mtime). [CompressFile] turns one plain rollout
// into that form: compress to a rollout-compress-*.tmp beside it, verify by
// decompressing and comparing, fsync, then, holding the thread's lock and
// only if the file is unchanged, link the .zst into place (never
// clobbering) and remove the plain file. A file whose lock a writer holds
// is skipped as live, so append and compression never race (the stress
// test runs thousands of append/compress/materialize cycles). Writers
// materialize a .zst back to plain before appending ([ResumeRecorder]);
// [MoveRollout] moves either form for archive and unarchive; paths handed
// out are always the logical .jsonl.
//
// A [Compactor] (owned by the store, opt-in) runs [CompressFile] over
// archived_sessions/ then sessions/, for files older than ColdAfter, at
// most two at a time (errgroup.SetLimit). Its Run blocks until done or
// cancelled and waits for every file in flight. The marker
// HOME/.tmp/rollout-compression.lock, flock'ed during a run, keeps runs
// from overlapping and throttles them to one per staleness window; a
// crashed run's marker is reclaimed once older than the window.
//
// [Search] finds a text in the rollouts of a home, plain and compressed,
// reading each file once (a .zst is stream-decoded and scanned in the same
// pass that cuts the snippet). Results are keyed by thread id and logical
// path, newest first, paginated with an opaque cursor; the index joins its
// metadata on them. [SearchFile] searches one rollout.
//
// Metrics go through OpenTelemetry's metric API and are no-ops unless a
// MeterProvider is given: the compactor's run and file counters and
// histograms ([MetricCompressionRun], ...), and [PersistenceMetrics], whose
// per-thread [PersistenceMetrics.Observer] plugs into
// RecorderConfig.Observer to count bytes per item type before and after
// the persistence policy, sampled per thread.
package rollout
