package control

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// threadState is what a rollout says about a thread: its metadata, its
// reconstructed history (rollout.ReconstructHistory: model-visible items,
// world-state records, context window, last turn_context, token usage),
// the status its last turn left and the multi-agent mode last persisted.
type threadState struct {
	path     string
	meta     *rollout.SessionMeta
	hist     *rollout.History
	history  []rollout.ResponseItem // hist.Items, copied
	status   Status
	openTurn string // a turn started and never ended ("" if none)
	mode     MultiAgentMode
}

// loadThread reads a rollout once, streaming, and reconstructs its state
// with rollout.StreamHistory (what rollout.ReconstructHistory gives, holding
// only the history that survives), as Codex resumes a thread (rollbacks,
// compactions with and without replacement history, legacy inter-agent
// items, world state, the context window); the same pass follows the turn
// events for the status. Malformed lines are skipped (and logged).
func (rt *Runtime) loadThread(id rollout.ThreadID) (*threadState, error) {
	p, err := rollout.FindThread(rt.cfg.Home, id, false)
	if err != nil {
		return nil, fmt.Errorf("control: find thread %s: %w", id, err)
	}
	if meta, err := rollout.ReadMeta(p); err != nil {
		return nil, fmt.Errorf("control: thread %s: %w", id, err)
	} else if !meta.Mode().Known() {
		// Fail closed before reading the rest.
		return nil, fmt.Errorf("control: thread %s: %w %q", id, rollout.ErrUnsupportedHistoryMode, meta.HistoryMode)
	}
	st := &threadState{path: p, status: Status{Kind: StatusIdle}}
	h, corrupt, err := rollout.StreamHistory(p, func(it rollout.Item) {
		if ev, ok := it.Payload.(*rollout.EventMsg); ok {
			st.applyEvent(ev)
		}
	})
	for _, err := range corrupt {
		rt.cfg.Logger.Warn("control: skipped a malformed rollout line", "err", err)
	}
	if err != nil {
		return nil, fmt.Errorf("control: thread %s: %w", id, err)
	}
	st.meta, st.hist = h.Meta, h
	st.history = make([]rollout.ResponseItem, len(h.Items))
	for i, it := range h.Items {
		st.history[i] = *it
	}
	if tc := h.LastTurnContext; tc != nil {
		st.mode = parseModeJSON(tc.MultiAgentMode)
	}
	return st, nil
}

// applyEvent follows the turn events: the status the last turn left, and
// a turn left open.
func (st *threadState) applyEvent(ev *rollout.EventMsg) {
	switch {
	case ev.Is(rollout.EventTurnStarted):
		var e rollout.TurnStarted
		if ev.Decode(&e) == nil {
			st.openTurn = e.TurnID
			st.status = Status{Kind: StatusRunning}
		}
	case ev.Is(rollout.EventTurnComplete):
		var e rollout.TurnComplete
		if ev.Decode(&e) == nil {
			st.openTurn = ""
			switch {
			case e.Error != nil:
				st.status = Status{Kind: StatusErrored, Message: e.Error.Message, HasMessage: true}
			case e.LastAgentMessage != nil:
				st.status = Status{Kind: StatusCompleted, Message: *e.LastAgentMessage, HasMessage: true}
			default:
				st.status = Status{Kind: StatusCompleted}
			}
		}
	case ev.Is(rollout.EventTurnAborted):
		st.openTurn = ""
		st.status = Status{Kind: StatusInterrupted}
	}
}

// baseInstructions reads session_meta.base_instructions ({"text": ...}).
func baseInstructions(m *rollout.SessionMeta) string {
	var bi struct {
		Text string `json:"text"`
	}
	if len(m.BaseInstructions) > 0 && json.Unmarshal(m.BaseInstructions, &bi) == nil {
		return bi.Text
	}
	return ""
}

