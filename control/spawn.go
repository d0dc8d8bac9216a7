package control

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// spawn creates, records and starts the child of parent at path, then
// delivers its task. In order: reserve the path and the limits; journal the
// task mail; create the child's rollout (session_meta, and the forked
// history); record the spawn edge (parent, child, open) in the index; start the
// child; hand it the task. A crash after the edge is recorded leaves a
// child whose task is in the journal: Resume starts it.
func (rt *Runtime) spawn(ctx context.Context, parent *node, path Path, a spawnArgs) (*node, error) {
	lim := rt.cfg.Limits
	t := parent.tree
	rt.mu.Lock()
	switch {
	case rt.closed:
		rt.mu.Unlock()
		return nil, toolError("collab manager unavailable")
	case path.Depth() > lim.MaxDepth:
		rt.mu.Unlock()
		return nil, toolError(fmt.Sprintf("Agent depth limit reached (max depth %d). Solve the task yourself.", lim.MaxDepth))
	case len(t.byPath) >= lim.MaxLiveAgents:
		rt.mu.Unlock()
		return nil, fmt.Errorf("collab spawn failed: agent thread limit reached (%d live agents per tree)", lim.MaxLiveAgents)
	case t.spawns >= lim.MaxSpawns:
		rt.mu.Unlock()
		return nil, fmt.Errorf("collab spawn failed: agent spawn limit reached (%d spawns per tree)", lim.MaxSpawns)
	case t.byPath[path.String()] != nil:
		rt.mu.Unlock()
		return nil, fmt.Errorf("agent path `%s` already exists", path)
	}
	// The nickname stays used even if the spawn fails (as in Codex).
	nick := t.nicks.pick(rt.nicknameCandidates(a.agentType), rt.cfg.Rand)
	child := &node{rt: rt, tree: t, id: rollout.ThreadID(rt.cfg.NewID()), path: path, parent: parent,
		nickname: nick, role: a.agentType, originator: parent.originator, roots: parent.roots, instructions: parent.instructions,
		mode: ModeExplicitRequestOnly}
	if r, ok := rt.cfg.Roles[a.agentType]; ok && r.Instructions != "" {
		child.instructions = r.Instructions
	}
	child.init()
	child.tr.parent = trace.SpanContextFromContext(ctx) // the spawn_agent call's span
	t.byPath[path.String()] = child                     // reserved: agent nil until started
	t.spawns++
	rt.mu.Unlock()

	fail := func(err error) (*node, error) {
		rt.mu.Lock()
		t.spawns--
		rt.mu.Unlock()
		rt.unregister(child)
		child.release()
		return nil, err
	}

	var items []rollout.Item
	if a.fork.Kind != ForkNone {
		hist := forkHistory(parent.agent.History(), a.fork)
		now := rt.cfg.Clock()
		items = make([]rollout.Item, len(hist))
		for i := range hist {
			items[i] = rollout.Item{Timestamp: now, Payload: &hist[i]}
		}
		child.history = hist
		if a.fork.Kind == ForkFullHistory {
			items = child.inheritWorld(parent.agent.WorldState(), items)
		}
	}
	var forkedFrom rollout.ThreadID
	if a.fork.Kind != ForkNone {
		forkedFrom = parent.id
	}
	sealed, err := rt.ensureSealed(a.message)
	if err != nil {
		return fail(fmt.Errorf("collab spawn failed: seal task: %v", err))
	}
	task := mailbox.Message{
		ID:          rt.cfg.NewID(),
		Author:      parent.path.String(),
		Recipient:   path.String(),
		Content:     []mailbox.Part{mailbox.Text(mailbox.Header(mailbox.KindNewTask, parent.path.String(), path.String())), mailbox.Sealed(sealed)},
		TriggerTurn: true,
		SentAt:      rt.cfg.Clock(),
	}
	// The task is journaled before the child's thread exists: with a Store,
	// creating the thread indexes it with its spawn edge, and a child
	// restored from an edge must find its task.
	if err := t.journal.write(journalRecord{Op: "send", Msg: &task}); err != nil {
		return fail(fmt.Errorf("collab spawn failed: %v", err))
	}
	dropTask := func() {
		if err := t.journal.write(journalRecord{Op: "drop", Recipient: task.Recipient, ID: task.ID}); err != nil {
			rt.cfg.Logger.Warn("control: mail journal", "err", err)
		}
	}
	if err := child.create(ctx, rt.newMeta(child, parent, forkedFrom), items); err != nil {
		dropTask()
		// A Store may have indexed the thread, and so its edge, before
		// the failure: close it (no edge is fine).
		rt.edges.SetEdgeStatus(context.WithoutCancel(ctx), child.id, EdgeClosed)
		return fail(fmt.Errorf("collab spawn failed: %v", err))
	}
	if err := rt.edges.UpsertEdge(ctx, parent.id, child.id, EdgeOpen); err != nil {
		dropTask()
		return fail(fmt.Errorf("collab spawn failed: record spawn edge: %v", err))
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		// The edge stays open and the task journaled: Resume starts it.
		return fail(toolError("collab manager unavailable"))
	}
	if err := ctx.Err(); err != nil {
		// The caller's turn was interrupted (or timed out) while the child
		// was being set up: a child started now would escape a subtree
		// interrupt that already listed the tree.
		rt.mu.Unlock()
		dropTask()
		rt.edges.SetEdgeStatus(context.WithoutCancel(ctx), child.id, EdgeClosed)
		return fail(err)
	}
	rt.byThread[child.id] = child
	rt.mu.Unlock()
	if err := rt.run(child, StatusPendingInit); err != nil {
		dropTask()
		rt.edges.SetEdgeStatus(context.WithoutCancel(ctx), child.id, EdgeClosed)
		rt.mu.Lock()
		t.spawns--
		rt.mu.Unlock()
		return nil, fmt.Errorf("collab spawn failed: %v", err)
	}
	if _, err := child.inbox.Send(task); err != nil {
		dropTask()
		return nil, fmt.Errorf("collab spawn failed: deliver task: %v", err)
	}
	return child, nil
}

