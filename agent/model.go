package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"time"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// Model is a language model as the agent uses it: one streaming call per
// model step. Adapters (agent/openaimodel) and the scripted fake
// (agent/modeltest) implement it.
//
// Stream returns the response as a sequence of events. The sequence yields a
// non-nil error at most once, as its last element; the error should be
// classified with the sentinels below (wrapped in a *ModelError) so the agent
// can tell retryable failures from fatal ones. A sequence that ends without a
// StreamCompleted event is treated as ErrStreamClosed. The agent may stop
// ranging early (mail preemption, interruption); the implementation must then
// release the underlying stream. ctx is cancelled when the turn is
// interrupted; the sequence should end promptly after that.
//
// Implementations must be safe for concurrent use: many agents share one
// Model.
type Model interface {
	Stream(ctx context.Context, req *Request) iter.Seq2[StreamEvent, error]
}

// ModelFunc adapts a function to the Model interface.
type ModelFunc func(ctx context.Context, req *Request) iter.Seq2[StreamEvent, error]

// Stream implements Model.
func (f ModelFunc) Stream(ctx context.Context, req *Request) iter.Seq2[StreamEvent, error] {
	return f(ctx, req)
}

// Request is one model step's request.
type Request struct {
	// Instructions are the base instructions (the Responses API's
	// "instructions").
	Instructions string
	// Input is the normalized history: every call has its output and every
	// output its call. Items carry the turn id in their passthrough metadata;
	// adapters for providers other than OpenAI strip it. The slice and its
	// items belong to the agent: a Model must not modify them, and must copy
	// what it keeps after Stream's sequence ends.
	Input []rollout.ResponseItem
	// Tools are the tools advertised for this step, in order.
	Tools []capability.Spec
	// ParallelToolCalls allows the model to emit several calls in one
	// response.
	ParallelToolCalls bool
	// Metadata identifies who is asking; adapters send it as request metadata
	// and headers, fakes route on it.
	Metadata RequestMetadata
}

// RequestMetadata identifies the thread, turn and context window of a
// request.
type RequestMetadata struct {
	ThreadID rollout.ThreadID
	TurnID   string
	// WindowID is "{thread_id}:{window_number}" (Codex's x-codex-window-id).
	WindowID string
	// AgentPath is the agent's path in its tree ("/root/worker"), or "" for
	// an agent outside a tree.
	AgentPath string
}

// WindowID formats a context window id as Codex sends it.
func WindowID(thread rollout.ThreadID, windowNumber int) string {
	return string(thread) + ":" + strconv.Itoa(windowNumber)
}

// StreamEventKind says what a StreamEvent carries.
type StreamEventKind uint8

// The kinds of stream events.
const (
	// StreamItemAdded: Item started streaming (it may lack content yet).
	StreamItemAdded StreamEventKind = iota + 1
	// StreamItemDone: Item is complete.
	StreamItemDone
	// StreamTextDelta: Delta is more assistant text for the item ItemID (or the
	// item being streamed when ItemID is empty).
	StreamTextDelta
	// StreamReasoningSummaryDelta: Delta is more reasoning summary text,
	// part Index.
	StreamReasoningSummaryDelta
	// StreamReasoningContentDelta: Delta is more raw reasoning text, part Index.
	StreamReasoningContentDelta
	// StreamCompleted: the response finished; ResponseID, Usage and EndTurn
	// are set.
	StreamCompleted
)

var streamEventKindNames = [...]string{
	StreamItemAdded:             "output_item_added",
	StreamItemDone:              "output_item_done",
	StreamTextDelta:             "text_delta",
	StreamReasoningSummaryDelta: "reasoning_summary_delta",
	StreamReasoningContentDelta: "reasoning_content_delta",
	StreamCompleted:             "completed",
}

func (k StreamEventKind) String() string {
	if int(k) < len(streamEventKindNames) && streamEventKindNames[k] != "" {
		return streamEventKindNames[k]
	}
	return "stream_event(" + strconv.Itoa(int(k)) + ")"
}

