package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// maTool is one multi-agent tool bound to the calling agent's node.
type maTool struct {
	n       *node
	spec    capability.Spec
	reports bool // reports SubAgentActivity items itself
	fn      func(ctx context.Context, call capability.Call) (capability.Output, error)
}

var (
	_ capability.Tool              = (*maTool)(nil)
	_ capability.ArgumentValidator = (*maTool)(nil)
	_ agent.ItemReporter           = (*maTool)(nil)
)

// ValidatesArguments implements capability.ArgumentValidator: the tools
// parse their arguments strictly themselves (args.go), so the model gets
// Codex's serde texts rather than the schema validator's.
func (t *maTool) ValidatesArguments() bool { return true }

// Spec implements capability.Tool.
func (t *maTool) Spec() capability.Spec { return t.spec }

// Call implements capability.Tool. A tool error (bad arguments, an unknown
// target, a limit) is an error output for the model.
func (t *maTool) Call(ctx context.Context, call capability.Call) (out capability.Output, err error) {
	ctx, end := t.n.toolSpan(ctx, t.spec.Name, call)
	defer func() { end(out, err) }()
	tctx := ctx
	if d := t.n.rt.cfg.ToolDeadline; d > 0 && t.spec.Name != specWait.Name {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeoutCause(ctx, d, errToolDeadline)
		defer cancel()
	}
	out, err = t.fn(tctx, call)
	switch {
	case ctx.Err() != nil:
		// Cut by its turn's end (whatever the cause): the agent reports
		// the call as aborted.
		return out, err
	case err != nil && errors.Is(context.Cause(tctx), errToolDeadline):
		return capability.ErrorOutput("collab tool failed: %s did not finish within %v", t.spec.Name, t.n.rt.cfg.ToolDeadline), nil
	case err != nil && !isRuntimeErr(err):
		return capability.Output{Text: err.Error(), IsError: true}, nil
	}
	return out, err
}

// errToolDeadline is the cause of a multi-agent tool call cancelled by
// Config.ToolDeadline.
var errToolDeadline = errors.New("control: tool deadline exceeded")

// isRuntimeErr reports errors that mean the runtime could not act (the
// turn was cancelled), as opposed to tool errors for the model.
func isRuntimeErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ReportsItems implements agent.ItemReporter: the tools that act on
// another agent report SubAgentActivity items instead of a
// DynamicToolCall.
func (t *maTool) ReportsItems() bool { return t.reports }

// activity reports a SubAgentActivity item in the caller's thread (the
// agent persists it per its history mode).
func (n *node) reportActivity(call capability.Call, kind string, target *node) {
	now := n.rt.cfg.Clock()
	item := &agent.SubAgentActivity{ID: call.ID, Kind: kind, AgentThreadID: string(target.id), AgentPath: target.path.String()}
	n.agent.CompleteItem(call.TurnID, item, now, now)
}

func jsonOutput(v any) capability.Output {
	b, err := json.Marshal(v)
	if err != nil {
		return capability.ErrorOutput("collab tool failed: %v", err)
	}
	return capability.Output{Text: string(b)}
}

// resolveTarget finds the live agent a target argument names: a thread id,
// or a path resolved against the caller. Only agents of the caller's tree
// can be named.
func (n *node) resolveTarget(ref string) (*node, error) {
	rt := n.rt
	if id, err := rollout.ParseThreadID(ref); err == nil {
		rt.mu.Lock()
		m := rt.byThread[id]
		rt.mu.Unlock()
		switch {
		case m == nil:
			return nil, fmt.Errorf("agent with id %s not found", id)
		case m.tree != n.tree:
			return nil, fmt.Errorf("agent with id %s belongs to another tree (session %s); an agent can address only agents of its own tree (session %s)", id, m.tree.session, n.tree.session)
		}
		return m, nil
	}
	p, err := n.path.Resolve(ref)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	m := n.tree.byPath[p.String()]
	rt.mu.Unlock()
	if m == nil || m.agent == nil {
		return nil, fmt.Errorf("live agent path `%s` not found", p)
	}
	return m, nil
}

