package environment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// LocalID is the id reserved for the built-in local environment.
const LocalID = "local"

var (
	// ErrClosed means the registry was closed.
	ErrClosed = errors.New("environment: registry closed")
	// ErrReplaced is the cause a handle's startup is cancelled with when a
	// new handle is registered under its id.
	ErrReplaced = errors.New("environment: handle replaced")
	// ErrReservedID means a registration used the id "local" for something
	// other than a *Local.
	ErrReservedID = errors.New(`environment: id "local" is reserved for the built-in local environment`)
)

// State is where a handle is in its lifecycle.
type State int32

// States of a handle: Pending (lazy, not started) → Starting → Ready |
// Failed. A failed first start is final for the handle. A Ready handle whose
// environment reports a lost connection (ConnectionReporter) is
// Disconnected, and Ready again once the connection is back.
const (
	Pending State = iota
	Starting
	Ready
	Failed
	Disconnected
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Failed:
		return "failed"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Registration describes one environment to register.
type Registration struct {
	// ID names the environment; non-empty. "local" is accepted only with a
	// *Local environment.
	ID string
	// Env is the environment. Required. If it implements Starter, the
	// handle starts it; otherwise the handle is ready at once.
	Env Environment
	// Lazy defers Start until the environment is first needed (a snapshot
	// or a capability root selects it, or Handle.Start/Wait is called).
	Lazy bool
}

// Handle is one registration of an environment: its lifecycle and the
// environment itself. Handles are process-local and never persisted. A
// handle stays usable after it is replaced in the registry; callers that
// captured it keep it for as long as they need.
type Handle struct {
	id   string
	env  Environment
	lazy bool
	reg  *Registry

	state atomic.Int32 // a State; only Pending/Starting/Ready/Failed are stored

	mu     sync.Mutex
	err    error                   // why it failed
	cancel context.CancelCauseFunc // cancels a running start; nil otherwise
	done   chan struct{}           // closed when the start finished (ready or failed)
}

// ID returns the environment id.
func (h *Handle) ID() string { return h.id }

// Environment returns the environment. Use it only while the handle is
// ready; a remote one answers ErrUnavailable otherwise.
func (h *Handle) Environment() Environment { return h.env }

// Lazy reports whether the handle starts only when first needed.
func (h *Handle) Lazy() bool { return h.lazy }

// State returns the current state. It never starts or waits.
func (h *Handle) State() State {
	s := State(h.state.Load())
	if s == Ready {
		if cr, ok := h.env.(ConnectionReporter); ok && cr.Disconnected() != nil {
			return Disconnected
		}
	}
	return s
}

// Err returns why the handle failed, or the connection error while it is
// disconnected, or nil.
func (h *Handle) Err() error {
	switch State(h.state.Load()) {
	case Failed:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	case Ready:
		if cr, ok := h.env.(ConnectionReporter); ok {
			return cr.Disconnected()
		}
	}
	return nil
}

// Done returns a channel closed once the start has finished (ready or
// failed). It does not start a pending handle.
func (h *Handle) Done() <-chan struct{} { return h.done }

// CapabilityRoots returns the roots a ready environment advertises (nil
// otherwise, or if it advertises none).
func (h *Handle) CapabilityRoots() []AdvertisedRoot {
	if State(h.state.Load()) != Ready {
		return nil
	}
	if ra, ok := h.env.(RootAdvertiser); ok {
		return ra.CapabilityRoots()
	}
	return nil
}

// Start begins starting a pending handle in a goroutine the registry owns
// and returns at once; on any other state it does nothing.
func (h *Handle) Start() {
	if !h.state.CompareAndSwap(int32(Pending), int32(Starting)) {
		return
	}
	h.reg.startLocked(h)
}

// Wait starts the handle if it is pending and waits until it is ready or
// failed, or ctx ends. It returns nil when ready.
func (h *Handle) Wait(ctx context.Context) error {
	h.Start()
	select {
	case <-h.done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if State(h.state.Load()) == Failed {
		return h.Err()
	}
	return nil
}

// finish records the outcome of a start.
func (h *Handle) finish(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.err = fmt.Errorf("environment %s failed to start: %w", h.id, err)
		h.state.Store(int32(Failed))
	} else {
		h.state.Store(int32(Ready))
	}
	h.cancel = nil
	close(h.done)
}

// RegistryConfig configures a Registry.
type RegistryConfig struct {
	// Logger receives warnings (unknown selections). Nil: slog.Default().
	Logger *slog.Logger
}

// Registry maps environment ids to handles. Its methods are safe for
// concurrent use. It owns every goroutine a start spawns: Close cancels
// them and waits.
type Registry struct {
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex
	byID    map[string]*Handle
	order   []string  // ids in first-registration order
	all     []*Handle // every handle ever registered, for Close
	closed  bool
	closeMu sync.Mutex // serializes Close
}

// NewRegistry returns an empty registry. It starts nothing.
func NewRegistry(cfg RegistryConfig) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Registry{log: cfg.Logger, ctx: ctx, cancel: cancel, byID: map[string]*Handle{}}
}

