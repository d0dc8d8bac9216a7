package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// node is one live agent of a tree: its identity, its thread's recorder and
// inbox, the agent and the watcher that follows its events.
type node struct {
	rt     *Runtime
	tree   *tree
	id     rollout.ThreadID
	path   Path
	parent *node // nil for the root

	nickname, role string
	originator     string
	roots          []rollout.CapabilityRoot
	instructions   string

	history []rollout.ResponseItem // initial history, handed to the agent
	window  rollout.Window         // context window to continue, handed to the agent
	resume  *rollout.History       // a restored thread's state; replaces history, window, world
	world   []rollout.Item         // world-state records to replay (world.go)
	rec     threadLog
	inbox   *mailbox.Inbox
	agent   *agent.Agent
	sub     *agent.Subscription
	watched chan struct{} // closed when watch returns
	closing atomic.Bool   // close_agent is stopping it: no completion mail

	// overflow holds completion notices for this agent that its full inbox
	// refused: journaled as sent, handed to the inbox (in order) as its
	// acknowledgements make room, redelivered from the journal on resume.
	// It grows by at most one notice per child turn.
	overflowMu sync.Mutex
	overflow   []mailbox.Message

	tr nodeTrace // OpenTelemetry spans (Config.TracerProvider)

	// mode is the multi-agent mode for the next turns; lastMode the one
	// last persisted (in turn_context); injected the mode messages recorded
	// in this run, by turn, so requests show them where the rollout has
	// them.
	modeMu   sync.Mutex
	mode     MultiAgentMode
	lastMode MultiAgentMode
	injected []injection

	stMu     sync.Mutex
	st       Status
	activity time.Time
	// beforeTurn is the status when the current turn started (touched by
	// the agent's turn hooks only, which run one turn after another).
	beforeTurn Status

	releaseOnce sync.Once
	releaseErr  error
}

type injection struct {
	turnID string
	item   rollout.ResponseItem
}

func (n *node) init() {
	n.watched = make(chan struct{})
}

// threadLog is where a node's rollout is written: a *rollout.Recorder, or
// with Config.Store a *sqlitestore.Writer (which also keeps the thread's
// index row current). Only the agent (serialized by its lock) and control
// before the agent starts or after it stopped call it.
type threadLog interface {
	AppendItems(items ...rollout.Item) error
	Flush(ctx context.Context) error
	Close() error
	// Path is the rollout's plain path.
	Path() string
}

var (
	_ threadLog = (*rollout.Recorder)(nil)
	_ threadLog = (*sqlitestore.Writer)(nil)
)

// create makes n's rollout: a new file holding meta then items (a fork's
// copied history), persisted at once so the thread exists on disk (and,
// with a Store, in the index) before anything refers to it.
func (n *node) create(ctx context.Context, meta *rollout.SessionMeta, items []rollout.Item) error {
	rt := n.rt
	if meta.ContextWindow == nil {
		// Window 0 of the new thread (SPEC-agent 3.8), named for JSONL tailers.
		meta.ContextWindow = &rollout.ContextWindow{WindowID: rt.cfg.NewID()}
	}
	n.window = rollout.Window{FirstID: meta.ContextWindow.WindowID, ID: meta.ContextWindow.WindowID}
	if rt.cfg.Store != nil {
		w, err := rt.cfg.Store.Create(ctx, sqlitestore.CreateOptions{Meta: *meta})
		if err != nil {
			return fmt.Errorf("control: create thread %s: %w", n.id, err)
		}
		if len(items) > 0 {
			err = w.AppendItems(items...)
		}
		if err == nil {
			err = w.Persist(ctx)
		}
		if err != nil {
			w.Close()
			return fmt.Errorf("control: create thread %s: %w", n.id, err)
		}
		n.rec = w
		return nil
	}
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{
		Path:  rollout.SessionPath(rt.cfg.Home, rt.cfg.Clock(), n.id),
		Meta:  meta,
		Clock: rt.cfg.Clock,
	})
	if err != nil {
		return fmt.Errorf("control: create thread %s: %w", n.id, err)
	}
	if len(items) > 0 {
		if err := rec.AppendItems(items...); err != nil {
			rec.Close()
			return fmt.Errorf("control: create thread %s: %w", n.id, err)
		}
	}
	if err := rec.Persist(ctx); err != nil {
		rec.Close()
		return fmt.Errorf("control: create thread %s: %w", n.id, err)
	}
	n.rec = rec
	return nil
}

