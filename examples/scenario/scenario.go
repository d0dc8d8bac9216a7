package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// Scenario is one runnable multi-agent scenario.
type Scenario struct {
	// Name is what "troupe run" and the example directory call it.
	Name string
	// Summary says in one line what happens.
	Summary string
	// Usage documents the scenario's options and how to use it, beyond the
	// common flags.
	Usage string

	run func(e *env) error
}

// Options configure one run of a scenario.
type Options struct {
	// Home is the troupe home the threads are left in. Required.
	Home string
	// Out receives the trace. Zero: io.Discard.
	Out io.Writer
	// Endpoint, when set, runs the scenario against a real model instead of
	// the scripted one (see EndpointFromEnv).
	Endpoint *Endpoint
	// Crash (long_running) makes the first run stop like a killed process:
	// Crash is called at the stop point instead of closing the runtime, and
	// must not return (os.Exit). Zero: the first run stops cleanly.
	Crash func()
	// Fresh (long_running) starts over even when an unfinished run is in
	// the home.
	Fresh bool
	// Logger receives the runtime's warnings. Zero: discarded.
	Logger *slog.Logger
}

// Result is what a run leaves behind.
type Result struct {
	// Home is where the threads are.
	Home string `json:"home"`
	// Root is the root thread of the run's tree (of the last tree, for a
	// scenario that makes several).
	Root rollout.ThreadID `json:"root,omitempty"`
	// Roots are all the root threads the run made or resumed, in order.
	Roots []rollout.ThreadID `json:"roots,omitempty"`
	// Stopped is set when the run stopped part-way on purpose
	// (long_running's first run); running again continues it.
	Stopped bool `json:"stopped,omitempty"`
}

// All returns the scenarios, by name.
func All() []*Scenario {
	s := []*Scenario{researchTeam(), codeReview(), longRunning()}
	slices.SortFunc(s, func(a, b *Scenario) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return s
}

// Lookup returns the scenario called name.
func Lookup(name string) (*Scenario, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Names returns the scenarios' names, sorted.
func Names() []string {
	var out []string
	for _, s := range All() {
		out = append(out, s.Name)
	}
	return out
}

// ErrOptions is matched by the error Run returns for bad Options.
var ErrOptions = errors.New("scenario: invalid options")

// Run runs the scenario: it opens the home's store and a runtime on it,
// runs the agents while printing their trace to opts.Out, and closes
// everything (except when opts.Crash is called). The threads stay in the
// home.
func (s *Scenario) Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Home == "" {
		return Result{}, fmt.Errorf("%w: no Home", ErrOptions)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Home, 0o755); err != nil {
		return Result{}, err
	}
	model := "scripted, offline (set OPENAI_API_KEY to use a real model)"
	if opts.Endpoint != nil {
		model = opts.Endpoint.String()
	}
	if _, err := fmt.Fprintf(opts.Out, "== %s: %s\n== model: %s\n", s.Name, s.Summary, model); err != nil {
		return Result{}, err
	}
	e := &env{ctx: ctx, opts: opts, res: Result{Home: opts.Home}}
	err := s.run(e)
	if cerr := e.close(); err == nil {
		err = cerr
	}
	return e.res, err
}

// env is one run: its store, runtime, model and trace.
type env struct {
	ctx   context.Context
	opts  Options
	res   Result
	store *sqlitestore.Store
	rt    *control.Runtime
	seq   *Sequencer // offline only
	trace *Trace
}

// online reports whether a real model answers.
func (e *env) online() bool { return e.opts.Endpoint != nil }

// open opens the store and a runtime whose model is the real endpoint, or
// the scripted steps in sequence.
func (e *env) open(cfg control.Config, steps ...Step) error {
	var model agent.Model
	if e.online() {
		m, err := e.opts.Endpoint.Model()
		if err != nil {
			return err
		}
		model = m
		e.trace = NewTrace(e.opts.Out)
		cfg.ModelName = e.opts.Endpoint.ModelName
	} else {
		e.seq = NewSequencer(e.opts.Out, steps...)
		e.trace = e.seq.Trace()
		model = e.seq
		cfg.ModelName = "scripted"
	}
	st, err := sqlitestore.Open(e.ctx, sqlitestore.Config{Home: e.opts.Home, Logger: e.opts.Logger})
	if err != nil {
		return err
	}
	e.store = st
	cfg.Store = st
	cfg.Model = model
	cfg.Logger = e.opts.Logger
	if cfg.Originator == "" {
		cfg.Originator = "troupe_examples"
	}
	rt, err := control.Open(e.ctx, cfg)
	if err != nil {
		return err
	}
	e.rt = rt
	return nil
}

// follow prints the tree of root from now on.
func (e *env) follow(root *control.Agent) error {
	sub, err := e.rt.Subscribe(root.ID())
	if err != nil {
		return err
	}
	infos, err := e.rt.Tree(root.ID())
	if err != nil {
		return err
	}
	for _, in := range infos {
		e.trace.Name(in.ThreadID, in.Path.String())
	}
	e.trace.Follow(sub)
	e.res.Root = root.ID()
	e.res.Roots = append(e.res.Roots, root.ID())
	return nil
}

// start starts a root thread and follows its tree.
func (e *env) start(opts control.ThreadOptions) (*control.Agent, error) {
	root, err := e.rt.Start(e.ctx, opts)
	if err != nil {
		return nil, err
	}
	return root, e.follow(root)
}

// turn submits text to a and waits for the turn's end.
func (e *env) turn(a *control.Agent, text string) (agent.TurnResult, error) {
	t, err := a.Submit(e.ctx, text)
	if err != nil {
		return agent.TurnResult{}, err
	}
	res, err := t.Wait(e.ctx)
	if err != nil {
		return res, err
	}
	if res.Err != nil {
		return res, fmt.Errorf("turn of %s failed: %s", a.Path(), res.Err.Message)
	}
	return res, nil
}

// settle waits (offline) until every scripted step was served and its
// effects printed; online it returns at once.
func (e *env) settle() error {
	if e.seq == nil {
		return nil
	}
	return e.seq.Wait(e.ctx)
}

// close closes the runtime (all agents stop; threads stay resumable), the
// trace, the script's checks and the store, in that order.
func (e *env) close() error {
	var errs []error
	if e.rt != nil {
		errs = append(errs, e.rt.Close())
	}
	if e.trace != nil {
		errs = append(errs, e.trace.Close())
	}
	if e.seq != nil {
		errs = append(errs, e.seq.Close())
	}
	if e.store != nil {
		errs = append(errs, e.store.Close())
	}
	return errors.Join(errs...)
}

// DefaultHome is the home the examples use without --home: the troupe
// CLI's default, ~/.troupe, so "troupe threads list" sees their threads.
func DefaultHome() (string, error) {
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no user home directory (give --home DIR): %w", err)
	}
	return filepath.Join(h, ".troupe"), nil
}
