package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// Errors of the Runtime's methods.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("control: runtime closed")
	// ErrNotFound is returned for a thread the runtime does not know.
	ErrNotFound = errors.New("control: agent not found")
	// ErrNotRoot is returned by Resume for a sub-agent's thread: resume
	// its root, which restores the tree.
	ErrNotRoot = errors.New("control: not a root thread")
	// ErrLoaded is returned by Resume for a tree that is already live.
	ErrLoaded = errors.New("control: thread already loaded")
)

// Runtime is the supervisor: it owns every live agent, their goroutines,
// the path registry of each tree, the spawn edges and the mail between
// agents. See the package documentation.
type Runtime struct {
	cfg    Config
	model  *runtimeModel
	local  bool         // cfg.Sealer can open what it seals (tool text is sealed)
	tracer trace.Tracer // nil without Config.TracerProvider
	edges  Index
	ctx    context.Context // cancelled by Close; parent of every agent's Run
	cancel context.CancelFunc
	group  errgroup.Group

	mu       sync.Mutex
	closed   bool
	trees    map[rollout.ThreadID]*tree // by session id
	byThread map[rollout.ThreadID]*node
}

// tree is one root's tree: its registry and counters. Guarded by
// Runtime.mu, except journal (safe for concurrent use) and subs (subMu).
type tree struct {
	session rollout.ThreadID
	root    *node
	byPath  map[string]*node // live (and reserved) agents
	spawns  int
	nicks   nicknames
	journal *journal
	opts    ThreadOptions

	subMu sync.Mutex
	subs  []*Subscription
}

// Open returns a runtime over cfg.Home. It starts nothing: agents start
// with Start, Resume and Fork, and stop with Close.
func Open(ctx context.Context, cfg Config) (*Runtime, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rt := &Runtime{
		cfg:      c,
		edges:    c.Index,
		trees:    map[rollout.ThreadID]*tree{},
		byThread: map[rollout.ThreadID]*node{},
	}
	if rt.edges == nil {
		rt.edges = newMemIndex()
	}
	rt.local = canOpen(c.Sealer)
	if c.TracerProvider != nil {
		rt.tracer = c.TracerProvider.Tracer(tracerName)
	}
	rt.model = &runtimeModel{rt: rt, inner: c.Model}
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	return rt, nil
}

// canOpen reports whether s opens what it seals (a local sealer), as
// opposed to passing provider ciphertext through.
func canOpen(s mailbox.Sealer) bool {
	sealed, err := s.Seal("probe")
	if err != nil {
		return false
	}
	plain, err := s.Open(sealed)
	return err == nil && plain == "probe"
}

// Index returns the spawn-edge index the runtime writes.
func (rt *Runtime) Index() Index { return rt.edges }

// Home returns the runtime's home directory.
func (rt *Runtime) Home() string { return rt.cfg.Home }

// Close stops every agent (active turns are aborted as interrupted and
// their rollouts flushed), waits for all goroutines, and closes rollouts,
// inboxes and mail journals. Live edges stay open, so Resume restores the
// trees. Close is idempotent.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	nodes := make([]*node, 0, len(rt.byThread))
	for _, n := range rt.byThread {
		nodes = append(nodes, n)
	}
	trees := make([]*tree, 0, len(rt.trees))
	for _, t := range rt.trees {
		trees = append(trees, t)
	}
	rt.mu.Unlock()
	rt.cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop()
		}()
	}
	wg.Wait()
	err := rt.group.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	for _, n := range nodes {
		if cerr := n.release(); cerr != nil && err == nil {
			err = cerr
		}
	}
	for _, t := range trees {
		if cerr := t.journal.close(); cerr != nil && err == nil {
			err = cerr
		}
		t.closeSubs()
	}
	return err
}

// Start creates a new root thread (/root of a new tree) and starts its
// agent, idle until input is submitted.
func (rt *Runtime) Start(ctx context.Context, opts ThreadOptions) (*Agent, error) {
	return rt.startRoot(ctx, opts, "")
}

