package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
)

// WorkspaceConfig configures a Workspace. Zero values are documented per
// field.
type WorkspaceConfig struct {
	// Registry holds the environments. Required.
	Registry *environment.Registry
	// Environments are the thread's environment selections (unknown ids
	// and duplicates are dropped with a warning, see Registry.Select). Nil:
	// the registry's default selections, read at each turn's start.
	Environments []environment.Selection
	// Roots are the thread's selected capability roots, resolved at each
	// step. Nil: only the roots ready environments advertise.
	Roots []capability.SelectedCapabilityRoot
	// Resolver resolves the roots. Zero: a resolver over Registry with its
	// own discovery cache (give each thread its own Workspace).
	Resolver *capability.Resolver
	// Tools are advertised at every step, before the tools the available
	// roots declare.
	Tools []capability.Tool
	// Sections, when set, adds world-state sections to each step, after
	// the built-in ones (control adds the agent's place in its tree).
	Sections func(ctx context.Context, info StepInfo) []Section
	// LocalZone is the IANA name the environments section gives as the
	// time zone of a step time in time.Local (Codex writes "Etc/UTC",
	// "Europe/Paris"). Zero: SystemZoneSources().LocalZoneName() at
	// NewWorkspace, and the zone abbreviation ("UTC", "CET") when that
	// finds none. A step time in a named location reports that name.
	LocalZone string
	// Logger receives warnings. Zero: slog.Default().
	Logger *slog.Logger
}

// Workspace is the StepProvider of an agent working in environments: at
// each step it captures the turn's environments (keeping the exact handles
// for the step), resolves the thread's capability roots against that
// capture, and advertises the base tools plus the tools the available roots
// declare, bound to the captured handle of their root's environment. The
// step's world state is the environments section (cwd, status, shell,
// date and time zone), the capability roots section (available roots with
// their skills and tools, unavailable ones with why) and the configured
// extra sections. A root that becomes unavailable leaves the next step's
// tools, and the world-state diff says so.
//
// The environment selection is fixed per turn: SetEnvironments takes effect
// at the next turn. A Workspace serves one thread; CaptureStep is called by
// its agent's turn goroutine, SetEnvironments from any goroutine. It starts
// no goroutine (the registry owns environment starts).
type Workspace struct {
	reg      *environment.Registry
	resolver *capability.Resolver
	roots    []capability.SelectedCapabilityRoot
	extra    func(context.Context, StepInfo) []Section
	zone     string // LocalZone
	log      *slog.Logger

	mu   sync.Mutex
	sels []environment.Selection // nil: the registry's defaults

	// Owned by the capturing goroutine (one turn at a time).
	turnID   string
	turnSels []environment.Selection
	infos    map[*environment.Handle]environment.Info // ready handles' info
	base     []capability.Tool
	toolsKey []toolsKey
	tools    *capability.Set
	toolsGen int                 // counts tool sets built
	names    map[string][]string // root id -> names of its advertised tools
	// The last sections built, handed back while nothing in them changed
	// (the agent then skips encoding them).
	lastEnvs  *EnvironmentsSection
	lastRoots *RootsSection
	rootsKey  []rootKey
}

// rootKey identifies what a roots section was built from.
type rootKey struct {
	id, env, path string
	skills        *capability.Skill
	nSkills       int
	toolsGen      int
	reason        capability.Unavailability
	err           string
}

// toolsKey identifies what the tool set of a step was built from: each
// available root's id, the handle its tools are bound to and its
// (cached, shared) discovered tools.
type toolsKey struct {
	root   string
	handle *environment.Handle
	tools  *capability.DeclaredTool
	n      int
}

var _ StepProvider = (*Workspace)(nil)

