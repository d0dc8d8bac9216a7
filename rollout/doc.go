// Package rollout owns the on-disk thread model: the Codex rollout line
// format (session_meta, response_item, event_msg, ...), the JSONL recorder
// and streaming reader, history reconstruction, the turn reducer and forks.
//
// It knows nothing about agents, models or mailboxes, and imports only the
// standard library and zstd.
package rollout
