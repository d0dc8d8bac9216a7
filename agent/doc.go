// Package agent owns one agent's life: the thread it owns, the turn loop
// (model steps, tool dispatch, steering, interruption, sleep), the Model
// interface, and the items and events it reports. It never routes to other
// agents; package control does.
//
// # Life cycle
//
//	a, err := agent.New(agent.Config{ThreadID: id, Model: m, Tools: tools,
//		Recorder: rec, HistoryMode: rollout.HistoryModePaginated, Inbox: inbox})
//	go a.Run(ctx)          // or errgroup.Go(func() error { return a.Run(ctx) })
//	defer a.Close()
//	sub := a.Subscribe()   // events, see below
//	turn, err := a.Submit(ctx, "Research X")
//	res, err := turn.Wait(ctx)
//
// New validates the config and starts nothing. Run is the owner goroutine:
// it owns the thread's admission state (the active turn, a reserved next
// turn) and serves the public methods, which send requests to it and select
// on their ctx and on the agent stopping (so they wait until Run runs). Run returns when ctx ends (with
// its cause) or after Close (with nil). Stopping aborts the active turn
// (TurnAborted{interrupted}, rollout flushed), waits for every tool
// goroutine and closes subscriptions. Close is idempotent and waits for
// Run; the caller closes the Recorder and Inbox it gave afterwards (the
// agent never closes them).
//
// # Turns (SPEC-agent 3.2–3.4)
//
// One turn runs at a time, on its own goroutine. Submit while a turn runs
// steers the text into it (it joins the turn's pending input) and returns
// that turn; Steer does the same but fails with ErrNoActiveTurn or
// ErrTurnMismatch. Mail with trigger_turn starts a turn at an idle agent;
// other mail waits. Starting a turn takes the queued mail into the turn's
// pending input. Inject adds model-visible items (developer notes) without
// starting a turn: into the running turn like steered input, or straight
// into the history when idle. Each turn persists a turn_context record built
// from Config.TurnContext.
//
// Each step captures a Step from the StepProvider (the tools advertised,
// which are the tools its calls run against; the seam for per-step
// environments and capability roots), builds the request from the
// normalized history, and streams the response. Tool calls are recorded as
// they complete and their tools start at once; parallel-safe tools run
// together, others alone; outputs are recorded in call order after the
// stream. The turn follows up while tools ran, the model asked to continue,
// or input is pending. Pending input (steers, then mail) joins from the
// second step on; a final answer defers mail to the next turn (input left
// pending at the end is recorded before TurnComplete). A reasoning item or
// commentary message that completes while mail waits preempts the stream:
// the rest of the response is discarded and the next step sees the mail.
//
// Retryable model errors (ErrStreamClosed, ErrTimeout, ErrServer,
// ErrRateLimited, unclassified transport errors) are retried up to
// Config.MaxRetries times after the server's delay or 200ms×2^(n−1) ±10 %,
// each retry announced by a StreamError event. A fatal error, or retries
// exhausted, ends the turn with TurnComplete.Error; the thread stays usable.
//
// Interrupt cancels the turn: tools get 100 ms to return, those that have
// not finished by then get the output "aborted by user after N.Ns" (and
// item events they report later are dropped), a <turn_aborted> developer message is
// recorded, unrecorded steers are dropped and taken mail goes back to the
// inbox, the rollout is flushed, then TurnAborted is emitted. Every turn
// emits TurnStarted first and exactly one TurnComplete or TurnAborted last,
// after the rollout is flushed; Turn.Wait returns the same result.
//
// # Tools and sleep
//
// Tools are capability.Tool values, dispatched through a capability.Set:
// unknown names, arguments that are too large, not JSON or against the
// schema get an error output to the model; a panic becomes an error output
// with the panic text; a tool's Go error becomes an error output. Calls get
// capability.Call.NewInput, closed when steered input or mail arrives. The
// built-in sleep tool (on unless Config.DisableSleep) uses it to wake early;
// its output is Codex's ("Wall time: 0.1521 seconds\nSleep completed." or
// "…Sleep interrupted by new input.") and it reports a Sleep item, persisted
// as item_completed {"type":"Extension","kind":"clock.sleep",…}. Other
// calls are reported as DynamicToolCall items, unless the tool implements
// ItemReporter and reports its own items with StartItem/CompleteItem.
//
// # History and persistence
//
// Every item recorded into the history gets an id (missing ids are filled
// as "<prefix>_<id>", reused ids replaced with a Warning) and the turn id in
// its passthrough metadata, is appended to the Recorder, and is announced
// by a RawResponseItem event, in that order. Requests hold the history with
// each call paired with an output (Normalize). Delivered mail is recorded as
// an inter_agent_communication_metadata line then an agent_message item,
// flushed, then acknowledged to the inbox. The persistence policy follows
// the history mode: legacy threads get the legacy event twins (user_message,
// agent_message, agent_reasoning) and item_completed only for sleep;
// paginated threads get an item_completed snapshot of every completed item.
// A failing Recorder is reported with Warning events and the log; the agent
// goes on in memory. Resume a thread by passing the reconstructed
// rollout.History as Config.Resume and a recorder from
// rollout.ResumeRecorder.
//
// # Events
//
// Subscribe returns a Subscription whose channel receives the Event values
// (TurnStarted, ItemStarted, AgentMessageDelta, ReasoningSummaryDelta,
// ItemCompleted, RawResponseItem, TokenCount, StreamError, Warning,
// TurnComplete, TurnAborted), each carrying the thread and turn id, in
// emission order. Delivery never blocks the agent: each subscription has a
// bounded buffer (Config.EventBuffer, default DefaultEventBuffer); an event
// that finds it full is dropped for that subscriber and counted
// (Subscription.Dropped). Turn results never depend on subscriptions.
//
// # Contracts for other packages
//
// Model is the one call the agent makes to a language model: a Request
// (instructions, normalized history as rollout.ResponseItem values, tool
// specs, the parallel-tool-calls flag and metadata naming the thread, turn,
// context window and agent path) answered by a sequence of StreamEvent
// values. Failures are *ModelError values whose Class is one of the Err*
// sentinels; Retryable and ParseRetryAfter help adapters and the agent
// agree. agent/openaimodel implements it over go-openai; agent/modeltest is
// the scripted fake every test uses.
//
// # World state (SPEC-agent 3.7)
//
// A Step carries the step's world state as Sections: each has a stable id,
// a JSON snapshot (null object members stripped) and a renderer that, given
// what the model saw before (PriorAbsent, PriorUnknown or PriorKnown with
// the old snapshot), returns the fragment the model sees (a diff when the
// old snapshot is known). The thread keeps a baseline: the snapshot last
// made visible. At each step the sections are compared with it; when
// something changed the fragments are recorded into the history (developer
// or user messages; consecutive fragments of one role share a message),
// then a world_state record is persisted: {"full": true, "state": …}
// without a baseline, else an RFC 7386 merge patch {"full": false, "state":
// …}. Nothing changed: nothing is recorded. The first step of a turn is
// captured before anything of the turn is recorded, so the rollout reads
// task_started, world-state fragments, world_state, turn_context, then the
// input. Config.WorldState (set from Config.Resume) replays the surviving
// records: a compacted record clears the baseline, a full one sets it, a
// patch applies to it; a patch without a baseline is ignored and an
// unreadable snapshot leaves the baseline unknown (every section restated
// at the next step), both logged, never an error. A resumed thread's first
// step therefore restates nothing the model already saw.
//
// Workspace is the StepProvider of an agent working in environments
// (package environment) with capability roots (package capability): at
// each step it captures the turn's environment selection (fixed per turn;
// the exact handles are kept for the step), resolves the thread's roots
// against that capture, advertises the base tools plus the tools the
// available roots declare (bound to the captured handle of their
// environment), and supplies the built-in sections: "environments"
// (Codex's shape and <environment_context> rendering: id, cwd, status
// available/starting/disconnected, shell, current_date, timezone from
// Config.Now; a time in time.Local is named by its IANA name, from
// WorkspaceConfig.LocalZone or else ZoneSources: TZ, the /etc/localtime
// link, /etc/timezone, and the zone abbreviation when none names it) and "capability_roots" (available roots with skills and
// tools, unavailable ones with why), plus any sections its Sections hook
// adds (control adds the agent's place in its tree). A root whose
// environment starts, fails or goes away leaves the next step's tools and
// the diff says so; one on a lazy environment appears the step after the
// environment is ready.
//
// # Context windows and compaction (SPEC-agent 3.8)
//
// A thread's context is a sequence of windows, numbered from 0, each with
// an id; Window reports the current one with the first and previous ids,
// and requests carry "{thread_id}:{window_number}". Config.Window names the
// window a thread continues: whoever writes session_meta mints window 0's
// id and records it as session_meta.context_window (control does); a
// resume (Config.Resume) continues the newest surviving numbered
// compaction's window, else window 0 of session_meta, else (legacy
// compactions without numbers) the count of compactions with a fresh id.
//
// TokensUsed is the last response's total tokens plus bytes/4 of what was
// recorded after it (restored on resume from the newest token_count that
// still describes the history). The context is compacted:
//   - before a turn, when the previous turn's and this turn's turn_context
//     both declare a comp_hash and they differ, with the previous turn's
//     model; else when TokensUsed reaches the limit
//     (Config.Compaction.TokenLimit, default 90 % of ContextWindow);
//   - mid-turn, when a follow-up step is needed and the limit is reached
//     (at most until a compaction fails to get under it);
//   - on request: Compact runs a compaction turn (TurnStarted, the
//     ContextCompaction item, TurnComplete), refused with ErrTurnActive
//     while a turn runs; input submitted meanwhile starts the next turn.
//
// A turn's model is named by its turn_context (SetTurnContext changes the
// template for later turns) and resolved with Config.ModelFor; without a
// resolver Config.Model serves every name, so a comp_hash compaction then
// goes to Config.Model too.
//
// Compaction asks the model for a summary (the history, then
// Config.Compaction.Prompt as a user message; nothing of that response is
// recorded). The replacement history is the most recent real user messages
// within Config.Compaction.UserMessageTokens approximate tokens (oldest
// kept one truncated; harness context is not a real user message: the
// world-state fragments the agent records carry Codex's harness provenance
// in their passthrough content_item_metadata, persisted with them so a
// resumed thread knows them too, and tagged context such as
// <environment_context> is recognised by its text, see IsHarnessContext),
// in order, then the summary as a user message
// prefixed with rollout.SummaryPrefix. In fresh-window mode the model is
// not asked and the replacement is empty: the full world state recorded
// next is the window's initial context. The window advances and a
// compacted record {message, replacement_history, window_number,
// first_window_id, previous_window_id, window_id} is persisted; the world
// state baseline is cleared, so the world state recorded next is full,
// then the turn_context follows (mid-turn and Compact record both at once;
// before a turn, its first step does). ItemStarted / ItemCompleted of a
// ContextCompaction item surround it. A summary request over the model's
// context window drops the oldest history item and tries again; other
// failures are retried like steps. A compaction that fails leaves the
// history and window as they were and ends the turn with a TurnError whose
// Err is a *CompactionError (the turn's input is still recorded). A failed
// comp_hash compaction is tried again before the next turn; a successful
// Compact, which summarizes with the current model, settles it.
package agent
