package environment

import (
	"log/slog"
)

// Selection is a thread's choice of an environment, persisted by id and
// paths only (never the handle).
//
// Cwd is where the thread works in that environment (empty: the
// environment's working directory); WorkspaceRoots are the directories the
// thread treats as its workspace. Both are paths inside the environment.
type Selection struct {
	EnvironmentID  string   `json:"environment_id"`
	Cwd            string   `json:"cwd,omitempty"`
	WorkspaceRoots []string `json:"workspace_roots,omitempty"`
}

// DefaultSelections returns one selection per registered id, in
// registration order, for a thread that names none. Their Cwd is empty:
// the environment's own working directory.
func (r *Registry) DefaultSelections() []Selection {
	ids := r.DefaultIDs()
	out := make([]Selection, len(ids))
	for i, id := range ids {
		out[i] = Selection{EnvironmentID: id}
	}
	return out
}

// Select returns sels de-duplicated by environment id (first wins) and
// without ids the registry does not know, logging a warning for each one
// skipped. The result is the thread's selection; a turn fixes it at start.
func (r *Registry) Select(sels []Selection) []Selection {
	out := make([]Selection, 0, len(sels))
	seen := make(map[string]bool, len(sels))
	for _, s := range sels {
		switch {
		case seen[s.EnvironmentID]:
			r.log.Warn("environment: duplicate selection ignored", slog.String("environment_id", s.EnvironmentID))
		case !r.known(s.EnvironmentID):
			r.log.Warn("environment: selection of unknown environment skipped", slog.String("environment_id", s.EnvironmentID))
		default:
			seen[s.EnvironmentID] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *Registry) known(id string) bool {
	_, ok := r.Lookup(id)
	return ok
}

// Entry is one selected environment in a Snapshot. Ready says the handle
// was ready (or ready but disconnected) at capture; otherwise it was
// starting. Handle is the exact handle seen at capture.
type Entry struct {
	Selection Selection
	Handle    *Handle
	Ready     bool
}

// Snapshot is the view of a turn's selected environments at one model
// step, in selection order. It keeps the exact handles it captured for as
// long as it lives, even if the registry replaces them; the next step
// captures its own. A Snapshot is immutable and safe to share.
type Snapshot struct {
	entries []Entry
}

// Capture takes the snapshot for one step: each selection whose current
// handle is ready becomes a ready entry, each that is pending or starting a
// starting entry (a pending, lazy handle is asked to start: being selected
// is being needed); failed handles and unknown ids are dropped.
func (r *Registry) Capture(sels []Selection) Snapshot {
	entries := make([]Entry, 0, len(sels))
	r.mu.RLock()
	for _, s := range sels {
		h := r.byID[s.EnvironmentID]
		if h == nil {
			continue
		}
		switch State(h.state.Load()) {
		case Ready:
			entries = append(entries, Entry{Selection: s, Handle: h, Ready: true})
		case Pending, Starting:
			entries = append(entries, Entry{Selection: s, Handle: h})
		}
	}
	r.mu.RUnlock()
	for _, e := range entries {
		if !e.Ready {
			e.Handle.Start()
		}
	}
	return Snapshot{entries: entries}
}

// Entries returns every entry in selection order. The slice is shared:
// do not modify it.
func (s Snapshot) Entries() []Entry { return s.entries }

// Ready returns the ready entries in selection order.
func (s Snapshot) Ready() []Entry { return s.filter(true) }

// Starting returns the entries still starting at capture.
func (s Snapshot) Starting() []Entry { return s.filter(false) }

func (s Snapshot) filter(ready bool) []Entry {
	var out []Entry
	for _, e := range s.entries {
		if e.Ready == ready {
			out = append(out, e)
		}
	}
	return out
}

// Lookup returns the entry of an environment id.
func (s Snapshot) Lookup(id string) (Entry, bool) {
	for _, e := range s.entries {
		if e.Selection.EnvironmentID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// Primary returns the first ready entry: the environment whose working
// directory is the turn's.
func (s Snapshot) Primary() (Entry, bool) {
	for _, e := range s.entries {
		if e.Ready {
			return e, true
		}
	}
	return Entry{}, false
}

// Selections returns the selections of the ready entries.
func (s Snapshot) Selections() []Selection {
	var out []Selection
	for _, e := range s.entries {
		if e.Ready {
			out = append(out, e.Selection)
		}
	}
	return out
}
