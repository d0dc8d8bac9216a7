package storetest

import (
	"context"
	"errors"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// Errors a store must return (wrapped as it likes) for the suite's
// checks.
var (
	ErrNotFound       = errors.New("storetest: not found")
	ErrInvalidRequest = errors.New("storetest: invalid request")
	ErrInvalidCursor  = errors.New("storetest: invalid cursor")
	ErrLive           = errors.New("storetest: thread is open for writing")
)

// Thread is what a store says about a thread.
type Thread struct {
	ID             rollout.ThreadID
	RolloutPath    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	RecencyAt      time.Time
	SourceKind     string
	ModelProvider  string
	Model          string
	Cwd            string
	Title          string
	Preview        string
	AgentPath      string
	SessionID      rollout.ThreadID
	HistoryMode    rollout.HistoryMode
	Archived       bool
	ArchivedAt     time.Time
	TokensUsed     int64
	ParentThreadID rollout.ThreadID
	ForkedFromID   rollout.ThreadID
}

// Sort orders listings, newest first.
type Sort string

// The sort keys; "" is SortCreated.
const (
	SortCreated Sort = "created"
	SortUpdated Sort = "updated"
	SortRecency Sort = "recency"
)

// Page selects a page: Limit 0 is the store's default.
type Page struct {
	Limit  int
	Cursor string
	Sort   Sort
}

// ThreadPage is a page of threads and the cursor of the next ("" at the
// end).
type ThreadPage struct {
	Threads []Thread
	Next    string
}

// ListOptions filters List (see sqlitestore.ListOptions for the
// semantics).
type ListOptions struct {
	Page
	Archived    bool
	SourceKinds []string
	Providers   []string
	Cwds        []string
	Parent      rollout.ThreadID
	Ancestor    rollout.ThreadID
}

// Edge is a spawn edge.
type Edge struct {
	Parent, Child rollout.ThreadID
	Status        string
}

// Writer appends to one thread; it belongs to one goroutine.
type Writer interface {
	ID() rollout.ThreadID
	// Append appends payloads (filtered by the persistence policy).
	Append(payloads ...rollout.Payload) error
	// Flush makes them durable and the thread's row current.
	Flush(ctx context.Context) error
	// Close flushes and closes; idempotent.
	Close() error
}

// Store is the contract of a thread store.
type Store interface {
	// Create starts a thread from meta (ID, SessionID, Timestamp and
	// HistoryMode filled by the store when empty). Nothing is visible
	// until something is appended and flushed.
	Create(ctx context.Context, meta rollout.SessionMeta) (Writer, error)
	// Resume opens an existing, unarchived thread for appending.
	Resume(ctx context.Context, id rollout.ThreadID) (Writer, error)
	Get(ctx context.Context, id rollout.ThreadID) (Thread, error)
	// Read returns the thread's row and its items in order.
	Read(ctx context.Context, id rollout.ThreadID) (Thread, []rollout.Item, error)
	List(ctx context.Context, opts ListOptions) (ThreadPage, error)
	Children(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error)
	Descendants(ctx context.Context, id rollout.ThreadID, page Page) (ThreadPage, error)
	// Archive archives a thread and its descendants.
	Archive(ctx context.Context, id rollout.ThreadID) error
	// Unarchive unarchives one thread.
	Unarchive(ctx context.Context, id rollout.ThreadID) error
	// Delete deletes a thread and its descendants, returning their ids.
	Delete(ctx context.Context, id rollout.ThreadID) ([]rollout.ThreadID, error)
	// Fork copies a thread (all turns if lastTurns is 0, else the last
	// lastTurns user turns) into a new one whose ForkedFromID is id.
	Fork(ctx context.Context, id rollout.ThreadID, lastTurns int) (rollout.ThreadID, error)
	RecordEdge(ctx context.Context, parent, child rollout.ThreadID, status string) error
	SetEdgeStatus(ctx context.Context, child rollout.ThreadID, status string) error
	SpawnChildren(ctx context.Context, parent rollout.ThreadID, status string) ([]Edge, error)
	SpawnDescendants(ctx context.Context, root rollout.ThreadID, status string) ([]Edge, error)
	// Rebuild re-derives every row from the rollouts.
	Rebuild(ctx context.Context) error
	Close() error
}
