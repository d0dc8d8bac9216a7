// Package control is the composition root and supervisor of troupe: it
// spawns agents, owns their goroutines, routes messages between them and
// resumes and forks whole trees. Nothing in the library imports it.
//
// # Usage
//
//	store, err := sqlitestore.Open(ctx, sqlitestore.Config{Home: dir})
//	defer store.Close()                 // after rt.Close
//	rt, err := control.Open(ctx, control.Config{
//		Store: store,                       // rollouts, index rows, spawn edges; Home = store.Home()
//		Model: model,                       // agent.Model, e.g. modeltest.New(t)
//	})
//	defer rt.Close()
//	root, err := rt.Start(ctx, control.ThreadOptions{Instructions: "..."})
//	events, err := rt.Subscribe(root.ID()) // every agent of the tree
//	turn, err := root.Submit(ctx, "Research X with two helpers")
//	res, err := turn.Wait(ctx)
//	tree, err := rt.Tree(root.ID())      // live agents, paths, statuses
//	// after a restart:
//	root, err = rt.Resume(ctx, rootID, control.ThreadOptions{Tools: tools})
//	forked, err := rt.Fork(ctx, rootID, control.ForkLastTurns(2), opts)
//
// # Trees, paths, identities
//
// Each Start creates a tree: a root agent at /root whose thread id is the
// session id shared by every agent of the tree (session_meta.session_id).
// An agent spawned by /root/researcher with task_name "checker" lives at
// /root/researcher/checker (Path, ParsePath, Path.Resolve implement Codex's
// grammar and error texts). Task names are [a-z0-9_]+ and unique among the
// live agents of a tree. A child's session_meta records its parent,
// path, nickname, role, the inherited originator and selected capability
// roots, and multi_agent_version "v2".
//
// Each spawned agent gets a nickname, as in Codex: picked at random
// (Config.Rand) among its role's NicknameCandidates, else Config.Nicknames,
// else a built-in list, skipping names the tree has used; when all are
// used they come round again as "Kepler the 2nd", "Kepler the 3rd", ... A
// name stays used after its agent is closed (until the next round), and a
// resumed tree keeps its agents' names. Nicknames are in AgentInfo, the
// session_meta (agent_nickname and the thread_spawn source) and the index;
// spawn_agent's output does not show them (Codex hides them by default).
//
// # The multi-agent tools
//
// Every agent gets Codex v2's tools with Codex's names, argument schemas,
// outputs and error texts: spawn_agent{task_name, message, agent_type?,
// fork_turns?} → {"task_name":"/root/w"}; send_message{target, message}
// (mail without a turn; output ""); followup_task{target, message} (mail
// that starts a turn if the target is idle; never to /root);
// interrupt_agent{target} → {"previous_status":…}; wait_agent{timeout_ms?}
// → {"message":"Wait completed."|"Wait interrupted by new input."|"Wait
// timed out.","timed_out":…} (never message content); list_agents
// {path_prefix?} → {"agents":[{"agent_name","agent_status",
// "last_activity_ms"}]}; and troupe's close_agent{target}, which stops the
// target and its descendants and marks their spawn edges closed. Targets
// are paths (relative to the caller, or absolute) or thread ids; an id of
// another tree is refused. Arguments are parsed strictly by the tools
// themselves (serde's texts, "failed to parse function arguments: …"); as
// capability.ArgumentValidators they skip the generic schema check, whose
// texts would differ from Codex's. Spawn, send, follow-up and
// interrupt report a SubAgentActivity item (started, interacted,
// interrupted) in the caller's thread, which persists it.
//
// Limits (Config.Limits) bound depth (default 4), live agents per tree
// (default 32, the root included) and spawns per tree (default 1024); a
// spawn over a limit is a tool error for the model. Deadlines are the
// runtime's, not the model's: wait_agent's timeout_ms is checked against
// Config.Wait, and every other multi-agent call is cancelled after
// Config.ToolDeadline (default one minute; an interrupt_agent whose target
// does not stop, say), the model getting "collab tool failed: <tool> did
// not finish within <d>".
//
// # The thread store
//
// With Config.Store every thread is written through the Store's writers
// (sqlitestore.Store.Create, Resume): each flush of a rollout also brings
// its index row up to date (title and preview, parent, source, agent path,
// model, updated_at), and spawn edges go to the same Store, so Store.List,
// Children, Descendants and Search (and troupe threads list) show a tree
// while it runs, with no rebuild. Without a Store, rollouts are written by
// rollout.Recorder and only Config.Index (or an in-memory index) learns
// the edges.
//
// # Environments and world state
//
// With Config.Environments (an environment.Registry the caller owns) each
// agent's steps come from an agent.Workspace: the tree's environment
// selections (ThreadOptions.Environments; nil: the registry's defaults),
// the agent's selected capability roots, the tree's tools plus the tools
// the available roots declare, and the world state: environments,
// capability roots and the agent's place in its tree (TreeSection, id
// "agent_tree": its path and live children), recorded as world_state diffs
// (SPEC-agent 3.7). Selected roots are durable: written in
// session_meta.selected_capability_roots, read back from it by Resume
// (ThreadOptions need not repeat them) and inherited by spawned children;
// CapabilityRoots converts capability.SelectedCapabilityRoot values to
// that form. Resume replays each thread's world_state records, so the
// first step after it restates nothing the model already saw (a rollback
// in the rollout drops them: the next step restates the world). A
// spawn_agent full-history fork (fork_turns "all") starts from its
// parent's world state: a full world_state record follows the copied
// messages and the child records only what differs for it; "none" and
// last-N spawns get full context on their first turn. Runtime.Fork copies
// the world_state records with the lines (rollout.Fork; a last-N fork
// from the first full record of the turns it keeps), so a fork restates
// only what the copy lacks. Without Config.Environments agents have the configured tools
// only and no world state.
//
// # Spawn order and crash safety
//
// spawn_agent reserves the path and the limits, journals the NEW_TASK
// mail, creates the child's rollout (session_meta, plus the forked
// history: fork_turns "all" (default), "none", or "N" last turns, filtered
// to messages as Codex does), records the spawn edge (parent, child, open)
// in the Index, and only then starts the child's goroutines and hands it the task.
// A crash after the edge is recorded leaves a child whose task is in the
// journal: Resume starts it.
//
// # Mail
//
// Each agent has a mailbox.Inbox. Messages are journaled in
// HOME/mail/<session id>.jsonl before the inbox accepts them ("send"), and
// the recipient's acknowledgement (after the agent recorded the message in
// its rollout and flushed) is journaled too ("ack"); a refused send is
// journaled "drop". Resume redelivers what was sent and not acknowledged,
// in order. Journal records are single write(2) calls (safe against a
// process crash); the file is fsynced on Close. When a child's turn
// completes (or fails), its parent gets a plaintext FINAL_ANSWER mail
// ("Message Type: FINAL_ANSWER\nTask name: <parent>\nSender: <child>\n
// Payload:\n<last message>", or "Agent errored: <error, its middle cut
// past 900 tokens as Codex does>" with Codex's suffix);
// an interrupted turn sends nothing; a parent that is gone gets nothing
// (no escalation).
//
// A completion notice is durable mail: it is journaled before delivery
// and never dropped. When the parent's inbox is full the notice waits in
// the parent's overflow queue (FIFO, at most one notice per child turn)
// and enters the inbox as the parent acknowledges mail; a notice still
// waiting when the runtime stops is redelivered by Resume. Mail sent by a
// tool (send_message, followup_task) is not queued that way: a full inbox
// is a tool error for the sending model, and the message is journaled as
// dropped.
//
// Notices are trigger_turn false by default, as in Codex: an idle parent
// reads them on its next turn, and a running wait_agent or sleep wakes at
// once. Config.CompletionTriggersTurn makes them trigger mail, so an idle
// parent starts a turn to handle each completion. (A notice waiting in
// the overflow of an idle parent whose inbox is full of queue-only mail
// starts nothing: it enters with the parent's next turn, started by user
// input.)
//
// # Sealing
//
// Config.Sealer seals task text. With mailbox.Passthrough (the default) the
// message argument is forwarded as the provider's ciphertext. With a local
// sealer (mailbox.LocalSealer) the runtime seals the message argument of
// spawn_agent, send_message and followup_task as soon as the model emits
// the call, so the caller's history, rollout and later requests hold only
// ciphertext; the recipient agent opens it only when building its own
// model request (agent.Config.Sealer). The text never reaches a log.
//
// # Statuses, mode, events
//
// Agent statuses (Status, Codex's JSON) follow the agent's OnTurnStart and
// OnTurnEnd hooks: pending_init, running, completed, errored, interrupted,
// shutdown; idle for an agent restored with no turn. Runtime.Status and
// Runtime.Tree observe them per agent and per tree. A turn's end is
// published last: once an agent is seen completed or errored, its
// completion notice is already in its parent's mailbox, so an embedder
// that waits for the children and then submits to the parent finds every
// notice. The multi-agent mode (Agent.SetMode: explicit_request_only, the
// default, or proactive) is
// recorded in each turn_context as {"mode":"explicitRequestOnly"} and, when
// it changes, as Codex's <multi_agent_mode> developer message before it.
// Subscribe fans out the events of all agents of a tree; a slow subscriber
// loses events (counted by Dropped), agents never block on it.
//
// # Interrupt
//
// Interrupts take effect at safe points (the agent cancels its model
// stream and tools, records what it has, flushes, and ends the turn as
// interrupted, with no completion notice). Their scope is explicit:
// interrupt_agent and Agent.Interrupt stop one agent's turn, as in Codex;
// Runtime.Interrupt with ScopeSubtree stops an agent and every live
// descendant. Interrupted agents stay live and can be given more work;
// close_agent (Runtime.CloseAgent) is what stops a subtree for good.
//
// # Tracing
//
// With Config.TracerProvider (OpenTelemetry) each agent turn is a span
// (troupe.turn, attributes troupe.agent.path, troupe.thread.id,
// troupe.session.id, troupe.turn.id), each multi-agent tool call a span
// under the caller's turn (troupe.tool spawn_agent, ...), and each model
// request a span under its turn (troupe.model), whose context the Model
// receives so an instrumented client carries it to the provider. A
// spawned agent's turns are children of the spawn_agent call that created
// it (a turn started by followup_task, of that call), so the work of a
// whole tree is one trace; a root's turn is a child of the span in the
// context given to Agent.Submit, if any. Span contexts
// are not persisted: after Resume, a restored agent's turns start traces
// of their own.
//
// # Context windows
//
// Every agent runs with Config.Compaction (agent.CompactionConfig) and
// Config.ModelFor: with the model's context window (or a token limit) set,
// an agent compacts its history before a turn or mid-turn once its tokens
// reach the limit; Agent.Inner().Compact compacts on request. A new
// thread's session_meta names window 0, and Resume continues the window of
// the newest compaction.
//
// # Resume and fork
//
// Resume(root id) streams the root's rollout and rebuilds it with
// rollout.StreamHistory (rollout.ReconstructHistory's result, holding only
// the history that survives, not the file), the same reconstruction every resume in
// troupe uses (compactions, rollbacks counting mail as turns as Codex
// does, legacy inter-agent items, world state, the context window, the
// last turn_context and token usage, all handed to the agent as
// agent.Config.Resume), follows the open edges of the index to restore
// every live descendant with its path, session id, nickname and status, closes a turn left open by a crash as interrupted (a turn_aborted
// event is appended), and redelivers undelivered mail. Fork copies a
// thread's rollout lines (rollout.Fork, or Store.Fork with a Store: the
// full history or the last N user turns) into a new root with
// forked_from_id, which then starts from the copy as a resumed thread
// does; spawn_agent's forks instead give the child the parent's filtered
// messages (fork_turns), as Codex does.
//
// # Concurrency and ownership
//
// A Runtime owns every agent it starts: each agent's Run and its event
// watcher run under one errgroup; Close stops all agents (active turns end
// as interrupted, rollouts flushed), waits for every goroutine, then closes
// recorders, inboxes and journals. Open starts nothing. All methods are
// safe for concurrent use. Tools run on the calling agent's tool goroutine
// and act on other agents only through their methods and inboxes.
//
// # Testing
//
// The tests run real agents (agent/modeltest scripted model), real rollout
// files, the real SQLite index, and check that no goroutine outlives Close.
// Transcript tests (testdata/*.txt, rendered to .golden; go test -run
// TestTranscripts -update rewrites them) script multi-agent scenarios:
// spawn, model responses, turns, wait_agent, followup_task,
// interrupt_agent, close_agent, restart and resume.
// BenchmarkSpawnTurn measures spawn + one turn + completion per agent,
// with rollout recorders and with a Store (flag -control.bench10k adds
// 10 000 agents).
package control
