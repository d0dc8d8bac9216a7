package rollout

import (
	"errors"
	"fmt"
	"strings"
)

// SummaryPrefix starts the summary message of a compaction (Codex's
// summary_prefix.md, followed by a newline).
const SummaryPrefix = "Another language model started to solve this problem and produced a summary of its thinking process. You also have access to the state of the tools that were used by that language model. Use this to build on the work that has already been done and avoid duplicating work. Here is the summary produced by the other language model, use the information in this summary to assist with your own analysis:"

// compactUserMessageMaxTokens bounds the user messages kept when a legacy
// compaction (no replacement history) is rebuilt (Codex:
// COMPACT_USER_MESSAGE_MAX_TOKENS).
const compactUserMessageMaxTokens = 20_000

// contextualPrefixes start user-message text the harness injects (not a
// real user turn).
var contextualPrefixes = []string{
	"<user_instructions>", "# AGENTS.md instructions", "<environment_context>", "<additional_context>",
	"<skill>", "<skills_instructions>", "<user_shell_command>", "<turn_aborted>", "<subagent_notification>",
	"<codex_internal_context", "<goal_context>", "<hook_prompt", "<recommended_plugins",
}

// IsContextualUserText reports whether text is a harness-injected fragment
// (environment context, instructions, notifications, ...) rather than
// something a user typed.
func IsContextualUserText(text string) bool {
	t := strings.TrimLeft(text, " \t\r\n")
	for _, p := range contextualPrefixes {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// IsUserTurnBoundary reports whether r starts a user turn in the model
// history: a user message that is not harness context (by its text, or
// marked as such: IsHarnessMarked), or an inter-agent
// message (an agent_message item, or an assistant message carrying a legacy
// serialized inter-agent communication).
func IsUserTurnBoundary(r *ResponseItem) bool {
	switch {
	case r.Type == ItemAgentMessage:
		return true
	case r.Type != ItemMessage:
		return false
	case r.Role == RoleUser:
		if IsHarnessMarked(r) {
			return false
		}
		for _, p := range r.Content {
			if p.Type == PartInputText && IsContextualUserText(p.Text) {
				return false
			}
		}
		return true
	case r.Role == RoleAssistant:
		return len(r.Content) == 1 && strings.HasPrefix(r.Content[0].Text, `{"author":`)
	}
	return false
}

// Window identifies the context window a resumed thread continues.
type Window struct {
	// Number counts windows (0 for the first).
	Number uint64
	// FirstID, PreviousID and ID are window ids; empty when unknown (the
	// runtime then mints a fresh id).
	FirstID, PreviousID, ID string
}

// ResumeWindow returns the context window a thread continues, given its
// canonical session_meta and its compacted records in file order (those
// that survive rollbacks, when the caller tracks them), as
// ReconstructHistory decides it: the newest compaction with a window
// number gives the window; else, when no compaction lacks a number, window
// 0 named by session_meta.context_window; else (legacy compactions) the
// count of compactions, ids unknown.
func ResumeWindow(meta *SessionMeta, compactions []*Compacted) Window {
	legacy := false
	for i := len(compactions) - 1; i >= 0; i-- {
		c := compactions[i]
		if c.WindowNumber != nil {
			return Window{Number: *c.WindowNumber, FirstID: c.FirstWindowID, PreviousID: c.PreviousWindowID, ID: c.WindowID}
		}
		legacy = true
	}
	if !legacy && meta != nil && meta.ContextWindow != nil {
		return Window{FirstID: meta.ContextWindow.WindowID, ID: meta.ContextWindow.WindowID}
	}
	return Window{Number: uint64(len(compactions))}
}

// History is what a resume needs from a rollout, reconstructed once and
// shared (callers must not modify it).
type History struct {
	// Meta is the canonical (first) session_meta.
	Meta *SessionMeta
	// Items is the model-visible history: the newest surviving compaction's
	// replacement history (or, for a legacy compaction, the rebuilt user
	// messages + summary), then the later response items in order, with
	// rollbacks applied, legacy inter-agent records turned into
	// agent_message items and ghost snapshots dropped.
	Items []*ResponseItem
	// WorldState holds the surviving world_state and compacted records in
	// file order, from the newest surviving compacted record on (older
	// ones are cleared by it): replay them (a compacted record resets the
	// baseline, a full world_state sets it, a patch applies to it) to
	// restore world state.
	WorldState []Item
	// TurnContext is the newest surviving user turn's turn_context: the
	// reference the next turn's context diff is computed against. Nil when a
	// later compaction cleared it or a legacy compaction was replayed.
	TurnContext *TurnContext
	// LastTurnContext is the newest turn_context in the file, whatever
	// cleared it (its model and comp_hash tell the runtime what the previous
	// turn ran with).
	LastTurnContext *TurnContext
	// Window is the context window to continue.
	Window Window
	// TokenUsage is the newest token_count that still describes Items (a
	// later compaction or rollback makes it stale: nil), and
	// ItemsAfterUsage counts the items at the end of Items recorded after
	// it. The context size is its last total plus an estimate of those
	// items. Nil when unknown: estimate all of Items.
	TokenUsage      *TokenCountInfo
	ItemsAfterUsage int
	// Compactions counts the compacted records in the file.
	Compactions int
}

// segment is one turn's worth of records while scanning backwards.
type segment struct {
	turnID      string
	userTurn    bool
	turnContext *TurnContext
	clearedCtx  bool
	worldState  []Item // newest first
	baseIndex   int    // index of the newest compacted record with replacement history, -1
	window      *Window
}

// ReconstructHistory rebuilds a thread's model history and resume state
// from its items (as read, in file order). It follows Codex: scanning
// backwards by turn, thread_rolled_back{n} drops the newest n user turns
// (their records do not survive), the newest surviving compacted record
// with a replacement history becomes the base, and only later records are
// replayed. It returns an error matching ErrNoSessionMeta without a
// session_meta, and one matching ErrUnsupportedHistoryMode if the thread's
// mode is unknown (fail closed).
func ReconstructHistory(items []Item) (*History, error) {
	h := &History{}
	for _, it := range items {
		if m, ok := it.Payload.(*SessionMeta); ok {
			h.Meta = m
			break
		}
	}
	if h.Meta == nil {
		return nil, fmt.Errorf("%w: cannot reconstruct history", ErrNoSessionMeta)
	}
	if !h.Meta.Mode().Known() {
		return nil, fmt.Errorf("%w %q (thread %s)", ErrUnsupportedHistoryMode, h.Meta.HistoryMode, h.Meta.ID)
	}

	legacyWindowless := false
	for _, it := range items {
		switch p := it.Payload.(type) {
		case *Compacted:
			h.Compactions++
			if p.WindowNumber == nil {
				legacyWindowless = true
			}
		case *TurnContext:
			h.LastTurnContext = p
		}
	}

	var (
		base        = -1 // index of the surviving base compaction
		window      *Window
		refCtx      *TurnContext
		refSet      bool
		worldRev    []Item
		pendingRoll uint64
		cur         *segment
	)
	finalize := func() {
		s := cur
		cur = nil
		if s == nil {
			return
		}
		if pendingRoll > 0 {
			if s.userTurn {
				pendingRoll--
			}
			return
		}
		worldRev = append(worldRev, s.worldState...)
		if base < 0 && s.baseIndex >= 0 {
			base = s.baseIndex
		}
		if window == nil {
			window = s.window
		}
		if !refSet && (s.userTurn && s.turnContext != nil || s.clearedCtx) {
			refSet = true
			refCtx = s.turnContext
		}
	}
	seg := func() *segment {
		if cur == nil {
			cur = &segment{baseIndex: -1}
		}
		return cur
	}
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		switch p := it.Payload.(type) {
		case *Compacted:
			s := seg()
			s.worldState = append(s.worldState, it)
			if s.window == nil && p.WindowNumber != nil {
				s.window = &Window{Number: *p.WindowNumber, FirstID: p.FirstWindowID, PreviousID: p.PreviousWindowID, ID: p.WindowID}
			}
			if s.turnContext == nil {
				s.clearedCtx = true
			}
			if s.baseIndex < 0 && p.ReplacementHistory != nil {
				s.baseIndex = i
			}
		case *EventMsg:
			switch {
			case p.Is(EventThreadRolledBack):
				var rb ThreadRolledBack
				if p.Decode(&rb) == nil {
					pendingRoll += uint64(rb.NumTurns)
				}
			case p.Is(EventTurnComplete):
				if s := seg(); s.turnID == "" {
					s.turnID = p.TurnID
				}
			case p.Is(EventTurnAborted):
				if s := seg(); s.turnID == "" {
					s.turnID = p.TurnID
				}
			case p.Is(EventUserMessage):
				seg().userTurn = true
			case p.Is(EventTurnStarted):
				if cur != nil && (cur.turnID == "" || cur.turnID == p.TurnID) {
					finalize()
				}
			}
		case *TurnContext:
			s := seg()
			if s.turnID == "" {
				s.turnID = p.TurnID
			}
			if s.turnID == "" || p.TurnID == "" || s.turnID == p.TurnID {
				if s.turnContext == nil && !s.clearedCtx {
					s.turnContext = p
				}
			}
		case *WorldState:
			s := seg()
			s.worldState = append(s.worldState, it)
		case *ResponseItem:
			s := seg()
			if IsUserTurnBoundary(p) {
				s.userTurn = true
			}
		case *InterAgentCommunication:
			seg().userTurn = true
		}
	}
	finalize()

	// Window: newest surviving compaction with a number, else the meta's.
	switch {
	case window != nil:
		h.Window = *window
	case !legacyWindowless && h.Meta.ContextWindow != nil:
		h.Window = Window{FirstID: h.Meta.ContextWindow.WindowID, ID: h.Meta.ContextWindow.WindowID}
	default:
		h.Window = Window{Number: uint64(h.Compactions)}
	}

	// Replay the surviving suffix forwards.
	var hist []*ResponseItem
	start := 0
	if base >= 0 {
		c := items[base].Payload.(*Compacted)
		hist = make([]*ResponseItem, 0, len(c.ReplacementHistory))
		for j := range c.ReplacementHistory {
			if c.ReplacementHistory[j].Type != ItemGhostSnapshot {
				hist = append(hist, &c.ReplacementHistory[j])
			}
		}
		start = base + 1
	}
	sawLegacyCompaction := false
	usageAt := 0 // len(hist) when h.TokenUsage was reported
	for _, it := range items[start:] {
		switch p := it.Payload.(type) {
		case *ResponseItem:
			if p.Type == ItemGhostSnapshot || p.Type == ItemCompactionTrigger {
				continue
			}
			hist = append(hist, p)
		case *InterAgentCommunication:
			hist = append(hist, p.AgentMessage())
		case *Compacted:
			h.TokenUsage = nil
			if p.ReplacementHistory != nil {
				hist = hist[:0:0]
				for j := range p.ReplacementHistory {
					if p.ReplacementHistory[j].Type != ItemGhostSnapshot {
						hist = append(hist, &p.ReplacementHistory[j])
					}
				}
				continue
			}
			sawLegacyCompaction = true
			hist = BuildCompactedHistory(hist, p.Message)
		case *EventMsg:
			switch {
			case p.Is(EventThreadRolledBack):
				var rb ThreadRolledBack
				if p.Decode(&rb) == nil {
					hist = DropLastUserTurns(hist, int(rb.NumTurns))
					h.TokenUsage = nil
				}
			case p.Is(EventTokenCount):
				var tc TokenCount
				if p.Decode(&tc) == nil && tc.Info != nil {
					h.TokenUsage, usageAt = tc.Info, len(hist)
				}
			}
		}
	}
	h.Items = hist
	if h.TokenUsage != nil {
		h.ItemsAfterUsage = len(hist) - usageAt
	}

	// Keep the world-state records from the newest surviving compacted
	// record on: it clears the world state on replay, so older records
	// change nothing (and are not held). Then restore file order (they
	// come newest first).
	for k, it := range worldRev {
		if _, ok := it.Payload.(*Compacted); ok {
			worldRev = worldRev[:k+1]
			break
		}
	}
	for l, r := 0, len(worldRev)-1; l < r; l, r = l+1, r-1 {
		worldRev[l], worldRev[r] = worldRev[r], worldRev[l]
	}
	h.WorldState = worldRev
	if !sawLegacyCompaction {
		h.TurnContext = refCtx
	}
	return h, nil
}

// DropLastUserTurns returns hist without its last n user turns: everything
// from the n-th last user-turn boundary (see IsUserTurnBoundary) on. When n
// reaches past the first boundary, everything from the first boundary is
// dropped (the context before it stays). hist is not modified.
func DropLastUserTurns(hist []*ResponseItem, n int) []*ResponseItem {
	if n <= 0 {
		return hist
	}
	var pos []int
	for i, r := range hist {
		if IsUserTurnBoundary(r) {
			pos = append(pos, i)
		}
	}
	if len(pos) == 0 {
		return hist
	}
	cut := pos[0]
	if n < len(pos) {
		cut = pos[len(pos)-n]
	}
	return hist[:cut:cut]
}

// BuildCompactedHistory rebuilds the history a legacy compaction (one
// without a replacement history) leaves, as Codex does: the real user
// messages of hist (newest first, up to a budget of about 20 000 tokens,
// the oldest kept one truncated to fit), in order, followed by a user
// message with the summary (or "(no summary available)").
func BuildCompactedHistory(hist []*ResponseItem, summary string) []*ResponseItem {
	var users []*ResponseItem
	for _, r := range hist {
		if r.Type != ItemMessage || r.Role != RoleUser || !IsUserTurnBoundary(r) {
			continue
		}
		text := r.Text()
		if strings.HasPrefix(text, SummaryPrefix+"\n") {
			continue
		}
		users = append(users, r)
	}
	var kept []*ResponseItem
	remaining := compactUserMessageMaxTokens
	for i := len(users) - 1; i >= 0 && remaining > 0; i-- {
		text := users[i].Text()
		tokens := (len(text) + 3) / 4
		if tokens > remaining {
			text = text[:min(len(text), remaining*4)]
			tokens = remaining
		}
		m := NewMessage(RoleUser, text)
		m.Passthrough = users[i].Passthrough
		kept = append(kept, m)
		remaining -= tokens
	}
	out := make([]*ResponseItem, 0, len(kept)+1)
	for i := len(kept) - 1; i >= 0; i-- {
		out = append(out, kept[i])
	}
	if summary == "" {
		summary = "(no summary available)"
	}
	return append(out, NewMessage(RoleUser, summary))
}

// LoadHistory reads the rollout at path once, streaming (StreamHistory:
// memory bounded by the history that survives, not by the file), and
// reconstructs its history as ReconstructHistory does. Corrupt lines are skipped and returned in the
// slice (each a *CorruptError); any other read error fails the load. A
// thread whose history mode is unknown fails with ErrUnsupportedHistoryMode
// before its history is read.
func LoadHistory(path string) (*History, []error, error) {
	meta, err := ReadMeta(path)
	if err != nil {
		return nil, nil, err
	}
	if !meta.Mode().Known() {
		return nil, nil, fmt.Errorf("%w %q (thread %s)", ErrUnsupportedHistoryMode, meta.HistoryMode, meta.ID)
	}
	return StreamHistory(path, nil)
}

// loadHistoryCollect is LoadHistory's former path, kept as the reference
// for tests and benchmarks: every item is read into memory, then
// ReconstructHistory runs on them.
func loadHistoryCollect(path string) (*History, []error, error) {
	var items []Item
	var corrupt []error
	for it, err := range Read(path, ReadOptions{DropRaw: true}) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				corrupt = append(corrupt, err)
				continue
			}
			return nil, corrupt, err
		}
		items = append(items, it)
	}
	h, err := ReconstructHistory(items)
	return h, corrupt, err
}
