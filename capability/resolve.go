package capability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/troupe-run/troupe/environment"
)

// MaxAdvertisedRoots caps the roots ready environments may add to a step's
// candidates; more are dropped with a warning.
const MaxAdvertisedRoots = 256

// Unavailability says why a root cannot be used this step.
type Unavailability int

// Reasons a root is unavailable. Starting and StartRequested are temporary:
// a later step can see the root available. None of them changes the
// thread's durable selection.
const (
	// Starting: the root's environment is starting.
	Starting Unavailability = iota + 1
	// StartRequested: the environment was lazy and not started; this step
	// asked it to start.
	StartRequested
	// Missing: no environment of that id is registered.
	Missing
	// Failed: the environment failed to start.
	Failed
	// Invalid: the selected root itself is malformed (see Validate).
	Invalid
	// DiscoveryFailed: the environment is ready but reading the root
	// failed (path escapes, not a directory, environment unreachable).
	DiscoveryFailed
)

func (u Unavailability) String() string {
	switch u {
	case Starting:
		return "starting"
	case StartRequested:
		return "start requested"
	case Missing:
		return "missing environment"
	case Failed:
		return "environment failed"
	case Invalid:
		return "invalid root"
	case DiscoveryFailed:
		return "discovery failed"
	}
	return fmt.Sprintf("Unavailability(%d)", int(u))
}

// AvailableRoot is a root usable this step: the exact environment handle to
// use for it (the one the step's snapshot captured, when it did) and what
// the root offers.
type AvailableRoot struct {
	Root   SelectedCapabilityRoot
	Handle *environment.Handle
	// RealPath is the root's path with symlinks followed.
	RealPath string
	Skills   []Skill
	Tools    []DeclaredTool
}

// UnavailableRoot is a candidate root that cannot be used this step.
type UnavailableRoot struct {
	Root   SelectedCapabilityRoot
	Reason Unavailability
	// Err gives details for Failed, Invalid and DiscoveryFailed.
	Err error
}

// Message renders the reason for people and models.
func (u UnavailableRoot) Message() string {
	env := u.Root.Location.EnvironmentID
	switch u.Reason {
	case Starting, StartRequested:
		return fmt.Sprintf("capability root %q: environment `%s` is starting", u.Root.ID, env)
	case Missing:
		return fmt.Sprintf("capability root %q references unavailable environment `%s`", u.Root.ID, env)
	case Failed:
		return fmt.Sprintf("capability root %q: environment `%s` is unavailable: %v", u.Root.ID, env, u.Err)
	}
	return fmt.Sprintf("capability root %q is unavailable: %v", u.Root.ID, u.Err)
}

// Resolution is the capability roots of one model step. It is plain data,
// never persisted; the handles in it are process-local.
type Resolution struct {
	// Available roots in candidate order.
	Available []AvailableRoot
	// Unavailable roots in candidate order.
	Unavailable []UnavailableRoot
	// Warnings about candidates (conflicting locations, the advertised-root
	// cap) and about parts of roots skipped by discovery.
	Warnings []string
}

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// Registry is where environments missing from a step's snapshot are
	// looked up. Required.
	Registry *environment.Registry
	// Cache memoizes discovery. Nil: a new cache. Give each thread its own.
	Cache *DiscoveryCache
	// Logger receives the warnings. Nil: slog.Default().
	Logger *slog.Logger
}

// Resolver resolves a thread's capability roots at each model step. Safe
// for concurrent use.
type Resolver struct {
	reg   *environment.Registry
	cache *DiscoveryCache
	log   *slog.Logger
}

// NewResolver validates cfg. It starts nothing.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.Registry == nil {
		return nil, errors.New("capability: ResolverConfig.Registry is required")
	}
	if cfg.Cache == nil {
		cfg.Cache = NewDiscoveryCache()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Resolver{reg: cfg.Registry, cache: cfg.Cache, log: cfg.Logger}, nil
}

// Cache returns the resolver's discovery cache.
func (r *Resolver) Cache() *DiscoveryCache { return r.cache }

