package rollout

// Kind is the "type" of a rollout line: which payload it carries.
type Kind string

// The line kinds Codex 0.169 writes or reads. A line of any other kind is
// kept as *Unknown.
const (
	KindSessionMeta             Kind = "session_meta"
	KindResponseItem            Kind = "response_item"
	KindEventMsg                Kind = "event_msg"
	KindTurnContext             Kind = "turn_context"
	KindCompacted               Kind = "compacted"
	KindWorldState              Kind = "world_state"
	KindInterAgentMetadata      Kind = "inter_agent_communication_metadata"
	KindInterAgentCommunication Kind = "inter_agent_communication" // legacy
	KindTokenUsageRecord        Kind = "token_usage_record"
)

// HistoryMode is a thread's history mode, from its first session_meta.
type HistoryMode string

// The history modes this build understands. The zero value reads as
// HistoryModeLegacy (older files carry no history_mode). Any other value
// makes the thread fail closed: see ErrUnsupportedHistoryMode.
const (
	HistoryModeLegacy    HistoryMode = "legacy"
	HistoryModePaginated HistoryMode = "paginated"
)

// Known reports whether this build can read and write full history in mode
// m. The empty mode is legacy.
func (m HistoryMode) Known() bool {
	return m == "" || m == HistoryModeLegacy || m == HistoryModePaginated
}

// Normalize returns HistoryModeLegacy for the empty mode and m otherwise.
func (m HistoryMode) Normalize() HistoryMode {
	if m == "" {
		return HistoryModeLegacy
	}
	return m
}
