package agent

import (
	"github.com/troupe-run/troupe/rollout"
)

// Event is something an agent reports to its subscribers. The concrete types
// are the exported structs of this file; switch on them. Every event carries
// the thread and (for turn events) the turn it belongs to.
type Event interface {
	Header() EventHeader
}

// EventHeader identifies where an event comes from.
type EventHeader struct {
	ThreadID rollout.ThreadID
	// TurnID is the turn the event belongs to ("" for events outside a
	// turn).
	TurnID string
}

// Header implements Event.
func (h EventHeader) Header() EventHeader { return h }

// AbortReason says why a turn was aborted.
type AbortReason string

// The abort reasons.
const (
	AbortInterrupted   AbortReason = "interrupted"
	AbortReplaced      AbortReason = "replaced"
	AbortBudgetLimited AbortReason = "budget_limited"
)

// TurnStarted is the first event of every turn.
type TurnStarted struct {
	EventHeader
	// StartedAtMs is the start time in Unix milliseconds.
	StartedAtMs int64
}

// TurnComplete ends a turn that ran to its end (possibly with an error).
// Exactly one TurnComplete or TurnAborted ends each turn, after the rollout
// is flushed.
type TurnComplete struct {
	EventHeader
	// LastAgentMessage is the text of the turn's last final assistant
	// message ("" if none).
	LastAgentMessage string
	// Error is set when the turn ended because of an error (a model error
	// that is not retryable, or retries exhausted). The thread stays usable.
	Error       *TurnError
	StartedAtMs int64
	// CompletedAtMs is the end time in Unix milliseconds.
	CompletedAtMs int64
}

// TurnError describes why a turn failed.
type TurnError struct {
	// Message is a human-readable description.
	Message string
	// Err is the underlying error (not persisted).
	Err error
}

func (e *TurnError) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *TurnError) Unwrap() error { return e.Err }

// TurnAborted ends a turn that was stopped before its end.
type TurnAborted struct {
	EventHeader
	Reason        AbortReason
	StartedAtMs   int64
	CompletedAtMs int64
}

// ItemStarted announces an item; deltas for it follow, then ItemCompleted
// with the same item id.
type ItemStarted struct {
	EventHeader
	Item        TurnItem
	StartedAtMs int64
}

// ItemCompleted carries the final form of an item.
type ItemCompleted struct {
	EventHeader
	Item          TurnItem
	StartedAtMs   int64
	CompletedAtMs int64
}

// AgentMessageDelta is more text of a streaming assistant message.
type AgentMessageDelta struct {
	EventHeader
	ItemID string
	Delta  string
}

// ReasoningSummaryDelta is more text of a reasoning summary part.
type ReasoningSummaryDelta struct {
	EventHeader
	ItemID       string
	Delta        string
	SummaryIndex int
}

// ReasoningContentDelta is more raw reasoning text.
type ReasoningContentDelta struct {
	EventHeader
	ItemID       string
	Delta        string
	ContentIndex int
}

// RawResponseItem reports an item appended to the thread's model-visible
// history (in history order). Embedders that mirror the history, and tests,
// follow these.
type RawResponseItem struct {
	EventHeader
	Item rollout.ResponseItem
}

// StreamError reports a failed model request that will be retried.
type StreamError struct {
	EventHeader
	// Message is "Reconnecting... n/max".
	Message string
	// Attempt is the retry number (1-based) and MaxRetries the limit.
	Attempt    int
	MaxRetries int
	// Err is the failure being retried.
	Err error
}

// TokenCount reports token usage after a model response.
type TokenCount struct {
	EventHeader
	// Last is the usage of the latest response, Total of the thread so far.
	Last  TokenUsage
	Total TokenUsage
}

// Warning reports something wrong that did not stop the agent (a rollout
// write that failed, a reused item id, a malformed stream event, ...).
type Warning struct {
	EventHeader
	Message string
}
