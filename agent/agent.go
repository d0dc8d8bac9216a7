package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// Errors of the agent's methods.
var (
	// ErrClosed is returned by methods called after Close (or after Run
	// returned), and by Turn.Wait for a turn that never started.
	ErrClosed = errors.New("agent: closed")
	// ErrRunning is returned by a second call of Run.
	ErrRunning = errors.New("agent: already running")
	// ErrNoActiveTurn is returned by Steer when no turn runs.
	ErrNoActiveTurn = errors.New("agent: no active turn")
	// ErrTurnMismatch is returned by Steer when the active turn is not the
	// expected one.
	ErrTurnMismatch = errors.New("agent: active turn is not the expected turn")
	// ErrEmptyInput is returned for input without text.
	ErrEmptyInput = errors.New("agent: empty input")
)

// errInterrupted is the cancellation cause of an interrupted turn.
var errInterrupted = errors.New("agent: turn interrupted")

// Agent is one agent: one goroutine (Run) owning one thread. See the package
// documentation for the life cycle and the concurrency rules.
type Agent struct {
	cfg   Config
	hub   hub
	sleep *sleepTool

	// calls carries requests from the public methods to the owner loop.
	// Unbuffered: a method returns only once the loop has taken its request.
	calls chan func()
	// turnDone receives a turn when its goroutine has emitted its terminal
	// event. Buffered 1: at most one turn runs, so its send never blocks.
	turnDone chan *turn
	quit     chan struct{} // closed by Close
	done     chan struct{} // closed when Run returns
	started  atomic.Bool
	quitOnce sync.Once

	// Owner-loop state (touched only by Run's goroutine).
	active   *turn
	reserved *turn // next turn, waiting for the active one to finish
	// settings is the turn_context template of turns that start from now
	// on (SetTurnContext); each turn copies it when it starts.
	settings *rollout.TurnContext

	// prevTurn is the turn_context of the last regular turn (its model and
	// comp_hash). Touched only by turn goroutines, which run one after
	// another (each start happens after the previous turn's end).
	prevTurn *rollout.TurnContext

	// world is the thread's world-state baseline (turn goroutine only).
	world worldState

	// tools counts tool goroutines; Run waits for them before returning.
	tools sync.WaitGroup
	// toolLock runs parallel-safe calls together (read lock) and the others
	// alone (write lock).
	toolLock sync.RWMutex

	// Step tool cache (touched only by the running turn's goroutine; turns
	// run one after another).
	lastSrc    *capability.Set
	lastMerged *capability.Set
	specsSrc   *capability.Set
	specs      []capability.Spec

	// emitMu orders item events against a turn's terminal event: item
	// events hold it shared and check openTurn; the turn's end takes it
	// exclusively to clear openTurn, so no item event of a turn follows its
	// terminal event (a tool that outlives its turn has its events dropped).
	emitMu   sync.RWMutex
	openTurn string

	// mu guards the thread's history and rollout writes; they happen on the
	// turn goroutine and on tool goroutines.
	mu          sync.Mutex
	history     []rollout.ResponseItem
	pairs       pairing             // call/output balance of history
	sealed      int                 // agent messages with sealed content in history
	mailSeen    map[string]struct{} // ids of the agent messages in history
	openWarned  map[string]struct{} // sealed mail reported unopenable (turn goroutine)
	scratch     []rollout.Item
	win         windowState
	tokensUsed  int64 // total tokens of the last response
	tokensSince int64 // estimate of tokens recorded after it
	totalUsage  TokenUsage
}

// New validates cfg and returns an agent. It starts nothing: call Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:      cfg,
		calls:    make(chan func()),
		turnDone: make(chan *turn, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		history:  cfg.History,
		win:      restoreWindow(cfg.Window, cfg.NewID),
		settings: cfg.TurnContext,
		prevTurn: cfg.PreviousTurn,
	}
	a.hub.buffer = cfg.EventBuffer
	for i := range a.history {
		a.pairs.add(&a.history[i])
		a.noteLocked(&a.history[i])
	}
	// A resumed thread counts from its last reported usage (plus an
	// estimate of what was recorded after it), else from an estimate of the
	// whole history, so a thread resumed over the limit compacts before its
	// next turn.
	if u := cfg.resumeUsage; u != nil && cfg.resumeItemsAfter <= len(a.history) {
		a.tokensUsed = u.LastTokenUsage.TotalTokens
		a.tokensSince = approxTokens(a.history[len(a.history)-cfg.resumeItemsAfter:])
		a.totalUsage = u.TotalTokenUsage
	} else {
		a.tokensSince = approxTokens(a.history)
	}
	a.cfg.History = nil
	a.replayWorld(cfg.WorldState)
	a.cfg.WorldState = nil
	if !cfg.DisableSleep {
		a.sleep = &sleepTool{a: a}
	}
	if a.cfg.Steps == nil {
		set, err := capability.NewSet(cfg.Tools...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		a.cfg.Steps = StaticTools{Tools: set}
	}
	return a, nil
}

