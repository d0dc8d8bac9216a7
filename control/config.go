package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
	"github.com/troupe-run/troupe/rollout/sqlitestore"
)

// Index is the part of the thread index the supervisor uses: spawn edges.
// The SQLite store of package rollout/sqlitestore implements it through a
// small adapter; tests may use any implementation. Calls may come from many
// goroutines.
type Index interface {
	// UpsertEdge records (or re-opens) the edge parent → child with the
	// given status ("open" or "closed").
	UpsertEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error
	// SetEdgeStatus changes the status of the edge that ends at child.
	SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error
	// ChildEdges lists the edges that start at parent, in a stable order.
	ChildEdges(ctx context.Context, parent rollout.ThreadID) ([]Edge, error)
}

// Edge is one spawn edge of the index.
type Edge struct {
	Parent, Child rollout.ThreadID
	// Status is EdgeOpen or EdgeClosed.
	Status string
}

// Edge statuses, as Codex writes them in thread_spawn_edges.
const (
	EdgeOpen   = "open"
	EdgeClosed = "closed"
)

// Limits bound a tree. Zero fields take the defaults below.
type Limits struct {
	// MaxDepth is the deepest a spawned agent may be (the root is 0, its
	// children 1). Zero: DefaultMaxDepth.
	MaxDepth int
	// MaxLiveAgents bounds the agents of a tree alive at once, the root
	// included. Zero: DefaultMaxLiveAgents.
	MaxLiveAgents int
	// MaxSpawns bounds the spawns of a tree over its life (closed agents
	// count; resumed ones do not count again). Zero: DefaultMaxSpawns.
	MaxSpawns int
}

// DefaultToolDeadline is Config.ToolDeadline's zero value.
const DefaultToolDeadline = time.Minute

// Default limits.
const (
	DefaultMaxDepth      = 4
	DefaultMaxLiveAgents = 32
	DefaultMaxSpawns     = 1024
)

// WaitLimits bound wait_agent's timeout_ms (Codex's min/default/max). Zero
// fields take Codex's defaults: 10 000, 30 000 and 3 600 000 ms.
type WaitLimits struct {
	Min, Default, Max time.Duration
}

// Role is a named agent type a spawn_agent call may pick with agent_type.
type Role struct {
	// Description is shown to the model in spawn_agent's description.
	Description string
	// Instructions replace the parent's base instructions when set.
	Instructions string
	// NicknameCandidates are the nicknames agents of this role get. Zero:
	// Config.Nicknames.
	NicknameCandidates []string
}

// MultiAgentMode is the delegation policy told to the model each turn.
type MultiAgentMode string

// The modes. The zero value means ModeExplicitRequestOnly.
const (
	// ModeExplicitRequestOnly: spawn sub-agents only when asked to.
	ModeExplicitRequestOnly MultiAgentMode = "explicit_request_only"
	// ModeProactive: spawn when parallel work helps.
	ModeProactive MultiAgentMode = "proactive"
)

// Config configures a Runtime. Zero values are documented per field.
type Config struct {
	// Home holds the rollouts (sessions/, archived_sessions/) and the mail
	// journal (mail/). Zero: ~/.troupe.
	Home string
	// Model answers every agent's requests. Required.
	Model agent.Model
	// ModelName is recorded in turn_context lines. Zero: "".
	ModelName string
	// Environments, when set, is where the agents work: each step of each
	// agent captures the tree's environments (ThreadOptions.Environments),
	// resolves the agent's capability roots, advertises the tools they
	// declare and records the world state (environments, roots, the
	// agent's place in its tree; see agent.Workspace). The caller closes
	// it after the runtime. Zero: agents have the configured tools only
	// and no world state.
	Environments *environment.Registry
	// Store, when set, is the thread store the runtime writes through:
	// every thread is created, resumed and appended to with the Store's
	// writers, so its index row (title, preview, parent, source, updated_at)
	// is current as the rollout is written, and spawn edges go to the same
	// Store. Home then defaults to the Store's home (a different Home is an
	// error), and Index must be nil. The caller closes the Store after the
	// Runtime. Zero: rollouts are written directly (rollout.Recorder) and
	// only Index sees the tree.
	Store *sqlitestore.Store
	// Index records spawn edges. Zero: the Store when one is given, else
	// edges are kept in memory only, so Resume restores no children.
	Index Index
	// Limits bound each tree.
	Limits Limits
	// Wait bounds wait_agent.
	Wait WaitLimits
	// Sealer seals the task text of spawn_agent, send_message and
	// followup_task. Zero: mailbox.Passthrough (the provider encrypted the
	// argument; it is forwarded as is). With a sealer that can open its own
	// output (mailbox.LocalSealer), the text is sealed as soon as the
	// parent's model emits the call, so it is plaintext only in the
	// recipient's model request.
	Sealer mailbox.Sealer
	// Roles are the agent types spawn_agent accepts. Zero: only the
	// default role.
	Roles map[string]Role
	// Originator names the embedding product in session_meta. Zero:
	// "troupe".
	Originator string
	// CLIVersion is written in session_meta. Zero: "troupe".
	CLIVersion string
	// Clock stamps persisted times. Zero: time.Now.
	Clock func() time.Time
	// NewID mints thread, turn and item ids. Zero: UUIDv7.
	NewID func() string
	// Logger receives warnings. Zero: slog.Default().
	Logger *slog.Logger
	// EventBuffer is the buffer of each tree subscription (events); a
	// subscriber that falls that far behind loses events (counted). Zero:
	// 1024.
	EventBuffer int
	// MailboxCapacity bounds each agent's inbox. Zero:
	// mailbox.DefaultCapacity.
	MailboxCapacity int
	// Compaction configures every agent's context windows and compaction
	// (agent.CompactionConfig: the model's context window, the token limit,
	// summarization or fresh windows). Zero: the agent's defaults (no
	// compaction on tokens while the context window is unknown; explicit
	// compaction through Agent.Inner().Compact still works).
	Compaction agent.CompactionConfig
	// ModelFor resolves a turn's model name to the model serving it (a
	// comp_hash change compacts with the previous turn's model). Zero:
	// Model serves every name.
	ModelFor func(name string) (agent.Model, error)
	// ToolDeadline bounds each multi-agent tool call but wait_agent (which
	// its timeout_ms bounds, within Wait.Max): a call still running then
	// (an interrupt_agent whose target does not stop, a spawn held up by a
	// slow index) is cancelled and the model gets a tool error. Zero:
	// DefaultToolDeadline. Negative: no deadline.
	ToolDeadline time.Duration
	// Nicknames are the names spawned agents get as nicknames (Codex's
	// agent_nickname, in session_meta and the index): each spawn picks one
	// at random that the tree has not used; when all are used, the names
	// come round again as "Name the 2nd", "Name the 3rd", ... Zero: a
	// built-in list of scientists and philosophers.
	Nicknames []string
	// Rand returns a uniform int in [0, n); it picks nicknames. It is
	// called with the runtime's lock held. Zero: math/rand/v2's IntN.
	Rand func(n int) int
	// TracerProvider, when set, traces the runtime with OpenTelemetry: a
	// span per agent turn (troupe.turn), per multi-agent tool call
	// (troupe.tool <name>, a child of the caller's turn) and per model
	// request (troupe.model, a child of the turn, and in the context given
	// to the Model). A spawned agent's turns are children of the
	// spawn_agent call that created it, so a tree's work is one trace. Zero:
	// no tracing.
	TracerProvider trace.TracerProvider
	// CompletionTriggersTurn makes a child's completion notice (its
	// FINAL_ANSWER mail) trigger_turn mail, so an idle parent starts a
	// turn to read it. Zero (false) is Codex's behaviour: the notice waits
	// for the parent's next turn, or wakes a running wait_agent or sleep.
	CompletionTriggersTurn bool
}