func (n *node) spawnAgent(ctx context.Context, call capability.Call) (capability.Output, error) {
	a, err := parseSpawnArgs(call.Arguments)
	if err != nil {
		return capability.Output{}, err
	}
	if a.agentType != "" {
		if a.fork.Kind == ForkFullHistory {
			return capability.Output{}, toolError("Full-history forked agents inherit the parent agent type; omit agent_type, or spawn without a full-history fork.")
		}
		if _, ok := n.rt.cfg.Roles[a.agentType]; !ok && a.agentType != "default" {
			return capability.Output{}, fmt.Errorf("unknown agent_type '%s'", a.agentType)
		}
	}
	childPath, err := n.path.Join(a.taskName)
	if err != nil {
		return capability.Output{}, err
	}
	child, err := n.rt.spawn(ctx, n, childPath, a)
	if err != nil {
		return capability.Output{}, err
	}
	n.reportActivity(call, "started", child)
	return jsonOutput(map[string]string{"task_name": child.path.String()}), nil
}

func (n *node) sendMessage(ctx context.Context, call capability.Call) (capability.Output, error) {
	return n.message(ctx, call, false)
}

func (n *node) followupTask(ctx context.Context, call capability.Call) (capability.Output, error) {
	return n.message(ctx, call, true)
}

// message is send_message (trigger false) and followup_task (trigger
// true): sealed mail to a live agent of the tree.
func (n *node) message(ctx context.Context, call capability.Call, trigger bool) (capability.Output, error) {
	a, err := parseMessageArgs(call.Arguments)
	if err != nil {
		return capability.Output{}, err
	}
	if trigger {
		if p, perr := n.path.Resolve(a.target); (perr == nil && p.IsRoot()) || a.target == string(n.tree.session) {
			return capability.Output{}, toolError("Follow-up tasks can't target the root agent")
		}
	}
	target, err := n.resolveTarget(a.target)
	if err != nil {
		return capability.Output{}, err
	}
	if trigger && target.path.IsRoot() {
		return capability.Output{}, toolError("Follow-up tasks can't target the root agent")
	}
	kind := mailbox.KindMessage
	if trigger {
		kind = mailbox.KindNewTask
	}
	sealed, err := n.rt.ensureSealed(a.message)
	if err != nil {
		return capability.Output{}, fmt.Errorf("collab tool failed: seal message: %v", err)
	}
	msg := mailbox.Message{
		Author:      n.path.String(),
		Recipient:   target.path.String(),
		Content:     []mailbox.Part{mailbox.Text(mailbox.Header(kind, n.path.String(), target.path.String())), mailbox.Sealed(sealed)},
		TriggerTurn: trigger,
	}
	// Set before delivery: the mail may start the target's turn at once.
	forget := func() {}
	if trigger {
		forget = target.traceNextTurnUnder(ctx)
	}
	if err := n.rt.deliver(target, msg); err != nil {
		forget()
		if errors.Is(err, mailbox.ErrFull) {
			return capability.Output{}, fmt.Errorf("collab tool failed: the mailbox of %s is full; try again after it has read its mail", target.path)
		}
		if errors.Is(err, mailbox.ErrClosed) {
			return capability.Output{}, fmt.Errorf("agent with id %s is closed", target.id)
		}
		return capability.Output{}, fmt.Errorf("collab tool failed: %v", err)
	}
	n.reportActivity(call, "interacted", target)
	return capability.Output{Text: ""}, nil
}

// Wait results (Codex's texts).
const (
	waitCompleted   = "Wait completed."
	waitInterrupted = "Wait interrupted by new input."
	waitTimedOut    = "Wait timed out."
)

type waitResult struct {
	Message  string `json:"message"`
	TimedOut bool   `json:"timed_out"`
}