// build makes n's inbox and agent and subscribes to its events. It starts
// nothing.
func (n *node) build(initial StatusKind) error {
	rt := n.rt
	ib, err := mailbox.New(mailbox.Config{
		Owner:    n.path.String(),
		Capacity: rt.cfg.MailboxCapacity,
		NewID:    rt.cfg.NewID,
		Now:      rt.cfg.Clock,
	})
	if err != nil {
		return fmt.Errorf("control: inbox of %s: %w", n.path, err)
	}
	n.inbox = ib
	tools := append(n.multiAgentTools(), n.tree.opts.Tools...)
	steps, err := n.stepProvider(tools)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{
		ThreadID:     n.id,
		AgentPath:    n.path.String(),
		Model:        rt.model,
		ModelName:    rt.cfg.ModelName,
		ModelFor:     rt.modelFor(),
		Compaction:   rt.cfg.Compaction,
		Instructions: n.instructions,
		Tools:        tools,
		History:      n.history,
		Window:       n.window,
		WorldState:   n.world,
		Resume:       n.resume,
		Steps:        steps,
		Recorder:     &modeRecorder{n: n, rec: n.rec},
		Inbox:        journaledInbox{Inbox: ib, j: n.tree.journal, n: n},
		Sealer:       rt.requestSealer(),
		NewID:        rt.cfg.NewID,
		Now:          rt.cfg.Clock,
		Logger:       rt.cfg.Logger,
		OnTurnStart:  n.turnStarted,
		OnTurnEnd:    n.turnEnded,
		// The watcher drains promptly; the buffer absorbs bursts (a turn's
		// items) while it forwards to tree subscribers.
		EventBuffer: 256,
	})
	if err != nil {
		return fmt.Errorf("control: agent %s: %w", n.path, err)
	}
	n.history, n.world, n.resume = nil, nil, nil
	n.agent = a
	n.sub = a.Subscribe()
	n.setStatus(Status{Kind: initial})
	return nil
}

// multiAgentTools returns the multi-agent tools bound to n.
func (n *node) multiAgentTools() []capability.Tool {
	return []capability.Tool{
		&maTool{n: n, spec: spawnSpec(n.rt.cfg.Roles), reports: true, fn: n.spawnAgent},
		&maTool{n: n, spec: specSendMessage, reports: true, fn: n.sendMessage},
		&maTool{n: n, spec: specFollowup, reports: true, fn: n.followupTask},
		&maTool{n: n, spec: specWait, fn: n.waitAgent},
		&maTool{n: n, spec: specInterrupt, reports: true, fn: n.interruptAgent},
		&maTool{n: n, spec: specList, fn: n.listAgents},
		&maTool{n: n, spec: specClose, fn: n.closeAgent},
	}
}

// watch forwards n's events to the tree's subscribers until the agent
// stops, then marks it shut down.
func (n *node) watch() {
	defer close(n.watched)
	for ev := range n.sub.C() {
		n.tree.publish(ev)
	}
	if d := n.sub.Dropped(); d > 0 {
		n.rt.cfg.Logger.Warn("control: agent events dropped", "agent", n.path.String(), "dropped", d)
	}
	n.setStatus(Status{Kind: StatusShutdown})
}