// Resolve resolves the step's capability roots. Candidates are the thread's
// selected roots followed by the roots advertised by the snapshot's ready
// environments (at most MaxAdvertisedRoots), de-duplicated by id: the first
// location wins and a conflicting one is dropped with a warning. For each
// candidate, its environment:
//   - in the snapshot and ready: resolved with the captured handle;
//   - in the snapshot and starting: unavailable this step (Starting);
//   - not in the snapshot: looked up in the registry. Ready → resolved;
//     lazy and not started → asked to start, unavailable this step
//     (StartRequested); starting → Starting; failed → Failed; not
//     registered → Missing.
//
// Resolved roots are then discovered through the cache; a root whose
// discovery fails is unavailable (DiscoveryFailed). selected is never
// modified.
func (r *Resolver) Resolve(ctx context.Context, snap environment.Snapshot, selected []SelectedCapabilityRoot) Resolution {
	var res Resolution
	warn := func(msg string, args ...any) {
		res.Warnings = append(res.Warnings, fmt.Sprintf(msg, args...))
		r.log.Warn(res.Warnings[len(res.Warnings)-1])
	}
	cands := make([]SelectedCapabilityRoot, 0, len(selected))
	index := make(map[string]int, len(selected))
	add := func(c SelectedCapabilityRoot) {
		if i, ok := index[c.ID]; ok {
			if cands[i].Location != c.Location {
				warn("capability: ignoring selected capability root %q with conflicting location (environment %s, path %s); keeping environment %s, path %s",
					c.ID, c.Location.EnvironmentID, c.Location.Path, cands[i].Location.EnvironmentID, cands[i].Location.Path)
			}
			return
		}
		index[c.ID] = len(cands)
		cands = append(cands, c)
	}
	for _, c := range selected {
		add(c)
	}
	budget := MaxAdvertisedRoots
	for _, e := range snap.Entries() {
		if !e.Ready {
			continue
		}
		roots := e.Handle.CapabilityRoots()
		if len(roots) > budget {
			warn("capability: environment %s advertises %d capability roots; only %d more are allowed, the rest are ignored",
				e.Selection.EnvironmentID, len(roots), budget)
			roots = roots[:budget]
		}
		budget -= len(roots)
		for _, c := range advertised(e.Selection.EnvironmentID, roots) {
			add(c)
		}
	}

	res.Available = make([]AvailableRoot, 0, len(cands))
	for _, c := range cands {
		if err := c.Validate(); err != nil {
			res.Unavailable = append(res.Unavailable, UnavailableRoot{Root: c, Reason: Invalid, Err: err})
			continue
		}
		h, why, err := r.handleFor(snap, c.Location.EnvironmentID)
		if h == nil {
			res.Unavailable = append(res.Unavailable, UnavailableRoot{Root: c, Reason: why, Err: err})
			continue
		}
		d, hit, err := r.cache.lookup(ctx, h.Environment(), c)
		if err != nil {
			if !hit {
				r.log.Warn("capability: discovery failed", slog.String("root", c.ID), slog.Any("error", err))
			}
			res.Unavailable = append(res.Unavailable, UnavailableRoot{Root: c, Reason: DiscoveryFailed, Err: err})
			continue
		}
		// Discovery warnings are logged once, when discovered, and
		// reported in every step's resolution.
		res.Warnings = append(res.Warnings, d.Warnings...)
		if !hit {
			for _, w := range d.Warnings {
				r.log.Warn(w)
			}
		}
		res.Available = append(res.Available, AvailableRoot{Root: c, Handle: h, RealPath: d.RealPath, Skills: d.Skills, Tools: d.Tools})
	}
	return res
}

// handleFor finds the handle to use for environment id this step, or why
// there is none.
func (r *Resolver) handleFor(snap environment.Snapshot, id string) (*environment.Handle, Unavailability, error) {
	if e, ok := snap.Lookup(id); ok {
		if e.Ready {
			return e.Handle, 0, nil
		}
		return nil, Starting, nil
	}
	h, ok := r.reg.Lookup(id)
	if !ok {
		return nil, Missing, nil
	}
	switch h.State() {
	case environment.Ready, environment.Disconnected:
		return h, 0, nil
	case environment.Failed:
		return nil, Failed, h.Err()
	case environment.Pending:
		if h.Lazy() {
			h.Start()
			return nil, StartRequested, nil
		}
	}
	return nil, Starting, nil
}

// Root returns the available root of an id.
func (res Resolution) Root(id string) (AvailableRoot, bool) {
	for _, a := range res.Available {
		if a.Root.ID == id {
			return a, true
		}
	}
	return AvailableRoot{}, false
}