// NewWorkspace validates cfg. It starts nothing.
func NewWorkspace(cfg WorkspaceConfig) (*Workspace, error) {
	if cfg.Registry == nil {
		return nil, fmt.Errorf("%w: WorkspaceConfig.Registry is required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Resolver == nil {
		r, err := capability.NewResolver(capability.ResolverConfig{Registry: cfg.Registry, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		cfg.Resolver = r
	}
	for _, r := range cfg.Roots {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if _, err := capability.NewSet(cfg.Tools...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case cfg.LocalZone == "":
		cfg.LocalZone = SystemZoneSources().LocalZoneName()
	case !validZoneName(cfg.LocalZone):
		return nil, fmt.Errorf("%w: WorkspaceConfig.LocalZone %q is not a time zone name", ErrConfig, cfg.LocalZone)
	}
	w := &Workspace{
		reg:      cfg.Registry,
		resolver: cfg.Resolver,
		roots:    slices.Clone(cfg.Roots),
		extra:    cfg.Sections,
		zone:     cfg.LocalZone,
		log:      cfg.Logger,
		base:     slices.Clone(cfg.Tools),
		infos:    map[*environment.Handle]environment.Info{},
	}
	if cfg.Environments != nil {
		w.sels = cfg.Registry.Select(cfg.Environments)
	}
	return w, nil
}

// SetEnvironments replaces the thread's environment selections (nil: the
// registry's defaults) from the next turn on.
func (w *Workspace) SetEnvironments(sels []environment.Selection) {
	var s []environment.Selection
	if sels != nil {
		s = w.reg.Select(sels)
	}
	w.mu.Lock()
	w.sels = s
	w.mu.Unlock()
}

// Roots returns the thread's selected capability roots.
func (w *Workspace) Roots() []capability.SelectedCapabilityRoot { return slices.Clone(w.roots) }

// CaptureStep implements StepProvider: capture, resolve, tools, world
// state, in that order, all from one capture.
func (w *Workspace) CaptureStep(ctx context.Context, info StepInfo) (*Step, error) {
	if info.TurnID != w.turnID || w.turnSels == nil {
		w.mu.Lock()
		sels := w.sels
		w.mu.Unlock()
		if sels == nil {
			sels = w.reg.DefaultSelections()
		}
		w.turnID, w.turnSels = info.TurnID, sels
	}
	snap := w.reg.Capture(w.turnSels)
	res := w.resolver.Resolve(ctx, snap, w.roots)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tools := w.toolSet(res)
	sections := []Section{w.environments(ctx, snap, info), w.rootsSection(res)}
	if w.extra != nil {
		sections = append(sections, w.extra(ctx, info)...)
	}
	return &Step{Tools: tools, Sections: sections}, nil
}

// environments builds the environments section from the capture.
func (w *Workspace) environments(ctx context.Context, snap environment.Snapshot, info StepInfo) *EnvironmentsSection {
	entries := snap.Entries()
	s := &EnvironmentsSection{Environments: make(map[string]EnvironmentState, len(entries))}
	if !info.Now.IsZero() {
		s.CurrentDate, s.Timezone = DateAndZone(info.Now, w.zone)
	}
	if len(w.infos) > 2*len(entries)+8 {
		// Drop the info of handles no longer captured (replaced ones).
		live := make(map[*environment.Handle]environment.Info, len(entries))
		for _, e := range entries {
			if in, ok := w.infos[e.Handle]; ok {
				live[e.Handle] = in
			}
		}
		w.infos = live
	}
	for _, e := range entries {
		st := EnvironmentState{Cwd: e.Selection.Cwd, Status: EnvStarting}
		if e.Ready {
			st.Status = EnvAvailable
			if e.Handle.State() == environment.Disconnected {
				st.Status = EnvDisconnected
			}
			in, ok := w.infos[e.Handle]
			if !ok {
				var err error
				if in, err = e.Handle.Environment().Info(ctx); err == nil {
					w.infos[e.Handle] = in
					ok = true
				} else if !errors.Is(err, context.Canceled) {
					w.log.Warn("agent: environment info unavailable", slog.String("environment", e.Handle.ID()), slog.Any("error", err))
				}
			}
			if ok {
				if st.Cwd == "" {
					st.Cwd = in.Cwd
				}
				st.Shell = in.Shell.Name
			}
		}
		s.Environments[e.Selection.EnvironmentID] = st
	}
	if l := w.lastEnvs; l != nil && l.CurrentDate == s.CurrentDate && l.Timezone == s.Timezone && maps.Equal(l.Environments, s.Environments) {
		return l
	}
	w.lastEnvs = s
	return s
}

// rootsSection builds the capability roots section from the resolution.
func (w *Workspace) rootsSection(res capability.Resolution) *RootsSection {
	key := make([]rootKey, 0, len(res.Available)+len(res.Unavailable))
	for _, a := range res.Available {
		k := rootKey{id: a.Root.ID, env: a.Root.Location.EnvironmentID, path: a.Root.Location.Path, nSkills: len(a.Skills), toolsGen: w.toolsGen}
		if len(a.Skills) > 0 {
			k.skills = &a.Skills[0]
		}
		key = append(key, k)
	}
	for _, u := range res.Unavailable {
		k := rootKey{id: u.Root.ID, env: u.Root.Location.EnvironmentID, path: u.Root.Location.Path, reason: u.Reason}
		if u.Err != nil {
			k.err = u.Err.Error()
		}
		key = append(key, k)
	}
	if w.lastRoots != nil && slices.Equal(key, w.rootsKey) {
		return w.lastRoots
	}
	w.rootsKey = key
	w.lastRoots = w.buildRoots(res)
	return w.lastRoots
}

func (w *Workspace) buildRoots(res capability.Resolution) *RootsSection {
	s := &RootsSection{Roots: make(map[string]RootState, len(res.Available)+len(res.Unavailable))}
	for _, a := range res.Available {
		st := RootState{Status: RootAvailable, Environment: a.Root.Location.EnvironmentID, Path: a.Root.Location.Path,
			Tools: w.names[a.Root.ID]}
		for _, sk := range a.Skills {
			st.Skills = append(st.Skills, SkillState{Name: sk.Name, Description: sk.Description, Path: sk.Path})
		}
		s.Roots[a.Root.ID] = st
	}
	for _, u := range res.Unavailable {
		s.Roots[u.Root.ID] = RootState{Status: RootUnavailable, Environment: u.Root.Location.EnvironmentID,
			Path: u.Root.Location.Path, Reason: u.Message()}
	}
	return s
}

// toolSet returns the base tools plus the available roots' declared
// tools, each bound to its root's handle for this step. The set is rebuilt
// only when the available roots, their handles or their tools changed.
func (w *Workspace) toolSet(res capability.Resolution) *capability.Set {
	key := make([]toolsKey, 0, len(res.Available))
	for _, a := range res.Available {
		k := toolsKey{root: a.Root.ID, handle: a.Handle, n: len(a.Tools)}
		if len(a.Tools) > 0 {
			k.tools = &a.Tools[0]
		}
		key = append(key, k)
	}
	if w.tools != nil && slices.Equal(key, w.toolsKey) {
		return w.tools
	}
	set, err := capability.NewSet(w.base...)
	if err != nil {
		// NewWorkspace checked the base tools.
		panic(err)
	}
	names := make(map[string][]string, len(res.Available))
	for _, a := range res.Available {
		for _, d := range a.Tools {
			t := &rootTool{root: a.Root.ID, handle: a.Handle, decl: d}
			if err := set.Add(t); err != nil {
				w.log.Warn("agent: capability root tool not advertised", slog.String("root", a.Root.ID), slog.String("tool", d.Name), slog.Any("error", err))
				continue
			}
			names[a.Root.ID] = append(names[a.Root.ID], d.Name)
		}
	}
	w.toolsKey, w.tools, w.names = key, set, names
	w.toolsGen++
	return set
}

// rootTool is a tool a capability root declares, bound to the environment
// handle of the step that advertised it.
type rootTool struct {
	root   string
	handle *environment.Handle
	decl   capability.DeclaredTool
}

var _ capability.Tool = (*rootTool)(nil)

// Spec implements capability.Tool. Declared commands may have side
// effects: they run alone.
func (t *rootTool) Spec() capability.Spec {
	return capability.Spec{Name: t.decl.Name, Description: t.decl.Description, Parameters: t.decl.Parameters}
}

// Call implements capability.Tool: it runs the declared command in the
// root's environment with the arguments on stdin.
func (t *rootTool) Call(ctx context.Context, call capability.Call) (capability.Output, error) {
	res, err := t.handle.Environment().Run(ctx, t.decl.CommandFor(call.Arguments))
	if err != nil {
		if ctx.Err() != nil {
			return capability.Output{}, err
		}
		return capability.ErrorOutput("tool %s of capability root %s could not run in environment %s: %v", t.decl.Name, t.root, t.handle.ID(), err), nil
	}
	return t.decl.OutputOf(res), nil
}
