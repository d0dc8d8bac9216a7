package agent

import "github.com/troupe-run/troupe/rollout"

// The world-state fragments the agent records are marked as harness
// context with rollout.MarkHarness (Codex's content_item_metadata
// provenance, persisted with the item), so that compaction and anything
// counting user turns never takes them for user input, also after a resume.

// IsHarnessContext reports whether r is context the harness injected
// rather than input from a user or another agent: a message whose parts
// the passthrough metadata marks with a harness provenance (the world-state
// fragments an agent records, and Codex's own context messages), or a user
// message whose text rollout.IsContextualUserText recognises. Compaction
// keeps no such message among the recent user messages; code that counts
// user turns (rollback, last-N-turn forks) should skip them too.
func IsHarnessContext(r *rollout.ResponseItem) bool {
	if r.Type != rollout.ItemMessage {
		return false
	}
	if rollout.IsHarnessMarked(r) {
		return true
	}
	return r.Role == rollout.RoleUser && !rollout.IsUserTurnBoundary(r)
}
