package sqlitestore

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// userRequestPrefix marks the user's own words in an IDE-wrapped message;
// the title keeps what follows it (Codex's rule).
const userRequestPrefix = "## My request for Codex:"

// summary folds rollout items into the metadata of a thread row, following
// Codex's extraction rules (codex-persistence §4.3):
//
//   - the canonical (first) session_meta whose id is the thread's sets
//     source, thread source, agent fields, provider, cwd, originator,
//     session id, history mode, parent and fork origin;
//   - turn_context sets the model (and the cwd if still empty);
//   - thread_settings_applied sets model, provider and cwd;
//   - token_count sets tokens_used from the total usage;
//   - the first user message (legacy user_message event, or item_completed
//     UserMessage) sets preview and title (title with the request prefix
//     stripped); response items never do;
//   - task_started marks a turn start (recency).
//
// Codex keeps more than troupe indexes: sandbox_policy, approval_mode,
// reasoning_effort, git_sha/branch/origin_url, memory_mode,
// first_user_message (equal to preview here), has_user_event, pinning,
// sections, projects and the legacy seconds columns. troupe does not index
// them: they stay readable in the rollouts.
type summary struct {
	t          Thread
	haveMeta   bool
	turnStarts int // task_started events seen
	lastItemAt time.Time
}

func newSummary(id rollout.ThreadID) *summary {
	return &summary{t: Thread{ID: id, HistoryMode: rollout.HistoryModeLegacy, SourceKind: "unknown"}}
}

// applyMeta sets the row fields a session_meta defines.
func (s *summary) applyMeta(m *rollout.SessionMeta) {
	t := &s.t
	s.haveMeta = true
	if src := strings.TrimSpace(string(m.Source)); src != "" {
		var str string
		if json.Unmarshal(m.Source, &str) == nil {
			t.Source = str
		} else {
			t.Source = src
		}
	}
	t.SourceKind = m.SourceName()
	t.ThreadSource = m.ThreadSource
	t.AgentNickname, t.AgentRole, t.AgentPath = m.AgentNickname, m.AgentRole, m.AgentPath
	if spawn, ok := m.SubagentSpawn(); ok {
		if t.AgentPath == "" {
			t.AgentPath = spawn.AgentPath
		}
		if t.AgentNickname == "" {
			t.AgentNickname = spawn.AgentNickname
		}
		if t.AgentRole == "" && spawn.AgentRole != nil {
			t.AgentRole = *spawn.AgentRole
		}
		t.ParentThreadID = spawn.ParentThreadID
	}
	if m.ParentThreadID != "" {
		t.ParentThreadID = m.ParentThreadID
	}
	t.ForkedFromID = m.ForkedFromID
	t.ModelProvider = m.ModelProvider
	t.Cwd = m.Cwd
	t.Originator = m.Originator
	t.CLIVersion = m.CLIVersion
	t.SessionID = m.SessionID
	t.HistoryMode = m.Mode()
	if ts, err := time.Parse(time.RFC3339Nano, m.Timestamp); err == nil && t.CreatedAt.IsZero() {
		t.CreatedAt = ts.UTC().Truncate(time.Millisecond)
	}
}

// apply folds one item. It reports whether the item started a turn.
func (s *summary) apply(it rollout.Item) (turnStarted bool) {
	t := &s.t
	if !it.Timestamp.IsZero() {
		s.lastItemAt = it.Timestamp
	}
	switch p := it.Payload.(type) {
	case *rollout.SessionMeta:
		if !s.haveMeta && (p.ID == t.ID || t.ID == "") {
			if t.ID == "" {
				t.ID = p.ID
			}
			s.applyMeta(p)
		}
	case *rollout.TurnContext:
		if p.Model != "" {
			t.Model = p.Model
		}
		if t.Cwd == "" {
			t.Cwd = p.Cwd
		}
	case *rollout.EventMsg:
		switch rollout.CanonicalEventType(p.Type) {
		case rollout.EventTurnStarted:
			s.turnStarts++
			return true
		case rollout.EventTokenCount:
			var tc rollout.TokenCount
			if p.Decode(&tc) == nil && tc.Info != nil {
				t.TokensUsed = max(0, tc.Info.TotalTokenUsage.TotalTokens)
			}
		case rollout.EventUserMessage:
			var um rollout.UserMessage
			if p.Decode(&um) == nil {
				s.userText(um.Message, len(um.Images) > 0)
			}
		case rollout.EventItemCompleted:
			var ic rollout.ItemCompleted
			if p.Decode(&ic) == nil {
				if typ, _, _ := ic.ItemHeader(); typ == "UserMessage" {
					text, image := userItemText(ic.Item)
					s.userText(text, image)
				}
			}
		case rollout.EventThreadSettingsApplied:
			s.settings(p.Raw)
		}
	}
	return false
}

// userText records the first user message as preview and title.
func (s *summary) userText(text string, image bool) {
	if s.t.Preview != "" {
		return
	}
	text = strings.TrimSpace(text)
	if text == "" && image {
		text = "[Image]"
	}
	if text == "" {
		return
	}
	title := text
	if _, after, ok := strings.Cut(text, userRequestPrefix); ok {
		title = strings.TrimSpace(after)
	}
	s.t.Preview = text
	if s.t.Title == "" {
		s.t.Title = title
	}
}

// userItemText joins the text parts of a TurnItem UserMessage.
func userItemText(raw json.RawMessage) (string, bool) {
	var item struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(raw, &item) != nil {
		return "", false
	}
	var parts []string
	image := false
	for _, c := range item.Content {
		switch {
		case c.Text != "":
			parts = append(parts, c.Text)
		case strings.Contains(strings.ToLower(c.Type), "image"):
			image = true
		}
	}
	return strings.Join(parts, "\n"), image
}

// settings applies a thread_settings_applied event.
func (s *summary) settings(raw json.RawMessage) {
	var ev struct {
		ThreadSettings struct {
			Model           string `json:"model"`
			ModelProviderID string `json:"model_provider_id"`
			Cwd             string `json:"cwd"`
		} `json:"thread_settings"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return
	}
	if m := ev.ThreadSettings.Model; m != "" {
		s.t.Model = m
	}
	if p := ev.ThreadSettings.ModelProviderID; p != "" {
		s.t.ModelProvider = p
	}
	if c := ev.ThreadSettings.Cwd; c != "" {
		s.t.Cwd = c
	}
}
