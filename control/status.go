package control

import (
	"encoding/json"
	"fmt"
)

// StatusKind is the state of an agent's life cycle.
type StatusKind string

// The status kinds. Codex has all but StatusIdle, which troupe uses for an
// agent restored by resume that has no turn to report yet.
const (
	// StatusPendingInit: spawned, its first turn has not started.
	StatusPendingInit StatusKind = "pending_init"
	// StatusRunning: a turn is running.
	StatusRunning StatusKind = "running"
	// StatusIdle: restored by resume, no turn since.
	StatusIdle StatusKind = "idle"
	// StatusCompleted: the last turn completed; Message is its last
	// assistant message.
	StatusCompleted StatusKind = "completed"
	// StatusErrored: the last turn failed; Message says why.
	StatusErrored StatusKind = "errored"
	// StatusInterrupted: the last turn was interrupted (or was open when the
	// process stopped).
	StatusInterrupted StatusKind = "interrupted"
	// StatusShutdown: the agent was closed.
	StatusShutdown StatusKind = "shutdown"
	// StatusNotFound: no such agent is live.
	StatusNotFound StatusKind = "not_found"
)

// Status is an agent's status. Its JSON form is Codex's AgentStatus:
// "running", {"completed":"msg"} (or {"completed":null}), {"errored":"msg"},
// ...
type Status struct {
	Kind StatusKind
	// Message is the last assistant message (completed; HasMessage false
	// means Codex's null) or the error (errored).
	Message    string
	HasMessage bool
}

// Final reports whether the status is final in Codex's sense: not
// pending_init, running or interrupted.
func (s Status) Final() bool {
	switch s.Kind {
	case StatusPendingInit, StatusRunning, StatusInterrupted, StatusIdle:
		return false
	}
	return true
}

// String returns the JSON form.
func (s Status) String() string {
	b, _ := s.MarshalJSON()
	return string(b)
}

// MarshalJSON writes Codex's AgentStatus form.
func (s Status) MarshalJSON() ([]byte, error) {
	switch s.Kind {
	case StatusCompleted:
		if !s.HasMessage {
			return []byte(`{"completed":null}`), nil
		}
		return json.Marshal(map[string]string{"completed": s.Message})
	case StatusErrored:
		return json.Marshal(map[string]string{"errored": s.Message})
	case "":
		return []byte(`"not_found"`), nil
	}
	return json.Marshal(string(s.Kind))
}

// UnmarshalJSON reads Codex's AgentStatus form.
func (s *Status) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		switch k := StatusKind(str); k {
		case StatusPendingInit, StatusRunning, StatusIdle, StatusInterrupted, StatusShutdown, StatusNotFound:
			*s = Status{Kind: k}
			return nil
		}
		return fmt.Errorf("control: unknown agent status %q", str)
	}
	var obj map[string]*string
	if err := json.Unmarshal(b, &obj); err != nil || len(obj) != 1 {
		return fmt.Errorf("control: malformed agent status %s", b)
	}
	for k, v := range obj {
		switch StatusKind(k) {
		case StatusCompleted:
			*s = Status{Kind: StatusCompleted}
			if v != nil {
				s.Message, s.HasMessage = *v, true
			}
		case StatusErrored:
			*s = Status{Kind: StatusErrored, HasMessage: true}
			if v != nil {
				s.Message = *v
			}
		default:
			return fmt.Errorf("control: unknown agent status %q", k)
		}
	}
	return nil
}
