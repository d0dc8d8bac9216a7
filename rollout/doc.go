// Package rollout owns the on-disk thread model: the Codex rollout line
// format (session_meta, response_item, event_msg, ...), the JSONL recorder
// and streaming reader, history reconstruction, the turn reducer and forks.
//
// It knows nothing about agents, models or mailboxes, and imports only the
// standard library and zstd.
//
// # Item model
//
// A rollout is a JSONL file; each line is an [Item]: a timestamp, an
// optional ordinal (paginated threads), a [Payload] and optional line-level
// metadata. [ParseLine] decodes a line, [MarshalLine] and [AppendLine]
// encode one in Codex's exact layout
// ({"timestamp":"2006-01-02T15:04:05.000Z","ordinal":N,"type":K,"payload":{...}}).
//
// Payloads are typed by [Kind]: [*SessionMeta], [*ResponseItem],
// [*EventMsg], [*TurnContext], [*Compacted], [*WorldState],
// [*InterAgentMetadata], the legacy [*InterAgentCommunication],
// [*TokenUsageRecord], and [*Unknown] for any other kind. Data Codex
// persists keeps Codex's names and shapes. Nothing is lost on the way
// through: typed payloads keep the members they do not model in an Extra
// map that is written back on encode, [*EventMsg] keeps its whole payload
// verbatim (decode it on demand with [EventMsg.Decode] into [TurnStarted],
// [TurnComplete], [ItemCompleted], ...), and every decoded [Item] keeps the
// line it came from ([Item.Raw]) so that forks and materialization copy
// lines byte-identical.
//
// # Concurrency
//
// Item values and payloads are plain data: safe to share between goroutines
// as long as nobody mutates them. Decoded items share no memory with each
// other.
package rollout