// forkHistory returns the part of a parent's model-visible history a
// forked child starts with (Codex's filter): system, developer and user
// messages and final assistant messages; no reasoning, tool calls and
// outputs, mail, or multi-agent mode messages (the child has its own). For
// ForkLastN, only the suffix from the N-th last turn boundary (a user
// message, or a NEW_TASK mail) is kept; with fewer boundaries, everything
// from the first.
func forkHistory(hist []rollout.ResponseItem, mode ForkMode) []rollout.ResponseItem {
	if mode.Kind == ForkLastN {
		var bounds []int
		for i := range hist {
			if isTurnBoundary(&hist[i]) {
				bounds = append(bounds, i)
			}
		}
		switch {
		case len(bounds) == 0:
			hist = nil
		case len(bounds) < mode.Turns:
			hist = hist[bounds[0]:]
		default:
			hist = hist[bounds[len(bounds)-mode.Turns]:]
		}
	}
	var out []rollout.ResponseItem
	for _, it := range hist {
		if it.Type != rollout.ItemMessage {
			continue
		}
		switch it.Role {
		case rollout.RoleAssistant:
			if it.Phase != rollout.PhaseFinalAnswer {
				continue
			}
		case rollout.RoleDeveloper:
			if isModeMessage(&it) {
				continue
			}
		case rollout.RoleUser, rollout.RoleSystem:
		default:
			continue
		}
		out = append(out, it)
	}
	return out
}

func isTurnBoundary(it *rollout.ResponseItem) bool {
	switch {
	case it.Type == rollout.ItemMessage && it.Role == rollout.RoleUser:
		return !isContextual(it)
	case it.Type == rollout.ItemAgentMessage && len(it.Content) > 0:
		return strings.HasPrefix(it.Content[0].Text, "Message Type: "+string(mailbox.KindNewTask)+"\n")
	}
	return false
}

func isModeMessage(it *rollout.ResponseItem) bool {
	return len(it.Content) == 1 && strings.HasPrefix(it.Content[0].Text, "<multi_agent_mode>")
}