// ThreadID returns the thread the agent owns.
func (a *Agent) ThreadID() rollout.ThreadID { return a.cfg.ThreadID }

// Path returns the agent's path ("" outside a tree).
func (a *Agent) Path() string { return a.cfg.AgentPath }

// Done is closed when Run has returned.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Run runs the agent until ctx is done or Close is called. When it stops, an
// active turn is aborted (TurnAborted{interrupted}, rollout flushed), tool
// goroutines are waited for, and subscriptions are closed. It returns nil
// after Close and the cause of ctx otherwise. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(a.done)
	var err error
	// inboxCh is kept across iterations and renewed only once it fired: a
	// change while the loop runs a call closes the channel the loop already
	// holds, so it is seen (renewing it at every iteration would miss it,
	// and a sleeping tool would not wake for that mail).
	var inboxCh <-chan struct{}
	if a.cfg.Inbox != nil {
		inboxCh = a.cfg.Inbox.Changed()
	}
loop:
	for {
		if a.cfg.Inbox != nil && a.active == nil && a.reserved == nil && a.cfg.Inbox.HasTrigger() {
			a.start(a.newTurn(nil))
		}
		select {
		case f := <-a.calls:
			f()
		case t := <-a.turnDone:
			a.finished(t)
		case <-inboxCh:
			// Renew before signalling: a change after this is seen next.
			inboxCh = a.cfg.Inbox.Changed()
			if a.active != nil {
				a.active.signal()
			}
		case <-a.quit:
			break loop
		case <-ctx.Done():
			err = context.Cause(ctx)
			break loop
		}
	}
	a.shutdown()
	return err
}

// shutdown aborts the active turn, fails the reserved one, waits for tool
// goroutines and closes subscriptions.
func (a *Agent) shutdown() {
	if t := a.active; t != nil {
		t.cancel(ErrClosed)
		<-a.turnDone
		a.active = nil
	}
	if t := a.reserved; t != nil {
		a.reserved = nil
		t.handle.result = TurnResult{TurnID: t.id, Err: &TurnError{Message: ErrClosed.Error(), Err: ErrClosed}}
		close(t.handle.done)
	}
	a.tools.Wait()
	a.hub.close()
}

// Close stops the agent and waits for Run to return (if it was started).
// Close is idempotent and safe to call from any goroutine except the
// agent's own (a tool calling Close would wait for itself).
func (a *Agent) Close() error {
	a.quitOnce.Do(func() { close(a.quit) })
	if a.started.CompareAndSwap(false, true) {
		// Run never ran: nothing to wait for.
		a.hub.close()
		close(a.done)
		return nil
	}
	<-a.done
	return nil
}

// do runs f on the owner loop and waits until it has run.
func (a *Agent) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	g := func() { f(); close(ran) }
	select {
	case a.calls <- g:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-a.quit:
		return ErrClosed
	case <-a.done:
		return ErrClosed
	}
	<-ran
	return nil
}

// Submit gives the agent user input. If a turn runs, the input is steered
// into it (it joins the turn's pending input) and Submit returns that turn;
// otherwise a new turn starts. Either way the returned Turn ends when the
// input has been handled.
func (a *Agent) Submit(ctx context.Context, text string) (*Turn, error) {
	if text == "" {
		return nil, ErrEmptyInput
	}
	var h *Turn
	err := a.do(ctx, func() {
		switch {
		case a.active != nil && a.active.steer(text):
			h = a.active.handle
		case a.reserved != nil:
			a.reserved.input = append(a.reserved.input, text)
			h = a.reserved.handle
		case a.active != nil:
			// The active turn is finishing: queue the input for the next.
			a.reserved = a.newTurn([]string{text})
			h = a.reserved.handle
		default:
			t := a.newTurn([]string{text})
			a.start(t)
			h = t.handle
		}
	})
	return h, err
}

// Steer adds input to the active turn. expectedTurnID, when not empty, must
// name the active turn. It fails with ErrNoActiveTurn when no turn runs (or
// the active one is finishing), ErrTurnMismatch, or ErrEmptyInput.
func (a *Agent) Steer(ctx context.Context, expectedTurnID, text string) (*Turn, error) {
	if text == "" {
		return nil, ErrEmptyInput
	}
	var h *Turn
	var serr error
	err := a.do(ctx, func() {
		switch {
		case a.active == nil:
			serr = ErrNoActiveTurn
		case expectedTurnID != "" && expectedTurnID != a.active.id:
			serr = fmt.Errorf("%w: expected %s, active %s", ErrTurnMismatch, expectedTurnID, a.active.id)
		case !a.active.steer(text):
			serr = ErrNoActiveTurn
		default:
			h = a.active.handle
		}
	})
	if err != nil {
		return nil, err
	}
	return h, serr
}

