package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// SessionMeta is the payload of a session_meta line, the first line of
// every rollout. The first session_meta of a file is canonical: later ones
// (copied from a fork source) never redefine the thread id or history mode.
// Members not modelled here are kept in Extra.
type SessionMeta struct {
	// SessionID is shared by a root thread and its sub-agents. Older files
	// lack it; decoding then sets it to ID.
	SessionID      ThreadID `json:"session_id,omitempty"`
	ID             ThreadID `json:"id"`
	ForkedFromID   ThreadID `json:"forked_from_id,omitempty"`
	ParentThreadID ThreadID `json:"parent_thread_id,omitempty"`
	// Timestamp is the thread's creation time as written
	// (2006-01-02T15:04:05.000Z); see Time.
	Timestamp  string `json:"timestamp"`
	Cwd        string `json:"cwd"`
	Originator string `json:"originator"`
	CLIVersion string `json:"cli_version"`
	// Source is Codex's polymorphic SessionSource ("cli", "exec",
	// {"subagent":{"thread_spawn":{...}}}, ...), verbatim; see SourceName and
	// SubagentSpawn.
	Source        json.RawMessage `json:"source,omitempty"`
	ThreadSource  string          `json:"thread_source,omitempty"`
	AgentNickname string          `json:"agent_nickname,omitempty"`
	// AgentRole is read from agent_role, or from its older alias
	// agent_type (which then stays in Extra as well).
	AgentRole     string `json:"agent_role,omitempty"`
	AgentPath     string `json:"agent_path,omitempty"`
	ModelProvider string `json:"model_provider,omitempty"`
	// BaseInstructions is {"text": ...} in Codex 0.169, verbatim.
	BaseInstructions        json.RawMessage  `json:"base_instructions,omitempty"`
	DynamicTools            json.RawMessage  `json:"dynamic_tools,omitempty"`
	SelectedCapabilityRoots []CapabilityRoot `json:"selected_capability_roots,omitzero"`
	MemoryMode              string           `json:"memory_mode,omitempty"`
	HistoryMode             HistoryMode      `json:"history_mode,omitempty"`
	HistoryBase             *HistoryBase     `json:"history_base,omitempty"`
	// SubagentHistoryStartOrdinal is the first ordinal a forked sub-agent
	// wrote itself; the records before it were copied from its parent.
	SubagentHistoryStartOrdinal *uint64 `json:"subagent_history_start_ordinal,omitempty"`
	// ForkedFromOrdinalExclusive is where a paginated fork's own records
	// begin.
	ForkedFromOrdinalExclusive *uint64        `json:"forked_from_ordinal_exclusive,omitempty"`
	MultiAgentVersion          string         `json:"multi_agent_version,omitempty"`
	ContextWindow              *ContextWindow `json:"context_window,omitempty"`
	Git                        *GitInfo       `json:"git,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var sessionMetaFields = jsonFields(reflect.TypeFor[SessionMeta]())

// Kind implements Payload.
func (*SessionMeta) Kind() Kind { return KindSessionMeta }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members and
// applying the legacy defaults (session_id = id, agent_type = agent_role).
func (m *SessionMeta) UnmarshalJSON(b []byte) error {
	type plain SessionMeta
	var p plain
	extra, err := decodeObject(b, &p, sessionMetaFields)
	if err != nil {
		return err
	}
	*m = SessionMeta(p)
	m.Extra = extra
	if m.SessionID == "" {
		m.SessionID = m.ID
	}
	if m.AgentRole == "" {
		if raw, ok := extra.Get("agent_type"); ok {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				m.AgentRole = s
			}
		}
	}
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (m SessionMeta) MarshalJSON() ([]byte, error) {
	type plain SessionMeta
	return encodeObject(plain(m), sessionMetaFields, m.Extra)
}

// Mode returns the thread's history mode, legacy when absent.
func (m *SessionMeta) Mode() HistoryMode { return m.HistoryMode.Normalize() }

// SourceName returns the session source as a short name: the string for a
// plain source ("cli", "exec", ...), else the single key of the object form
// ("subagent", "custom", "internal"), else "unknown".
func (m *SessionMeta) SourceName() string {
	t := bytes.TrimSpace(m.Source)
	if len(t) == 0 {
		return "unknown"
	}
	if t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) == nil && s != "" {
			return s
		}
		return "unknown"
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(t, &obj) == nil && len(obj) == 1 {
		for k := range obj {
			return k
		}
	}
	return "unknown"
}

// SubagentSpawn returns the thread_spawn record of a sub-agent source
// ({"subagent":{"thread_spawn":{...}}}) and whether the source has that
// form.
func (m *SessionMeta) SubagentSpawn() (SubagentSpawn, bool) {
	var src struct {
		Subagent json.RawMessage `json:"subagent"`
	}
	if json.Unmarshal(m.Source, &src) != nil || len(src.Subagent) == 0 || src.Subagent[0] != '{' {
		return SubagentSpawn{}, false
	}
	var sub struct {
		ThreadSpawn *SubagentSpawn `json:"thread_spawn"`
	}
	if json.Unmarshal(src.Subagent, &sub) != nil || sub.ThreadSpawn == nil {
		return SubagentSpawn{}, false
	}
	return *sub.ThreadSpawn, true
}

// SubagentSource returns a Source value for a spawned sub-agent, in
// Codex's shape.
func SubagentSource(s SubagentSpawn) (json.RawMessage, error) {
	b, err := marshalJSON(map[string]any{"subagent": map[string]any{"thread_spawn": s}})
	if err != nil {
		return nil, fmt.Errorf("rollout: encode subagent source: %w", err)
	}
	return b, nil
}

// SubagentSpawn is the thread_spawn form of a sub-agent's session source.
type SubagentSpawn struct {
	ParentThreadID ThreadID `json:"parent_thread_id"`
	Depth          int      `json:"depth"`
	AgentPath      string   `json:"agent_path,omitempty"`
	AgentNickname  string   `json:"agent_nickname,omitempty"`
	AgentRole      *string  `json:"agent_role"`
}

// CapabilityRoot is one entry of session_meta.selected_capability_roots.
// Unknown members are kept in Extra.
type CapabilityRoot struct {
	ID       string             `json:"id"`
	Location CapabilityLocation `json:"location"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var capabilityRootFields = jsonFields(reflect.TypeFor[CapabilityRoot]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (c *CapabilityRoot) UnmarshalJSON(b []byte) error {
	type plain CapabilityRoot
	var p plain
	extra, err := decodeObject(b, &p, capabilityRootFields)
	if err != nil {
		return err
	}
	*c = CapabilityRoot(p)
	c.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (c CapabilityRoot) MarshalJSON() ([]byte, error) {
	type plain CapabilityRoot
	return encodeObject(plain(c), capabilityRootFields, c.Extra)
}

// CapabilityLocation says where a capability root lives. Codex writes it in
// camelCase ({"type":"environment","environmentId":...,"path":...}).
type CapabilityLocation struct {
	Type          string `json:"type"`
	EnvironmentID string `json:"environmentId,omitempty"`
	Path          string `json:"path,omitempty"`
	// Extra holds the members not modelled above, verbatim.
	Extra Members `json:"-"`
}

var capabilityLocationFields = jsonFields(reflect.TypeFor[CapabilityLocation]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (c *CapabilityLocation) UnmarshalJSON(b []byte) error {
	type plain CapabilityLocation
	var p plain
	extra, err := decodeObject(b, &p, capabilityLocationFields)
	if err != nil {
		return err
	}
	*c = CapabilityLocation(p)
	c.Extra = extra
	return nil
}

// MarshalJSON implements json.Marshaler, writing Extra back.
func (c CapabilityLocation) MarshalJSON() ([]byte, error) {
	type plain CapabilityLocation
	return encodeObject(plain(c), capabilityLocationFields, c.Extra)
}

// ContextWindow names the thread's current context window.
type ContextWindow struct {
	WindowID string `json:"window_id"`
}

// HistoryBase points at the parent history a paginated thread starts from.
type HistoryBase struct {
	ThreadID            ThreadID `json:"thread_id"`
	EndOrdinalExclusive uint64   `json:"end_ordinal_exclusive"`
	EndByteOffset       uint64   `json:"end_byte_offset"`
}

// GitInfo is the git state of the thread's cwd at its first write.
type GitInfo struct {
	CommitHash    string `json:"commit_hash,omitempty"`
	Branch        string `json:"branch,omitempty"`
	RepositoryURL string `json:"repository_url,omitempty"`
}