// Resume loads the tree of root thread id: the root and, following the
// open spawn edges of the index, every descendant that was live, with its
// path, parent and session id, its history and its status as its rollout
// left it (a turn open at a crash becomes interrupted, and a turn_aborted
// event is appended to its rollout). Mail journaled but not recorded by its
// recipient is redelivered, so a child whose edge was recorded but that
// never started gets its task and starts. opts gives the tools (which are
// not persisted); its Instructions, when empty, are read from the rollouts.
// A sub-agent's id fails with ErrNotRoot; a tree already live with
// ErrLoaded.
func (rt *Runtime) Resume(ctx context.Context, id rollout.ThreadID, opts ThreadOptions) (*Agent, error) {
	rt.mu.Lock()
	closed, loaded := rt.closed, rt.byThread[id] != nil
	rt.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case loaded:
		return nil, fmt.Errorf("%w: %s", ErrLoaded, id)
	}
	st, err := rt.loadThread(id)
	if err != nil {
		return nil, err
	}
	if st.meta.ParentThreadID != "" || (st.meta.SessionID != "" && st.meta.SessionID != st.meta.ID) {
		return nil, fmt.Errorf("%w: %s belongs to session %s", ErrNotRoot, id, st.meta.SessionID)
	}
	pending, err := pendingMail(rt.cfg.Home, id)
	if err != nil {
		return nil, err
	}
	t := &tree{session: id, byPath: map[string]*node{}, opts: opts}
	if opts.Mode == "" {
		t.opts.Mode = ModeExplicitRequestOnly
	}
	root := &node{rt: rt, tree: t, id: id, path: RootPath}
	if err := rt.restoreNode(ctx, root, st); err != nil {
		return nil, err
	}
	nodes := []*node{root}
	for i := 0; i < len(nodes); i++ {
		if err := ctx.Err(); err != nil {
			releaseAll(nodes)
			return nil, err
		}
		n := nodes[i]
		edges, err := rt.edges.ChildEdges(ctx, n.id)
		if err != nil {
			releaseAll(nodes)
			return nil, fmt.Errorf("control: resume %s: children of %s: %w", id, n.path, err)
		}
		for _, e := range edges {
			if e.Status != EdgeOpen {
				continue
			}
			child, err := rt.restoreChild(ctx, n, e.Child)
			if err != nil {
				// A child that cannot be restored is skipped with its
				// subtree; the rest of the tree resumes.
				rt.cfg.Logger.Warn("control: resume: child skipped", "parent", n.path.String(), "child", e.Child, "err", err)
				continue
			}
			nodes = append(nodes, child)
		}
	}
	// Compact the journal to what is still to deliver, then reopen it.
	var order []string
	for _, n := range nodes {
		order = append(order, n.path.String())
	}
	if err := rewriteJournal(rt.cfg.Home, id, pending, order); err != nil {
		releaseAll(nodes)
		return nil, fmt.Errorf("control: resume %s: mail journal: %w", id, err)
	}
	if t.journal, err = openJournal(rt.cfg.Home, id); err != nil {
		releaseAll(nodes)
		return nil, err
	}
	rt.mu.Lock()
	if rt.closed || rt.byThread[id] != nil {
		rt.mu.Unlock()
		releaseAll(nodes)
		t.journal.close()
		if rt.closed {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %s", ErrLoaded, id)
	}
	t.root = root
	for _, n := range nodes {
		t.byPath[n.path.String()] = n
		rt.byThread[n.id] = n
		t.nicks.keep(n.nickname)
	}
	t.spawns = len(nodes) - 1
	rt.trees[id] = t
	rt.mu.Unlock()
	for _, n := range nodes {
		st := n.st
		if err := rt.run(n, st.Kind); err != nil {
			rt.cfg.Logger.Warn("control: resume: agent not started", "agent", n.path.String(), "err", err)
			continue
		}
		n.setStatus(st)
		if msgs := pending[n.path.String()]; len(msgs) > 0 {
			if _, err := n.inbox.Restore(msgs); err != nil {
				rt.cfg.Logger.Warn("control: resume: mail not restored", "agent", n.path.String(), "err", err)
			}
		}
	}
	return &Agent{n: root}, nil
}

func releaseAll(nodes []*node) {
	for _, n := range nodes {
		n.release()
	}
}

// restoreChild restores the child thread id of parent from its rollout.
func (rt *Runtime) restoreChild(ctx context.Context, parent *node, id rollout.ThreadID) (*node, error) {
	st, err := rt.loadThread(id)
	if err != nil {
		return nil, err
	}
	path, err := ParsePath(st.meta.AgentPath)
	if err != nil {
		if spawn, ok := st.meta.SubagentSpawn(); ok {
			path, err = ParsePath(spawn.AgentPath)
		}
		if err != nil {
			return nil, fmt.Errorf("thread %s has no valid agent path: %w", id, err)
		}
	}
	if pp, ok := path.Parent(); !ok || pp != parent.path {
		return nil, fmt.Errorf("thread %s at %s is not a child of %s", id, path, parent.path)
	}
	if st.meta.SessionID != parent.tree.session {
		return nil, fmt.Errorf("thread %s belongs to session %s, not %s", id, st.meta.SessionID, parent.tree.session)
	}
	n := &node{rt: rt, tree: parent.tree, id: id, path: path, parent: parent,
		nickname: st.meta.AgentNickname, role: st.meta.AgentRole}
	if err := rt.restoreNode(ctx, n, st); err != nil {
		return nil, err
	}
	return n, nil
}