// StreamEvent is one event of a model response stream. Which fields are set
// depends on Kind.
type StreamEvent struct {
	Kind StreamEventKind
	// Item is the output item (StreamItemAdded, StreamItemDone). The agent
	// takes ownership of it.
	Item *rollout.ResponseItem
	// ItemID names the item a delta belongs to; empty means the item most
	// recently added.
	ItemID string
	// Delta is the text of a delta event.
	Delta string
	// Index is the summary or content part index of a reasoning delta.
	Index int
	// ResponseID is the provider's response id (StreamCompleted).
	ResponseID string
	// Usage is the token usage of the response (StreamCompleted), if known.
	Usage *TokenUsage
	// EndTurn, when non-nil and false, says the model wants to continue even
	// without tool calls (StreamCompleted).
	EndTurn *bool
}

// TokenUsage counts the tokens of one response, in Codex's field names.
type TokenUsage = rollout.TokenUsage

// Model error classes. A Model reports failures as a *ModelError whose Class
// is one of these; errors.Is(err, ErrRateLimited) and the like match it.
//
// Fatal classes end the turn with TurnComplete.Error set: ErrContextWindowExceeded,
// ErrQuotaExceeded, ErrInvalidRequest. Retryable classes are retried with
// backoff: ErrStreamClosed, ErrTimeout, ErrServer, ErrRateLimited. An error of
// no known class (a connection reset, say) is treated as retryable, like
// Codex treats transport failures.
var (
	ErrContextWindowExceeded = errors.New("agent: context window exceeded")
	ErrQuotaExceeded         = errors.New("agent: quota exceeded")
	ErrInvalidRequest        = errors.New("agent: invalid request")
	ErrStreamClosed          = errors.New("agent: stream closed before response.completed")
	ErrTimeout               = errors.New("agent: model request timed out")
	ErrServer                = errors.New("agent: model server error")
	ErrRateLimited           = errors.New("agent: rate limited")
)

// ModelError is a classified model failure.
type ModelError struct {
	// Class is one of the Err* classes above.
	Class error
	// StatusCode is the HTTP status, when there was one.
	StatusCode int
	// RetryAfter is the delay the server asked for (429 "try again in
	// 11.054s", Retry-After), or 0.
	RetryAfter time.Duration
	// Message is the provider's error message.
	Message string
	// Err is the underlying error, if any.
	Err error
}

func (e *ModelError) Error() string {
	s := e.Class.Error()
	if e.StatusCode != 0 {
		s += " (status " + strconv.Itoa(e.StatusCode) + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the class and the underlying error, so errors.Is matches
// both.
func (e *ModelError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

// Retryable reports whether err is worth retrying and the delay the server
// asked for (0 when it did not say). Context cancellation is not retryable.
func Retryable(err error) (retry bool, serverDelay time.Duration) {
	switch {
	case err == nil:
		return false, 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout):
		return false, 0
	case errors.Is(err, ErrContextWindowExceeded), errors.Is(err, ErrQuotaExceeded), errors.Is(err, ErrInvalidRequest):
		return false, 0
	}
	var me *ModelError
	if errors.As(err, &me) {
		return true, me.RetryAfter
	}
	return true, 0
}

var tryAgainRE = regexp.MustCompile(`(?i)try again in\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|seconds?)\b`)

// ParseRetryAfter extracts the delay from an OpenAI rate-limit message such
// as "Please try again in 11.054s" or "try again in 35ms". It returns 0 when
// the message names no delay.
func ParseRetryAfter(msg string) time.Duration {
	m := tryAgainRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	if m[2] == "ms" {
		return time.Duration(f * float64(time.Millisecond))
	}
	return time.Duration(f * float64(time.Second))
}

// NewModelError returns a *ModelError of class with a formatted message.
func NewModelError(class error, format string, args ...any) *ModelError {
	return &ModelError{Class: class, Message: fmt.Sprintf(format, args...)}
}