// turnStarted is the agent's OnTurnStart hook: the agent is running, and
// its turn's span opens.
func (n *node) turnStarted(turnID string) {
	n.turnSpanStart(turnID)
	n.beforeTurn = n.status()
	n.setStatus(Status{Kind: StatusRunning})
}

// turnEnded is the agent's OnTurnEnd hook (the reliable lifecycle signal):
// it notifies the parent of a completed turn, closes the turn's span and
// then sets the status, so that once an agent is seen completed (or
// errored) its notice is already in its parent's mailbox (or overflow).
func (n *node) turnEnded(r agent.TurnResult) {
	if r.Compaction {
		// A Compact turn answered no task: no notice to the parent, and
		// the agent's status is what it was before.
		n.turnSpanEnd(r)
		n.setStatus(n.beforeTurn)
		return
	}
	var st Status
	switch {
	case r.Aborted != "":
		st = Status{Kind: StatusInterrupted}
	case r.Err != nil:
		st = Status{Kind: StatusErrored, Message: r.Err.Message, HasMessage: true}
	default:
		st = Status{Kind: StatusCompleted, Message: r.LastAgentMessage, HasMessage: r.LastAgentMessage != ""}
	}
	if st.Kind != StatusInterrupted {
		n.notifyParent(st)
	}
	n.turnSpanEnd(r)
	n.setStatus(st)
}

// completionErrorMaxTokens bounds the error in an errored child's
// FINAL_ANSWER (Codex: a 1000-token message less 100 for the envelope).
const completionErrorMaxTokens = 900

// truncateMiddleTokens keeps the start and the end of s within about
// maxTokens tokens (4 bytes each), cutting the middle on rune boundaries
// and marking the cut as Codex does: "…N tokens truncated…".
func truncateMiddleTokens(s string, maxTokens int) string {
	maxBytes := maxTokens * 4
	if len(s) <= maxBytes {
		return s
	}
	left := maxBytes / 2
	tail := len(s) - (maxBytes - left)
	prefixEnd, suffixStart := 0, len(s)
	for i, r := range s {
		end := i + utf8.RuneLen(r)
		if end <= left {
			prefixEnd = end
			continue
		}
		if i >= tail {
			suffixStart = i
			break
		}
	}
	suffixStart = max(suffixStart, prefixEnd)
	removed := (len(s) - maxBytes + 3) / 4
	return s[:prefixEnd] + "…" + strconv.Itoa(removed) + " tokens truncated…" + s[suffixStart:]
}

// completionErrorSuffix follows an errored child's error in its FINAL_ANSWER.
const completionErrorSuffix = "\n\nThis agent's turn failed. If you still need this agent, use the available collaboration tools to give it another task."

// notifyParent sends the parent the FINAL_ANSWER mail of a completed turn
// (plaintext; trigger_turn per Config.CompletionTriggersTurn, false by
// default as in Codex). The notice is durable mail: journaled before
// delivery, and kept (not dropped) when the parent's inbox is full. A
// parent that is gone gets nothing; the notice is not escalated.
func (n *node) notifyParent(st Status) {
	if n.parent == nil || n.closing.Load() {
		return
	}
	payload := st.Message
	if st.Kind == StatusErrored {
		payload = "Agent errored: " + truncateMiddleTokens(st.Message, completionErrorMaxTokens) + completionErrorSuffix
	}
	p := n.parent
	if p.closing.Load() {
		return
	}
	msg := mailbox.Message{
		Author:      n.path.String(),
		Recipient:   p.path.String(),
		Content:     mailbox.PlainContent(mailbox.KindFinalAnswer, n.path.String(), p.path.String(), payload),
		TriggerTurn: n.rt.cfg.CompletionTriggersTurn,
	}
	if err := n.rt.deliverDurable(p, msg); err != nil {
		n.rt.cfg.Logger.Warn("control: completion notice not delivered", "from", n.path.String(), "to", p.path.String(), "err", err)
	}
}