// Register adds an environment, replacing any handle of the same id (whose
// startup, if running, is cancelled with ErrReplaced; callers holding it
// keep it). A replaced id keeps its place in DefaultIDs. A non-lazy
// environment with a Starter begins starting now.
func (r *Registry) Register(reg Registration) (*Handle, error) {
	if reg.ID == "" {
		return nil, fmt.Errorf("%w: empty environment id", ErrInvalid)
	}
	if reg.Env == nil {
		return nil, fmt.Errorf("%w: environment %s: nil Env", ErrInvalid, reg.ID)
	}
	if _, isLocal := reg.Env.(*Local); reg.ID == LocalID && !isLocal {
		return nil, ErrReservedID
	}
	h := &Handle{id: reg.ID, env: reg.Env, lazy: reg.Lazy, reg: r, done: make(chan struct{})}
	_, starts := reg.Env.(Starter)
	if !starts {
		h.state.Store(int32(Ready))
		close(h.done)
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	old := r.byID[reg.ID]
	if old == nil {
		r.order = append(r.order, reg.ID)
	}
	r.byID[reg.ID] = h
	r.all = append(r.all, h)
	if starts && !reg.Lazy {
		h.state.Store(int32(Starting))
		r.startHeld(h)
	}
	r.mu.Unlock()

	if old != nil {
		old.cancelStart(ErrReplaced)
	}
	return h, nil
}

// startLocked takes the registry lock and starts h (already Starting).
func (r *Registry) startLocked(h *Handle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		h.finish(ErrClosed)
	case r.byID[h.id] != h:
		h.finish(ErrReplaced)
	default:
		r.startHeld(h)
	}
}

// startHeld spawns h's start goroutine; r.mu is held and r is open, so
// Close cannot miss it.
func (r *Registry) startHeld(h *Handle) {
	ctx, cancel := context.WithCancelCause(r.ctx)
	h.mu.Lock()
	h.cancel = cancel
	h.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel(nil)
		err := h.env.(Starter).Start(ctx)
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		h.finish(err)
	}()
}

// cancelStart cancels a running start with cause.
func (h *Handle) cancelStart(cause error) {
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

// Lookup returns the current handle of id.
func (r *Registry) Lookup(id string) (*Handle, bool) {
	r.mu.RLock()
	h, ok := r.byID[id]
	r.mu.RUnlock()
	return h, ok
}

// DefaultIDs returns the registered ids in registration order.
func (r *Registry) DefaultIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// Close cancels every running start, waits for the goroutines, and closes
// every environment ever registered that implements io.Closer (once per
// registration, so those Close methods should be idempotent). It is
// idempotent; Register fails with ErrClosed afterwards and pending handles
// fail when started.
func (r *Registry) Close() error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	all := r.all
	r.mu.Unlock()
	r.cancel(ErrClosed)
	r.wg.Wait()
	var errs []error
	for _, h := range all {
		if c, ok := h.env.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("environment %s: close: %w", h.id, err))
			}
		}
	}
	return errors.Join(errs...)
}
