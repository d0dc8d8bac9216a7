package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// Recorder persists a thread's rollout. The agent calls it from one
// goroutine at a time (its calls are serialized by the agent's lock), in
// rollout order, and calls Flush before every turn-terminal event and after
// recording delivered mail. *rollout.Recorder implements it.
type Recorder interface {
	// AppendItems queues items for writing; it may write them later (group
	// commit). An error means the items could not be queued.
	AppendItems(items ...rollout.Item) error
	// Flush makes everything appended so far durable.
	Flush(ctx context.Context) error
}

var _ Recorder = (*rollout.Recorder)(nil)

// Inbox is the agent's mailbox as the agent consumes it. *mailbox.Inbox
// implements it. Mail is taken when it enters a turn's pending input and
// acknowledged once it is recorded into the rollout and flushed; mail taken
// but not recorded (an interrupted turn) is requeued.
type Inbox interface {
	// Len is the number of messages waiting to be taken.
	Len() int
	// HasTrigger reports whether a waiting message asks to start a turn.
	HasTrigger() bool
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	// Take hands out every waiting message in acceptance order.
	Take() []mailbox.Message
	// Ack acknowledges the oldest taken messages, in order.
	Ack(msgs ...mailbox.Message) error
	// Requeue returns every taken, unacknowledged message to the queue.
	Requeue() int
}

var _ Inbox = (*mailbox.Inbox)(nil)

// Step is what one model step runs against, captured at the top of the
// step (SPEC-agent 3.1): the tools advertised to the model, which are the
// tools its calls run against, and the world state the model sees. A later
// step may see different tools and a different world.
type Step struct {
	// Tools are the tools of the step. Nil means none.
	Tools *capability.Set
	// Sections are the step's world state, in render order (SPEC-agent
	// 3.7). What changed since the model last saw it is recorded before the
	// step's request. Nil: none (and nothing is recorded).
	Sections []Section
}

// StepInfo tells a StepProvider which step is being captured.
type StepInfo struct {
	ThreadID rollout.ThreadID
	TurnID   string
	// Index is the step's number in its turn, from 0.
	Index int
	// Now is the agent's clock (Config.Now) read at the capture, for
	// sections that show the date.
	Now time.Time
}

// StepProvider captures a Step at the top of each model step. It is the seam
// where environments and capability roots are resolved per step; the
// default (StaticTools) returns the same tools every time. An error ends the
// turn with TurnComplete.Error.
type StepProvider interface {
	CaptureStep(ctx context.Context, info StepInfo) (*Step, error)
}

// StaticTools is a StepProvider that advertises the same tools at every
// step.
type StaticTools struct{ Tools *capability.Set }

// CaptureStep implements StepProvider.
func (s StaticTools) CaptureStep(context.Context, StepInfo) (*Step, error) {
	return &Step{Tools: s.Tools}, nil
}