// deliver journals msg and hands it to to's inbox. A refused message is
// journaled as dropped.
func (rt *Runtime) deliver(to *node, msg mailbox.Message) error {
	if msg.ID == "" {
		msg.ID = rt.cfg.NewID()
	}
	if msg.SentAt.IsZero() {
		msg.SentAt = rt.cfg.Clock()
	}
	j := to.tree.journal
	if err := j.write(journalRecord{Op: "send", Msg: &msg}); err != nil {
		return err
	}
	if _, err := to.inbox.Send(msg); err != nil {
		if jerr := j.write(journalRecord{Op: "drop", Recipient: msg.Recipient, ID: msg.ID}); jerr != nil {
			rt.cfg.Logger.Warn("control: mail journal", "err", jerr)
		}
		return err
	}
	return nil
}

// deliverDurable journals msg and hands it to to's inbox, or, when the
// inbox is full (or earlier notices still wait), queues it in to's
// overflow, which the inbox's acknowledgements drain. Only an inbox that is
// closed (the agent stopped) refuses it; the journal then still holds it
// as sent, so a resume redelivers it.
func (rt *Runtime) deliverDurable(to *node, msg mailbox.Message) error {
	if msg.ID == "" {
		msg.ID = rt.cfg.NewID()
	}
	if msg.SentAt.IsZero() {
		msg.SentAt = rt.cfg.Clock()
	}
	if err := to.tree.journal.write(journalRecord{Op: "send", Msg: &msg}); err != nil {
		return err
	}
	to.overflowMu.Lock()
	defer to.overflowMu.Unlock()
	if len(to.overflow) == 0 {
		_, err := to.inbox.Send(msg)
		if !errors.Is(err, mailbox.ErrFull) {
			return err
		}
	}
	to.overflow = append(to.overflow, msg)
	return nil
}

// drainOverflow moves queued notices into n's inbox while it has room.
func (n *node) drainOverflow() {
	n.overflowMu.Lock()
	defer n.overflowMu.Unlock()
	for len(n.overflow) > 0 {
		if _, err := n.inbox.Send(n.overflow[0]); err != nil {
			if !errors.Is(err, mailbox.ErrFull) {
				// Closed: the journal keeps them for a resume.
				n.overflow = nil
			}
			return
		}
		n.overflow[0] = mailbox.Message{}
		n.overflow = n.overflow[1:]
	}
	n.overflow = nil
}

// stop stops n's agent and waits for it.
func (n *node) stop() {
	if n.agent != nil {
		n.agent.Close()
	}
}

// release closes n's inbox and recorder (after the agent stopped).
func (n *node) release() error {
	n.releaseOnce.Do(func() {
		if n.inbox != nil {
			n.inbox.Close()
		}
		if n.rec != nil {
			n.releaseErr = n.rec.Close()
		}
	})
	return n.releaseErr
}

func (n *node) setStatus(st Status) {
	n.stMu.Lock()
	defer n.stMu.Unlock()
	if n.st.Kind == StatusShutdown {
		return
	}
	n.st = st
	n.activity = n.rt.cfg.Clock()
}

func (n *node) status() Status {
	n.stMu.Lock()
	defer n.stMu.Unlock()
	return n.st
}

func (n *node) info() AgentInfo {
	n.stMu.Lock()
	st, at := n.st, n.activity
	n.stMu.Unlock()
	inf := AgentInfo{ThreadID: n.id, SessionID: n.tree.session, Path: n.path, Nickname: n.nickname,
		Role: n.role, Status: st, LastActivity: at}
	if n.parent != nil {
		inf.Parent = n.parent.id
	}
	return inf
}

// Agent is a handle on a live agent of a Runtime.
type Agent struct{ n *node }

// ID returns the agent's thread id.
func (a *Agent) ID() rollout.ThreadID { return a.n.id }

