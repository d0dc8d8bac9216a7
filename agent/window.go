package agent

import (
	"strings"

	"github.com/troupe-run/troupe/rollout"
)

// This file holds the thread's context-window state (SPEC-agent 3.8): the
// window lineage and the token accounting that decides when the context is
// compacted.

// windowState is the thread's current context window. Guarded by a.mu
// (requests read it on the turn goroutine, Window on any goroutine).
type windowState struct {
	number  uint64
	firstID string
	prevID  string // "" in window 0 (or when unknown after a legacy resume)
	id      string
}

// restoreWindow returns the window a thread continues from w (Config.Window,
// filled from a resume): a missing current id is minted, and a missing first
// id falls back to the current one (legacy compactions without window ids,
// threads created before session_meta.context_window existed).
func restoreWindow(w rollout.Window, newID func() string) windowState {
	s := windowState{number: w.Number, id: validWindowID(w.ID), firstID: validWindowID(w.FirstID), prevID: validWindowID(w.PreviousID)}
	if s.id == "" {
		s.id = newID()
	}
	if s.firstID == "" {
		s.firstID = s.id
	}
	return s
}

// validWindowID returns id, or "" when it cannot be a window id (empty,
// blank or absurdly long: a damaged record). Codex mints UUIDv7 ids;
// Config.NewID decides ours, so any other shape is accepted.
func validWindowID(id string) string {
	if len(id) > 256 || strings.TrimSpace(id) != id || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 }) {
		return ""
	}
	return id
}

// advance moves to the next window: number+1, previous ← current, a new
// current id. The first id never changes.
func (w *windowState) advance(newID func() string) {
	w.number++
	w.prevID = w.id
	w.id = newID()
}

func (w *windowState) public() rollout.Window {
	return rollout.Window{Number: w.number, FirstID: w.firstID, PreviousID: w.prevID, ID: w.id}
}

// Window returns the thread's current context window: its number (0 for
// the first) and the ids of the first, previous and current windows.
func (a *Agent) Window() rollout.Window {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.win.public()
}

// approxTokens estimates the tokens of items as Codex does: serialized bytes
// divided by four.
func approxTokens(items []rollout.ResponseItem) int64 {
	var n int64
	for i := range items {
		n += int64(approxBytes(&items[i]) / 4)
	}
	return n
}

// tokenLimit returns the token count at which the context is compacted,
// or 0 when tokens never trigger a compaction.
func (c *CompactionConfig) tokenLimit() int64 {
	switch {
	case c.TokenLimit < 0:
		return 0
	case c.TokenLimit > 0:
		return c.TokenLimit
	case c.ContextWindow > 0:
		return c.ContextWindow * DefaultCompactPercent / 100
	}
	return 0
}

// tokenLimitReached reports whether the context as estimated (TokensUsed)
// has reached the compaction limit.
func (a *Agent) tokenLimitReached() bool {
	limit := a.cfg.Compaction.tokenLimit()
	return limit > 0 && a.TokensUsed() >= limit
}