// startRoot creates an empty root thread (forkedFrom: the source of a
// ForkNone fork, else "") and starts its agent.
func (rt *Runtime) startRoot(ctx context.Context, opts ThreadOptions, forkedFrom rollout.ThreadID) (*Agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, n, err := rt.newRoot(opts)
	if err != nil {
		return nil, err
	}
	if err := n.create(ctx, rt.newMeta(n, nil, forkedFrom), nil); err != nil {
		t.journal.close()
		return nil, err
	}
	return rt.runRoot(t, n)
}

// newRoot makes the tree and root node of a new thread, with its mail
// journal open. It starts nothing.
func (rt *Runtime) newRoot(opts ThreadOptions) (*tree, *node, error) {
	id := rollout.ThreadID(rt.cfg.NewID())
	if opts.Mode == "" {
		opts.Mode = ModeExplicitRequestOnly
	}
	j, err := openJournal(rt.cfg.Home, id)
	if err != nil {
		return nil, nil, err
	}
	t := &tree{session: id, byPath: map[string]*node{}, journal: j, opts: opts}
	n := &node{rt: rt, tree: t, id: id, path: RootPath, originator: rt.cfg.Originator,
		roots: opts.SelectedCapabilityRoots, instructions: opts.Instructions, mode: opts.Mode}
	n.init()
	return t, n, nil
}

// runRoot registers a new tree whose root's rollout exists and starts the
// root, idle.
func (rt *Runtime) runRoot(t *tree, n *node) (*Agent, error) {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		n.rec.Close()
		t.journal.close()
		return nil, ErrClosed
	}
	t.root = n
	t.byPath[n.path.String()] = n
	rt.trees[n.id] = t
	rt.byThread[n.id] = n
	rt.mu.Unlock()
	if err := rt.run(n, StatusIdle); err != nil {
		return nil, err
	}
	return &Agent{n: n}, nil
}

// newMeta builds the session_meta of a new thread.
func (rt *Runtime) newMeta(n *node, parent *node, forkedFrom rollout.ThreadID) *rollout.SessionMeta {
	now := rt.cfg.Clock()
	m := &rollout.SessionMeta{
		SessionID:               n.tree.session,
		ID:                      n.id,
		ForkedFromID:            forkedFrom,
		Timestamp:               rollout.FormatTimestamp(now),
		Cwd:                     n.tree.opts.Cwd,
		Originator:              n.originator,
		CLIVersion:              rt.cfg.CLIVersion,
		SelectedCapabilityRoots: n.roots,
		HistoryMode:             rollout.HistoryModeLegacy,
		BaseInstructions:        instructionsJSON(n.instructions),
		MultiAgentVersion:       "v2",
	}
	if parent == nil {
		m.Source = []byte(`"exec"`)
		m.ThreadSource = "user"
		return m
	}
	m.ParentThreadID = parent.id
	m.ThreadSource = "subagent"
	m.AgentPath = n.path.String()
	m.AgentNickname = n.nickname
	m.AgentRole = n.role
	var role *string
	if n.role != "" {
		role = &n.role
	}
	src, err := rollout.SubagentSource(rollout.SubagentSpawn{ParentThreadID: parent.id, Depth: n.path.Depth(),
		AgentPath: n.path.String(), AgentNickname: n.nickname, AgentRole: role})
	if err == nil {
		m.Source = src
	}
	return m
}

// instructionsJSON is session_meta.base_instructions: {"text": ...}.
func instructionsJSON(s string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"text": s})
	return b
}

// run starts n's agent and its watcher under the runtime's group. n must be
// registered; on failure it is unregistered.
func (rt *Runtime) run(n *node, initial StatusKind) error {
	if err := n.build(initial); err != nil {
		rt.unregister(n)
		n.release()
		return err
	}
	rt.group.Go(func() error {
		err := n.agent.Run(rt.ctx)
		if errors.Is(err, context.Canceled) || errors.Is(err, agent.ErrRunning) {
			// Canceled: the runtime closed. ErrRunning: Close stopped the
			// agent before Run began.
			return nil
		}
		return err
	})
	rt.group.Go(func() error {
		n.watch()
		return nil
	})
	return nil
}