// SessionID returns the id of the agent's tree (its root's thread id).
func (a *Agent) SessionID() rollout.ThreadID { return a.n.tree.session }

// Path returns the agent's path.
func (a *Agent) Path() Path { return a.n.path }

// Status returns the agent's status.
func (a *Agent) Status() Status { return a.n.status() }

// Submit gives the agent user input: it starts a turn, or is steered into
// the running one.
//
// With Config.TracerProvider, the span in ctx (if any) becomes the parent
// of the next turn the agent starts.
func (a *Agent) Submit(ctx context.Context, text string) (*agent.Turn, error) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && a.n.rt.tracer != nil {
		a.n.tr.mu.Lock()
		a.n.tr.submit = sc
		a.n.tr.mu.Unlock()
	}
	return a.n.agent.Submit(ctx, text)
}

// Interrupt aborts the agent's running turn and waits for it to end. Its
// descendants go on (as interrupt_agent does); see Runtime.Interrupt for a
// subtree.
func (a *Agent) Interrupt(ctx context.Context) error {
	_, err := a.n.agent.Interrupt(ctx)
	return err
}

// InterruptScope says what Runtime.Interrupt stops.
type InterruptScope uint8

// Interrupt scopes.
const (
	// ScopeAgent interrupts the agent's running turn only.
	ScopeAgent InterruptScope = iota
	// ScopeSubtree interrupts the running turns of the agent and of every
	// live descendant.
	ScopeSubtree
)

// Interrupt aborts the running turn of thread id, or with ScopeSubtree of
// it and its live descendants (the agent first, then by path, so a parent
// stops before its children's interrupted turns could matter to it). Each
// agent stops at a safe point: its model stream and tools are cancelled,
// what it recorded is flushed, the turn ends as interrupted and sends no
// completion notice. Agents stay live and addressable. It waits for every
// interrupted turn to end, or ctx; the first error is returned after all
// were asked.
func (rt *Runtime) Interrupt(ctx context.Context, id rollout.ThreadID, scope InterruptScope) error {
	n, err := rt.lookup(id)
	if err != nil {
		return err
	}
	var first error
	interrupt := func(m *node) {
		if _, err := m.agent.Interrupt(ctx); err != nil && !errors.Is(err, agent.ErrClosed) && first == nil {
			first = fmt.Errorf("control: interrupt %s: %w", m.path, err)
		}
	}
	// The agent first: once its turn has ended, a spawn_agent call it had
	// in flight has either registered its child (listed below) or fails.
	interrupt(n)
	if scope != ScopeSubtree {
		return first
	}
	done := map[*node]bool{n: true}
	for {
		var targets []*node
		rt.mu.Lock()
		for _, m := range n.tree.byPath {
			if !done[m] && m.agent != nil && m.path.HasPrefix(n.path) {
				targets = append(targets, m)
			}
		}
		rt.mu.Unlock()
		if len(targets) == 0 || ctx.Err() != nil {
			return first
		}
		slices.SortFunc(targets, func(a, b *node) int { return comparePaths(a.path, b.path) })
		for _, m := range targets {
			done[m] = true
			interrupt(m)
		}
	}
}

// SetMode sets the multi-agent mode of the agent's next turns. A change
// is told to the model (a developer message) at the next turn and recorded
// in that turn's turn_context.
func (a *Agent) SetMode(m MultiAgentMode) error {
	switch m {
	case ModeExplicitRequestOnly, ModeProactive:
	default:
		return fmt.Errorf("control: unknown multi-agent mode %q", m)
	}
	a.n.modeMu.Lock()
	a.n.mode = m
	a.n.modeMu.Unlock()
	return nil
}

// History returns a copy of the agent's model-visible history.
func (a *Agent) History() []rollout.ResponseItem { return a.n.agent.History() }

// Inner returns the underlying agent (for Subscribe, ActiveTurn, ...).
func (a *Agent) Inner() *agent.Agent { return a.n.agent }