// Inject adds model-visible items (developer notes, context) to the thread
// without starting a turn: into the running turn's pending input (they
// reach the model at its next step), or, when the agent is idle, straight
// into the history (also when the running turn is already finishing).
// Items without ids get one.
func (a *Agent) Inject(ctx context.Context, items ...rollout.ResponseItem) error {
	if len(items) == 0 {
		return nil
	}
	items = slices.Clone(items)
	return a.do(ctx, func() {
		if a.active != nil && a.active.inject(items) {
			return
		}
		for _, it := range items {
			a.record("", it)
		}
	})
}

// Interrupt aborts the active turn (TurnAborted{interrupted}) and waits
// until it has ended. It returns the interrupted turn, or nil when no turn
// was running.
func (a *Agent) Interrupt(ctx context.Context) (*Turn, error) {
	var h *Turn
	err := a.do(ctx, func() {
		if a.active != nil {
			a.active.cancel(errInterrupted)
			h = a.active.handle
		}
	})
	if err != nil || h == nil {
		return nil, err
	}
	select {
	case <-h.done:
		return h, nil
	case <-ctx.Done():
		return h, context.Cause(ctx)
	}
}

// SetTurnContext replaces the template of the turn_context of turns that
// start from now on (cwd, model, comp_hash, ...); the running turn keeps
// its own. A turn's requests go to the model its template names (see
// Config.ModelFor), and a comp_hash that differs from the previous turn's
// compacts the context with the previous model before the turn. The agent
// keeps tc; the caller must not modify it afterwards.
func (a *Agent) SetTurnContext(ctx context.Context, tc *rollout.TurnContext) error {
	return a.do(ctx, func() { a.settings = tc })
}

// ActiveTurn returns the running turn, or nil when the agent is idle.
func (a *Agent) ActiveTurn(ctx context.Context) (*Turn, error) {
	var h *Turn
	err := a.do(ctx, func() {
		if a.active != nil {
			h = a.active.handle
		}
	})
	return h, err
}

// Subscribe returns a subscription to the agent's events from now on. See
// Subscription for the delivery policy.
func (a *Agent) Subscribe() *Subscription { return a.hub.subscribe() }

// History returns a copy of the thread's model-visible history.
func (a *Agent) History() []rollout.ResponseItem {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.history)
}

// newTurn builds a turn that has not started.
func (a *Agent) newTurn(input []string) *turn {
	id := a.cfg.NewID()
	return &turn{
		id:     id,
		a:      a,
		input:  input,
		handle: &Turn{id: id, done: make(chan struct{})},
	}
}

// start starts t: it takes the queued mail into the turn's pending input
// and starts the turn's goroutine. Owner loop only.
func (a *Agent) start(t *turn) {
	ctx, cancel := context.WithCancelCause(context.Background())
	t.ctx, t.cancel = ctx, cancel
	t.tc = a.turnContext(t.id)
	t.model, t.modelErr = a.modelFor(t.tc.Model)
	if a.cfg.Inbox != nil && !t.compactOnly {
		for _, m := range a.cfg.Inbox.Take() {
			t.pending = append(t.pending, pendingInput{mail: &m})
		}
	}
	a.active = t
	go a.runTurn(t)
}

// finished handles the end of the active turn. Owner loop only.
func (a *Agent) finished(t *turn) {
	if a.active == t {
		a.active = nil
	}
	t.cancel(nil) // release the context
	if r := a.reserved; r != nil {
		a.reserved = nil
		a.start(r)
	}
	// A trigger mail starts a turn at the top of the loop.
}

// Turn is a handle on one turn.
type Turn struct {
	id     string
	done   chan struct{}
	result TurnResult // written before done is closed
}

// ID returns the turn id.
func (t *Turn) ID() string { return t.id }

// Done is closed when the turn has ended (after its terminal event).
func (t *Turn) Done() <-chan struct{} { return t.done }

// Wait waits for the turn to end and returns its result. The error is ctx's
// if ctx ends first; a turn that failed is reported in TurnResult.Err, not
// as an error.
func (t *Turn) Wait(ctx context.Context) (TurnResult, error) {
	select {
	case <-t.done:
		return t.result, nil
	case <-ctx.Done():
		return TurnResult{TurnID: t.id}, context.Cause(ctx)
	}
}

// TurnResult is how a turn ended.
type TurnResult struct {
	TurnID string
	// LastAgentMessage is the turn's last final assistant message.
	LastAgentMessage string
	// Err is set when the turn completed with an error.
	Err *TurnError
	// Aborted is set when the turn was aborted.
	Aborted AbortReason
	// Compaction is set for a turn started by Compact: it only compacted
	// the context (no model step answered anyone; LastAgentMessage is "").
	Compaction bool
}
