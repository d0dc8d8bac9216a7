package rollout

// ShouldPersist reports whether p is written to a rollout of history mode
// mode (Codex's persistence policy; the recorder applies it before
// writing):
//
//   - session_meta, turn_context, compacted, world_state, inter-agent items,
//     token_usage_record and unknown kinds: always.
//   - response_item: always, except compaction_trigger. (Codex also drops
//     response item types it does not know; this package keeps them, since it
//     keeps their members, and Codex 0.169 persists additional_tools.)
//   - event_msg: task_started, task_complete, turn_aborted, token_count,
//     thread_rolled_back, thread_goal_updated, thread_settings_applied
//     always; the legacy twins (user_message, agent_message,
//     agent_reasoning*, context_compacted, sub_agent_activity, *_end, review
//     mode) only in legacy mode; item_completed always in paginated mode and
//     in legacy mode only for Plan items and the clock.sleep Extension item;
//     every other event (deltas, *_begin, approvals, errors, warnings) never.
//
// For an unknown mode it returns false: nothing may be appended.
func ShouldPersist(p Payload, mode HistoryMode) bool {
	mode = mode.Normalize()
	if !mode.Known() {
		return false
	}
	switch p := p.(type) {
	case nil:
		return false
	case *ResponseItem:
		return p.Type != ItemCompactionTrigger
	case *EventMsg:
		return eventPersisted(p, mode)
	default:
		return true
	}
}

func eventPersisted(e *EventMsg, mode HistoryMode) bool {
	switch CanonicalEventType(e.Type) {
	case EventTokenCount, EventThreadGoalUpdated, EventThreadRolledBack, EventTurnAborted,
		EventTurnStarted, EventTurnComplete, EventThreadSettingsApplied:
		return true
	case EventUserMessage, EventAgentMessage, EventAgentReasoning, EventAgentReasoningRaw,
		"entered_review_mode", "exited_review_mode", "patch_apply_end", EventContextCompacted,
		"mcp_tool_call_end", "web_search_end", "image_generation_end", EventSubAgentActivity:
		return mode == HistoryModeLegacy
	case EventItemCompleted:
		if mode == HistoryModePaginated {
			return true
		}
		var ic ItemCompleted
		if e.Decode(&ic) != nil {
			return false
		}
		typ, _, kind := ic.ItemHeader()
		return typ == "Plan" || (typ == "Extension" && kind == "clock.sleep")
	default:
		return false
	}
}