// unregister removes n from the registries.
func (rt *Runtime) unregister(n *node) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if cur := n.tree.byPath[n.path.String()]; cur == n {
		delete(n.tree.byPath, n.path.String())
	}
	if cur := rt.byThread[n.id]; cur == n {
		delete(rt.byThread, n.id)
	}
}

// lookup returns the live node of thread id.
func (rt *Runtime) lookup(id rollout.ThreadID) (*node, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, ErrClosed
	}
	n := rt.byThread[id]
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return n, nil
}

// Agent returns the handle of a live agent.
func (rt *Runtime) Agent(id rollout.ThreadID) (*Agent, error) {
	n, err := rt.lookup(id)
	if err != nil {
		return nil, err
	}
	return &Agent{n: n}, nil
}

// AgentInfo describes a live agent.
type AgentInfo struct {
	ThreadID rollout.ThreadID
	// Parent is the parent's thread ("" for a root).
	Parent    rollout.ThreadID
	SessionID rollout.ThreadID
	Path      Path
	Nickname  string
	Role      string
	Status    Status
	// LastActivity is when the agent's status last changed.
	LastActivity time.Time
}

// Tree lists the live agents of the tree that thread id belongs to, root
// first, then by path.
func (rt *Runtime) Tree(id rollout.ThreadID) ([]AgentInfo, error) {
	n, err := rt.lookup(id)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	nodes := make([]*node, 0, len(n.tree.byPath))
	for _, m := range n.tree.byPath {
		if m.agent != nil {
			nodes = append(nodes, m)
		}
	}
	rt.mu.Unlock()
	slices.SortFunc(nodes, func(a, b *node) int { return comparePaths(a.path, b.path) })
	out := make([]AgentInfo, len(nodes))
	for i, m := range nodes {
		out[i] = m.info()
	}
	return out, nil
}

// comparePaths orders the root first, then paths lexically.
func comparePaths(a, b Path) int {
	if a.IsRoot() != b.IsRoot() {
		if a.IsRoot() {
			return -1
		}
		return 1
	}
	return strings.Compare(a.String(), b.String())
}

// Status returns the status of thread id (StatusNotFound when not live).
func (rt *Runtime) Status(id rollout.ThreadID) Status {
	n, err := rt.lookup(id)
	if err != nil {
		return Status{Kind: StatusNotFound}
	}
	return n.status()
}

// CloseAgent stops thread id and its descendants and marks their spawn
// edges closed. The root of a tree cannot be closed this way (close the
// runtime, or stop using the tree).
func (rt *Runtime) CloseAgent(ctx context.Context, id rollout.ThreadID) (Status, error) {
	n, err := rt.lookup(id)
	if err != nil {
		return Status{}, err
	}
	if n.path.IsRoot() {
		return Status{}, toolError("root is not a spawned agent")
	}
	return rt.closeSubtree(ctx, n)
}

// closeSubtree marks the edges of n and its live descendants closed
// (parent first), then stops them (deepest first) and unregisters them.
func (rt *Runtime) closeSubtree(ctx context.Context, n *node) (Status, error) {
	prev := n.status()
	rt.mu.Lock()
	var sub []*node
	for _, m := range n.tree.byPath {
		if m.path.HasPrefix(n.path) && m.agent != nil {
			sub = append(sub, m)
		}
	}
	rt.mu.Unlock()
	slices.SortFunc(sub, func(a, b *node) int { return comparePaths(a.path, b.path) })
	for _, m := range sub {
		if err := rt.edges.SetEdgeStatus(ctx, m.id, EdgeClosed); err != nil {
			return prev, fmt.Errorf("control: close %s: %w", m.path, err)
		}
	}
	for i := len(sub) - 1; i >= 0; i-- {
		m := sub[i]
		m.closing.Store(true)
		m.stop()
		<-m.watched
		rt.unregister(m)
		m.release()
	}
	return prev, nil
}