// restoreNode fills n from its thread's state and reopens its rollout for
// appending. A turn left open is closed as interrupted.
func (rt *Runtime) restoreNode(ctx context.Context, n *node, st *threadState) error {
	n.init()
	n.originator = st.meta.Originator
	n.roots = st.meta.SelectedCapabilityRoots
	n.instructions = n.tree.opts.Instructions
	if n.parent != nil || n.instructions == "" {
		if bi := baseInstructions(st.meta); bi != "" {
			n.instructions = bi
		}
	}
	n.resume = st.hist
	n.lastMode = st.mode
	n.mode = n.tree.opts.Mode
	if n.parent != nil {
		n.mode = st.mode
		if n.mode == "" {
			n.mode = ModeExplicitRequestOnly
		}
	}
	var rec threadLog
	var err error
	if rt.cfg.Store != nil {
		rec, err = rt.cfg.Store.Resume(ctx, n.id)
	} else {
		rec, err = rollout.ResumeRecorder(rollout.RecorderConfig{Path: st.path, Clock: rt.cfg.Clock})
	}
	if err != nil {
		return fmt.Errorf("control: resume thread %s: %w", n.id, err)
	}
	n.rec = rec
	n.st = st.status
	if st.openTurn != "" {
		ev, err := rollout.NewEvent(rollout.TurnAborted{TurnID: st.openTurn, Reason: "interrupted"})
		if err == nil {
			err = rec.AppendItems(rollout.Item{Timestamp: rt.cfg.Clock(), Payload: ev})
		}
		if err == nil {
			err = rec.Flush(ctx)
		}
		if err != nil {
			rec.Close()
			return fmt.Errorf("control: resume thread %s: close the open turn: %w", n.id, err)
		}
		n.st = Status{Kind: StatusInterrupted}
	}
	return nil
}

// Fork starts a new root thread (a tree of its own) from thread id, live
// or stored, with forked_from_id set. ForkFullHistory and ForkLastN copy
// the source's rollout lines with rollout.Fork (Store.Fork with a Store):
// the whole history, or the last N user turns without the metadata of the
// cut part, and a turn left open closed as interrupted. The fork then
// starts from that copy as a resumed thread does (history, world state,
// context window), so its first turn restates only what changed. A live
// source is forked as far as its rollout was flushed (at the end of each
// turn and after delivered mail). ForkNone starts an empty thread. opts'
// Instructions, when empty, are the source's.
func (rt *Runtime) Fork(ctx context.Context, id rollout.ThreadID, mode ForkMode, opts ThreadOptions) (*Agent, error) {
	src, err := rollout.FindThread(rt.cfg.Home, id, true)
	if err != nil {
		return nil, fmt.Errorf("control: fork %s: %w", id, err)
	}
	srcMeta, err := rollout.ReadMeta(src)
	if err != nil {
		return nil, fmt.Errorf("control: fork %s: %w", id, err)
	}
	if opts.Instructions == "" {
		opts.Instructions = baseInstructions(srcMeta)
	}
	if mode.Kind == ForkNone {
		return rt.startRoot(ctx, opts, id)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, n, err := rt.newRoot(opts)
	if err != nil {
		return nil, err
	}
	meta := rt.newMeta(n, nil, id)
	lastTurns := 0
	if mode.Kind == ForkLastN {
		lastTurns = mode.Turns
	}
	if rt.cfg.Store != nil {
		n.rec, err = rt.cfg.Store.Fork(ctx, id, sqlitestore.ForkOptions{LastTurns: lastTurns, Meta: meta})
	} else {
		n.rec, err = rollout.Fork(ctx, src, rollout.ForkOptions{NewID: n.id, Path: rollout.SessionPath(rt.cfg.Home, rt.cfg.Clock(), n.id),
			LastTurns: lastTurns, Meta: meta, Clock: rt.cfg.Clock})
	}
	if err != nil {
		t.journal.close()
		return nil, fmt.Errorf("control: fork %s: %w", id, err)
	}
	st, err := rt.loadThread(n.id)
	if err != nil {
		n.rec.Close()
		t.journal.close()
		return nil, fmt.Errorf("control: fork %s: %w", id, err)
	}
	n.resume, n.lastMode = st.hist, st.mode
	return rt.runRoot(t, n)
}