func (n *node) waitAgent(ctx context.Context, call capability.Call) (capability.Output, error) {
	w := n.rt.cfg.Wait
	ms, err := parseWaitArgs(call.Arguments, w.Min.Milliseconds(), w.Default.Milliseconds(), w.Max.Milliseconds())
	if err != nil {
		return capability.Output{}, err
	}
	// Mail waiting in the inbox, or taken into the turn and not yet
	// recorded (in flight), is a mailbox update; other new input is a
	// steer.
	woke := func() capability.Output {
		if n.inbox.Len() > 0 || n.inbox.InFlight() > 0 {
			return jsonOutput(waitResult{Message: waitCompleted})
		}
		return jsonOutput(waitResult{Message: waitInterrupted})
	}
	select {
	case <-call.NewInput:
		return woke(), nil
	default:
	}
	if ms <= 0 {
		return jsonOutput(waitResult{Message: waitTimedOut, TimedOut: true}), nil
	}
	timer := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-call.NewInput:
		return woke(), nil
	case <-timer.C:
		return jsonOutput(waitResult{Message: waitTimedOut, TimedOut: true}), nil
	case <-ctx.Done():
		return capability.Output{}, context.Cause(ctx)
	}
}

func (n *node) interruptAgent(ctx context.Context, call capability.Call) (capability.Output, error) {
	ref, err := parseTargetArgs(call.Arguments)
	if err != nil {
		return capability.Output{}, err
	}
	target, err := n.resolveTarget(ref)
	if err != nil {
		return capability.Output{}, err
	}
	switch {
	case target.path.IsRoot():
		return capability.Output{}, toolError("root is not a spawned agent")
	case target == n:
		return capability.Output{}, toolError("an agent cannot interrupt itself; return your result and let the parent interrupt you if needed")
	}
	prev := target.status()
	if _, err := target.agent.Interrupt(ctx); err != nil && !errors.Is(err, agent.ErrClosed) {
		if isRuntimeErr(err) {
			return capability.Output{}, err
		}
		return capability.Output{}, fmt.Errorf("collab tool failed: %v", err)
	}
	n.reportActivity(call, "interrupted", target)
	return jsonOutput(map[string]Status{"previous_status": prev}), nil
}

type listedAgent struct {
	AgentName      string `json:"agent_name"`
	AgentStatus    Status `json:"agent_status"`
	LastActivityMs int64  `json:"last_activity_ms,omitempty"`
}

func (n *node) listAgents(ctx context.Context, call capability.Call) (capability.Output, error) {
	ref, err := parseListArgs(call.Arguments)
	if err != nil {
		return capability.Output{}, err
	}
	prefix := RootPath
	if ref != "" {
		if prefix, err = n.path.Resolve(ref); err != nil {
			return capability.Output{}, err
		}
	}
	infos, err := n.rt.Tree(n.id)
	if err != nil {
		return capability.Output{}, fmt.Errorf("collab tool failed: %v", err)
	}
	out := []listedAgent{}
	for _, inf := range infos {
		if !inf.Path.HasPrefix(prefix) {
			continue
		}
		la := listedAgent{AgentName: inf.Path.String(), AgentStatus: inf.Status}
		if !inf.LastActivity.IsZero() {
			la.LastActivityMs = inf.LastActivity.UnixMilli()
		}
		out = append(out, la)
	}
	return jsonOutput(map[string][]listedAgent{"agents": out}), nil
}

func (n *node) closeAgent(ctx context.Context, call capability.Call) (capability.Output, error) {
	ref, err := parseTargetArgs(call.Arguments)
	if err != nil {
		return capability.Output{}, err
	}
	target, err := n.resolveTarget(ref)
	if err != nil {
		return capability.Output{}, err
	}
	switch {
	case target.path.IsRoot():
		return capability.Output{}, toolError("root is not a spawned agent")
	case n.path.HasPrefix(target.path):
		return capability.Output{}, toolError("an agent cannot close itself or an ancestor; return your result and let the parent close you if needed")
	}
	prev, err := n.rt.closeSubtree(ctx, target)
	if err != nil {
		return capability.Output{}, fmt.Errorf("collab tool failed: %v", err)
	}
	return jsonOutput(map[string]Status{"previous_status": prev}), nil
}

// sortedNames returns the role names in order.
func sortedNames(m map[string]Role) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