// ThreadOptions configure a root thread (Start) and are inherited by every
// agent it spawns.
type ThreadOptions struct {
	// Instructions are the base instructions of every request.
	Instructions string
	// Tools are given to the agent and its descendants, after the
	// multi-agent tools.
	Tools []capability.Tool
	// Cwd is recorded in session_meta and turn_context.
	Cwd string
	// Mode is the multi-agent mode of the root's turns. Zero:
	// ModeExplicitRequestOnly.
	Mode MultiAgentMode
	// SelectedCapabilityRoots are recorded in session_meta and inherited.
	// With Config.Environments they are resolved at each step (see
	// CapabilityRoots to build them).
	SelectedCapabilityRoots []rollout.CapabilityRoot
	// Environments are the tree's environment selections (with
	// Config.Environments). Nil: the registry's default selections.
	Environments []environment.Selection
}

// ErrConfig is matched by every error Open returns for a bad Config.
var ErrConfig = errors.New("control: invalid config")

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Model == nil {
		return cfg, fmt.Errorf("%w: no Model", ErrConfig)
	}
	if cfg.Store != nil {
		if cfg.Index != nil {
			return cfg, fmt.Errorf("%w: both Store and Index (the Store records the edges)", ErrConfig)
		}
		switch {
		case cfg.Home == "":
			cfg.Home = cfg.Store.Home()
		case filepath.Clean(cfg.Home) != filepath.Clean(cfg.Store.Home()):
			return cfg, fmt.Errorf("%w: Home %s is not the Store's home %s", ErrConfig, cfg.Home, cfg.Store.Home())
		}
		cfg.Index = SQLiteIndex(cfg.Store)
	}
	if cfg.Home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return cfg, fmt.Errorf("%w: no Home and no user home: %v", ErrConfig, err)
		}
		cfg.Home = filepath.Join(h, ".troupe")
	}
	l := &cfg.Limits
	if l.MaxDepth < 0 || l.MaxLiveAgents < 0 || l.MaxSpawns < 0 {
		return cfg, fmt.Errorf("%w: negative limit", ErrConfig)
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxLiveAgents == 0 {
		l.MaxLiveAgents = DefaultMaxLiveAgents
	}
	if l.MaxSpawns == 0 {
		l.MaxSpawns = DefaultMaxSpawns
	}
	w := &cfg.Wait
	if w.Min == 0 && w.Default == 0 && w.Max == 0 {
		w.Min, w.Default, w.Max = 10*time.Second, 30*time.Second, time.Hour
	}
	if w.Min < 0 || w.Min > w.Default || w.Default > w.Max {
		return cfg, fmt.Errorf("%w: wait limits must satisfy 0 <= Min <= Default <= Max", ErrConfig)
	}
	if cfg.Sealer == nil {
		cfg.Sealer = mailbox.Passthrough{}
	}
	if cfg.Originator == "" {
		cfg.Originator = "troupe"
	}
	if cfg.CLIVersion == "" {
		cfg.CLIVersion = "troupe"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUIDv7
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ToolDeadline == 0 {
		cfg.ToolDeadline = DefaultToolDeadline
	}
	if cfg.Rand == nil {
		cfg.Rand = defaultIntn
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = 1024
	}
	return cfg, nil
}

func newUUIDv7() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