// Config configures an agent. Zero values are documented per field.
type Config struct {
	// ThreadID is the thread the agent owns. Required.
	ThreadID rollout.ThreadID
	// AgentPath is the agent's path in its tree (for request metadata and
	// mail); "" for an agent outside a tree.
	AgentPath string
	// Model answers the agent's requests. Required.
	Model Model
	// ModelName is recorded in turn_context lines. Zero: "".
	ModelName string
	// TurnContext is the template of each turn's turn_context record (cwd,
	// model, comp_hash, multi-agent mode, ...); the agent sets its turn id.
	// Zero: a record with the turn id and ModelName only. The agent does not
	// modify it.
	TurnContext *rollout.TurnContext
	// Instructions are the base instructions of every request.
	Instructions string
	// Tools are the agent's tools, advertised at every step in this order
	// (after the built-in sleep tool). Ignored when Steps is set.
	Tools []capability.Tool
	// DisableSleep removes the built-in sleep tool (on by default).
	DisableSleep bool
	// Steps captures each step's tools and world state (Workspace is the
	// provider for environments and capability roots). Zero: StaticTools
	// over Tools (plus sleep), without world state.
	Steps StepProvider
	// SerialToolCalls clears the parallel-tool-calls flag of requests. Zero:
	// the model may emit several calls per response.
	SerialToolCalls bool
	// History is the thread's model-visible history at start (a resumed
	// thread's reconstructed history). The agent takes ownership.
	History []rollout.ResponseItem
	// Window is the context window the thread continues (SPEC-agent 3.8).
	// For a new thread, whoever writes session_meta mints window 0's id
	// (a UUIDv7), records it as session_meta.context_window.window_id and
	// passes Window{ID: id, FirstID: id}. Ids that are blank or damaged
	// count as unknown. Zero: window 0 with an id the agent mints.
	Window rollout.Window
	// PreviousTurn is the turn_context the thread's last turn ran with: its
	// model and comp_hash decide the pre-turn compaction of the next turn.
	// Zero: no previous turn (no comp_hash compaction before the first turn).
	PreviousTurn *rollout.TurnContext
	// WorldState holds the thread's surviving world_state and compacted
	// records in file order (rollout.History.WorldState); they are replayed
	// to restore what the model last saw of the world, so the first step
	// does not restate it. Records that cannot be used are logged and
	// skipped (the next step then restates the world state in full).
	WorldState []rollout.Item
	// Resume, when set, is the reconstructed state of a resumed thread
	// (rollout.LoadHistory): it replaces History, Window, PreviousTurn and
	// WorldState, and the token count starts from its last usage. The agent
	// copies the items (shallowly) and keeps nothing else of it.
	Resume *rollout.History
	// ModelFor resolves a model name (a turn_context's model) to the Model
	// serving it: a turn's requests go to ModelFor(its model), and the
	// compaction forced by a comp_hash change goes to the previous turn's
	// model. Zero: Model serves every name.
	ModelFor func(name string) (Model, error)
	// Compaction configures context windows and compaction. Zero: the
	// context window size is unknown (tokens never trigger a compaction;
	// comp_hash changes and Compact still do), default prompt and budget.
	Compaction CompactionConfig
	// Recorder persists the rollout. Zero: nothing is persisted.
	Recorder Recorder
	// HistoryMode selects the persistence policy: legacy event twins, or
	// item_completed snapshots (paginated). Zero: legacy. A mode this build
	// does not know is an error.
	HistoryMode rollout.HistoryMode
	// Inbox is the agent's mailbox. Zero: the agent gets no mail.
	Inbox Inbox
	// Sealer opens sealed mail content when a request is built (the history
	// and rollout keep it sealed). Content it cannot open is replaced, in
	// the request only, by a note saying so, with a Warning. Zero: sealed
	// content is sent as is (provider-sealed encrypted_content).
	Sealer mailbox.Sealer
	// OnTurnStart, when set, is called on the turn's goroutine right after
	// TurnStarted is emitted. OnTurnEnd is called after the terminal event,
	// before the turn's handle reports done, with the turn's result. They
	// are the reliable lifecycle signal (subscriptions may drop events);
	// they must return quickly and must not call the agent's blocking
	// methods. A panic in them is recovered and logged.
	OnTurnStart func(turnID string)
	OnTurnEnd   func(TurnResult)
	// MaxRetries bounds the retries of one model request after a retryable
	// failure. Zero: DefaultMaxRetries. Negative: no retries.
	MaxRetries int
	// EventBuffer is each subscription's buffer (events). Zero:
	// DefaultEventBuffer.
	EventBuffer int
	// NewID mints ids (turn ids, item ids after a prefix). Zero: UUIDv7.
	NewID func() string
	// Now is the clock for persisted and reported times. Zero: time.Now.
	// Waiting (backoff, sleep) uses the time package's timers, so tests use
	// testing/synctest.
	Now func() time.Time
	// Jitter returns a value in [0,1) for backoff jitter. Zero: math/rand/v2.
	Jitter func() float64
	// Logger receives warnings. Zero: slog.Default().
	Logger *slog.Logger

	// From Resume: the token usage that describes the history, and how many
	// items at its end were recorded after it.
	resumeUsage      *rollout.TokenCountInfo
	resumeItemsAfter int
}

// Defaults for Config fields left zero.
const (
	// DefaultMaxRetries is Codex's stream_max_retries default.
	DefaultMaxRetries = 5
	// DefaultEventBuffer holds a few turns of events for a subscriber that
	// is briefly slow; a subscriber slower than that loses events (counted).
	DefaultEventBuffer = 1024
)

// ErrConfig is matched by every error New returns for a bad Config.
var ErrConfig = errors.New("agent: invalid config")

func (c *Config) validate() error {
	switch {
	case c.ThreadID == "":
		return fmt.Errorf("%w: no ThreadID", ErrConfig)
	case c.Model == nil:
		return fmt.Errorf("%w: no Model", ErrConfig)
	case !c.HistoryMode.Known():
		return fmt.Errorf("%w: %w %q", ErrConfig, rollout.ErrUnsupportedHistoryMode, c.HistoryMode)
	case c.EventBuffer < 0:
		return fmt.Errorf("%w: negative EventBuffer", ErrConfig)
	}
	if err := c.Compaction.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.HistoryMode = c.HistoryMode.Normalize()
	if r := c.Resume; r != nil {
		c.History = make([]rollout.ResponseItem, len(r.Items))
		for i, it := range r.Items {
			c.History[i] = *it
		}
		c.Window = r.Window
		c.PreviousTurn = r.LastTurnContext
		c.WorldState = r.WorldState
		c.resumeUsage, c.resumeItemsAfter = r.TokenUsage, r.ItemsAfterUsage
		c.Resume = nil
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.NewID == nil {
		c.NewID = newUUIDv7
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func newUUIDv7() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system random source does; a random v4
		// keeps ids unique.
		return uuid.NewString()
	}
	return id.String()
}
