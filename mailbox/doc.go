// Package mailbox owns addressed messages between agents: the message type,
// the per-agent inbox (ordering, wake-ups, take/acknowledge delivery) and the
// sealing of message content. It never interprets message bodies and imports
// no other package of this module (only the standard library).
//
// # Messages
//
// A Message is {ID, Author, Recipient, Content, TriggerTurn, SentAt, Seq}.
// Author and Recipient are agent paths ("/root/researcher"). Content is a
// list of parts whose JSON is exactly the content of a Codex agent_message
// item, so the agent records them as they are:
//
//	{"type":"input_text","text":"..."}                       Text(s)
//	{"type":"encrypted_content","encrypted_content":"..."}   Sealed(s)
//
// Tool-originated mail (spawn_agent, send_message, followup_task) is built by
// SealedContent: the plain Codex header ("Message Type: NEW_TASK\nTask name:
// <recipient>\nSender: <author>\nPayload:\n") then the task text sealed.
// Runtime-generated mail (a child's FINAL_ANSWER notice) is plaintext, built
// by PlainContent. Header, PlainText and the Kind constants give the exact
// Codex strings.
//
// # The inbox
//
// Each agent owns one Inbox, made by New(Config{Owner: path, ...}). Ids and
// clocks are injected through Config.NewID and Config.Now; the inbox uses no
// global state and starts no goroutine.
//
// Senders (control, on behalf of other agents' tools and of the runtime) call
// Send. The owning agent receives in two phases, so that a message counts as
// delivered only once it is durably appended to its rollout (SPEC §4.4):
//
//	inbox.HasTrigger()          // idle agent: should mail start a turn?
//	msgs := inbox.Take()        // all waiting mail, in order, now in flight
//	for _, m := range msgs {
//		record(m)               // inter_agent_communication_metadata + agent_message, flushed
//		inbox.Ack(m)            // delivered: released for good
//	}
//	inbox.Requeue()             // turn interrupted before recording the rest: they wait again
//
// Messages taken but not acknowledged are still held: Requeue puts them back
// ahead of newer mail, and Unacked returns everything held (in flight first,
// then waiting) so it can be persisted and handed to Restore of the inbox of
// the next run, which skips ids it already holds. Mail is therefore delivered
// at least once across restarts and exactly once within a run (when each
// recorded message is acknowledged); the recipient deduplicates across
// restarts by ID, so record ID as the agent_message item's id (Codex's
// "amsg_<uuid>"): on resume, mail whose id the rollout already holds was
// delivered. Call Restore before routing new mail to the inbox, so restored
// messages keep their place and their sequence numbers.
//
// Waiting: Wait(ctx) returns as soon as mail is waiting (at once if some
// already is), when ctx is done (with its cause), or with ErrClosed. For a
// select over several sources (the sleep tool also wakes on steered input),
// Changed returns a channel closed at the next change (arrival, Restore,
// Requeue, Close); take it before checking Len so no arrival is missed:
//
//	ch := inbox.Changed()
//	if inbox.Len() == 0 {
//		select { case <-ch: case <-steer: case <-timer.C: case <-ctx.Done(): }
//	}
//
// # Ordering
//
// Delivery order is acceptance order: the order in which Send calls took the
// inbox's lock. Messages from one goroutine arrive in the order it sent them.
// Each accepted message gets Seq, the count of messages accepted from its
// Author by this inbox (1, 2, 3, ...; refused sends take no number), so a
// reader can check per-sender order and spot gaps or repeats. Numbers live
// as long as the inbox: Restore keeps the recorded numbers and later ones
// continue past them, but an author with nothing restored starts again at 1
// in a new inbox. Messages from different senders racing each other are
// ordered by acceptance only.
//
// # Backpressure and the full policy
//
// Send never blocks on the recipient's work: it holds the inbox lock only to
// append, and the owner holds it only to copy messages out. The inbox is
// bounded by Config.Capacity (DefaultCapacity when zero), counting every
// message held, waiting or in flight. Send to a full inbox fails at once with
// a *SendError wrapping ErrFull and the message is not accepted; nothing
// already held is ever dropped. The sender decides: control should turn it
// into a tool error for the sending model ("the recipient's mailbox is
// full") rather than wait, so a stuck agent cannot stall its parent. Restore
// ignores the capacity so that a restart never loses mail.
//
// Memory: an inbox that never received mail holds no queue; the queue grows
// by doubling up to the capacity (about 112 bytes a message plus content) and
// releases content as messages are acknowledged.
//
// # Concurrency and ownership
//
// All methods of Inbox are safe for concurrent use; many goroutines may Send
// at once, and any number may Wait or hold a Changed channel (one arrival
// wakes them all; Wait allocates nothing per wake-up). The receiving side (Take, TakeAppend, Ack, Requeue, Restore) is
// meant for the one agent goroutine that owns the inbox: Ack must name the
// oldest messages in flight in order, which only the taker knows. The inbox
// keeps Content slices as given: senders must not change them after Send.
//
// Whoever creates an inbox closes it: control closes an agent's inbox when it
// shuts the agent down, after which Send and Restore fail with ErrClosed and
// waiters wake. Close does not drop anything: the owner can still Take, Ack,
// Requeue and read Unacked to persist what was not delivered. Close is
// idempotent.
//
// # Sealing
//
// A Sealer seals text for storage and opens it only when the recipient's
// model request is built (OpenForRequest returns opened copies and leaves the
// stored content sealed). Two modes:
//
//   - Passthrough: the provider encrypted the tool argument (the Responses
//     API) and decrypts it for the recipient model. Seal keeps the ciphertext
//     byte for byte; Open reports ErrProviderSealed, so OpenForRequest
//     forwards the part untouched. This is what Codex does.
//   - LocalSealer: AES-256-GCM with keys from configuration, for providers
//     without server-side encryption. The envelope is text, versioned and
//     self-describing: "troupe-seal:v1:<key id>:<base64url(nonce|ciphertext|tag)>",
//     with the header authenticated as additional data. Keys rotate: Seal uses
//     the active key, Open any configured key named by the envelope. Keys
//     come from configuration as "<id>:<base64 secret>" (ParseKey, or
//     UnmarshalText in a JSON config); NewKey and Key.Encode make them.
//
// Opening never returns garbage: a damaged, truncated, relabelled or
// wrong-key envelope is an *OpenError wrapping ErrMalformed,
// ErrUnsupportedVersion, ErrUnknownKey or ErrAuth, and OpenForRequest then
// fails the whole request naming the part. Text that is not an envelope is
// ErrMalformed for a strict LocalSealer, or forwarded to the provider when
// LocalSealerConfig.ForwardForeign is set (trees mixing both modes).
//
// # Errors
//
// Sentinels carry the "mailbox:" prefix (ErrClosed is "mailbox: closed") and
// are matched with errors.Is; SendError and OpenError carry the context and
// unwrap to them.
//
// # Testing
//
// The tests use real inboxes and sealers only: ordering under 50 concurrent
// senders with -race, wake-ups under testing/synctest, redelivery across a
// JSON round trip of Unacked, tampering and rotation, and fuzz targets for
// the envelope decoder and the part JSON decoder. BenchmarkHandoff and
// BenchmarkHandoffOneByOne compare the inbox with a bare buffered channel in
// the same run (SPEC §8 target: at most 3×).
package mailbox
