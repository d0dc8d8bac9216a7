package environment_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

// syncBuffer is a bytes.Buffer safe for a logger used from goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRegistry(t *testing.T) (*environment.Registry, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return reg, &logs
}

func register(t *testing.T, reg *environment.Registry, r environment.Registration) *environment.Handle {
	t.Helper()
	h, err := reg.Register(r)
	if err != nil {
		t.Fatalf("Register(%s) error = %v", r.ID, err)
	}
	return h
}

func ids(entries []environment.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Selection.EnvironmentID)
	}
	return out
}

func sel(ids ...string) []environment.Selection {
	var out []environment.Selection
	for _, id := range ids {
		out = append(out, environment.Selection{EnvironmentID: id})
	}
	return out
}

// TestRegistryRegisterReplace is SPEC-environment §5.3 item 1.
func TestRegistryRegisterReplace(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	local := register(t, reg, environment.Registration{ID: "local", Env: newLocal(t, t.TempDir())})
	w1 := register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, t.TempDir())})
	if got, want := reg.DefaultIDs(), []string{"local", "worker"}; !slices.Equal(got, want) {
		t.Errorf("DefaultIDs() = %v, want %v", got, want)
	}
	w2 := register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, t.TempDir())})
	if got, _ := reg.Lookup("worker"); got != w2 || got == w1 {
		t.Errorf("Lookup(worker) = %p, want the new handle %p (old %p)", got, w2, w1)
	}
	if got, _ := reg.Lookup("local"); got != local {
		t.Errorf("Lookup(local) = %p, want %p", got, local)
	}
	if got, want := reg.DefaultIDs(), []string{"local", "worker"}; !slices.Equal(got, want) {
		t.Errorf("DefaultIDs() after replace = %v, want %v", got, want)
	}
	if _, ok := reg.Lookup("nope"); ok {
		t.Errorf("Lookup(nope) found a handle")
	}
}

func TestRegistryRejects(t *testing.T) {
	reg, _ := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	cases := []struct {
		r    environment.Registration
		want error
	}{
		{environment.Registration{ID: "", Env: fake}, environment.ErrInvalid},
		{environment.Registration{ID: "x"}, environment.ErrInvalid},
		{environment.Registration{ID: "local", Env: fake}, environment.ErrReservedID},
	}
	for _, c := range cases {
		if _, err := reg.Register(c.r); !errors.Is(err, c.want) {
			t.Errorf("Register(%+v) error = %v, want %v", c.r, err, c.want)
		}
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(environment.Registration{ID: "x", Env: fake}); !errors.Is(err, environment.ErrClosed) {
		t.Errorf("Register after Close error = %v, want ErrClosed", err)
	}
	if err := reg.Close(); err != nil {
		t.Errorf("second Close() error = %v", err)
	}
}

// TestSnapshotStartingThenReady is SPEC-environment §5.3 item 2.
func TestSnapshotStartingThenReady(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	register(t, reg, environment.Registration{ID: "local", Env: newLocal(t, t.TempDir())})
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	worker := register(t, reg, environment.Registration{ID: "worker", Env: fake})
	sels := reg.Select(sel("worker", "local"))

	snap := reg.Capture(sels)
	if got := ids(snap.Ready()); !slices.Equal(got, []string{"local"}) {
		t.Errorf("Ready() = %v, want [local]", got)
	}
	if got := ids(snap.Starting()); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("Starting() = %v, want [worker]", got)
	}
	if p, ok := snap.Primary(); !ok || p.Selection.EnvironmentID != "local" {
		t.Errorf("Primary() = %v, %v; want local", p.Selection.EnvironmentID, ok)
	}

	fake.Release()
	if err := worker.Wait(t.Context()); err != nil {
		t.Fatalf("Wait() error = %v", err)
	}
	next := reg.Capture(sels)
	if got := ids(next.Ready()); !slices.Equal(got, []string{"worker", "local"}) {
		t.Errorf("next Ready() = %v, want [worker local]", got)
	}
	if len(next.Starting()) != 0 {
		t.Errorf("next Starting() = %v, want none", ids(next.Starting()))
	}
	// The first snapshot is immutable.
	if got := ids(snap.Ready()); !slices.Equal(got, []string{"local"}) {
		t.Errorf("first snapshot Ready() changed to %v", got)
	}
}

// TestSnapshotKeepsCapturedHandle is SPEC-environment §5.3 item 3.
func TestSnapshotKeepsCapturedHandle(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	old := register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, t.TempDir())})
	sels := reg.Select(sel("worker"))
	step := reg.Capture(sels)

	newDir := t.TempDir()
	replacement := register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, newDir)})
	e, ok := step.Lookup("worker")
	if !ok || e.Handle != old || !e.Ready {
		t.Fatalf("step Lookup(worker) = %p ready %v, want the captured handle %p", e.Handle, e.Ready, old)
	}
	// The captured handle still works after replacement.
	if _, err := e.Handle.Environment().Stat(t.Context(), "."); err != nil {
		t.Errorf("captured handle Stat() error = %v", err)
	}
	next, _ := reg.Capture(sels).Lookup("worker")
	if next.Handle != replacement {
		t.Errorf("next step handle = %p, want the replacement %p", next.Handle, replacement)
	}
}

func TestReplaceCancelsStartup(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	old := register(t, reg, environment.Registration{ID: "worker", Env: fake})
	<-fake.Started()
	register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, t.TempDir())})
	<-old.Done()
	if old.State() != environment.Failed || !errors.Is(old.Err(), environment.ErrReplaced) {
		t.Errorf("old handle = %v (%v), want failed with ErrReplaced", old.State(), old.Err())
	}
}

func TestLazyStartAndFailure(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	h := register(t, reg, environment.Registration{ID: "lazy", Env: fake, Lazy: true})
	if h.State() != environment.Pending || fake.Starts() != 0 {
		t.Fatalf("lazy handle = %v with %d starts, want pending and none", h.State(), fake.Starts())
	}
	// Looking it up, listing ids and reading its state start nothing.
	reg.Lookup("lazy")
	reg.DefaultIDs()
	if h.State() != environment.Pending || fake.Starts() != 0 {
		t.Fatalf("lazy handle after lookups = %v with %d starts, want pending", h.State(), fake.Starts())
	}
	// Being captured for a step is being needed.
	snap := reg.Capture(reg.Select(sel("lazy")))
	if got := ids(snap.Starting()); !slices.Equal(got, []string{"lazy"}) {
		t.Errorf("Starting() = %v, want [lazy]", got)
	}
	<-fake.Started()
	boom := errors.New("provisioning failed")
	fake.Fail(boom)
	if err := h.Wait(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Wait() error = %v, want %v", err, boom)
	}
	if h.State() != environment.Failed {
		t.Errorf("State() = %v, want failed", h.State())
	}
	// Failure is final: nothing restarts it and snapshots drop it.
	h.Start()
	if fake.Starts() != 1 {
		t.Errorf("Starts() = %d after a failed start, want 1", fake.Starts())
	}
	if got := reg.Capture(reg.Select(sel("lazy"))).Entries(); len(got) != 0 {
		t.Errorf("Capture() of a failed env = %v, want empty", ids(got))
	}
}

func TestDisconnectedHandle(t *testing.T) {
	reg, _ := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	fake.Release()
	h := register(t, reg, environment.Registration{ID: "w", Env: fake})
	if err := h.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	lost := errors.New("connection reset")
	fake.SetDisconnected(lost)
	if h.State() != environment.Disconnected || !errors.Is(h.Err(), lost) {
		t.Errorf("State() = %v (%v), want disconnected (%v)", h.State(), h.Err(), lost)
	}
	// A disconnected handle is still the one the snapshot holds as ready.
	if got := ids(reg.Capture(sel("w")).Ready()); !slices.Equal(got, []string{"w"}) {
		t.Errorf("Ready() while disconnected = %v, want [w]", got)
	}
	fake.SetDisconnected(nil)
	if h.State() != environment.Ready {
		t.Errorf("State() after reconnect = %v, want ready", h.State())
	}
}

func TestSelectDedupesAndWarns(t *testing.T) {
	reg, logs := newRegistry(t)
	register(t, reg, environment.Registration{ID: "local", Env: newLocal(t, t.TempDir())})
	register(t, reg, environment.Registration{ID: "worker", Env: newLocal(t, t.TempDir())})
	in := []environment.Selection{
		{EnvironmentID: "worker", Cwd: "/first"},
		{EnvironmentID: "missing"},
		{EnvironmentID: "local"},
		{EnvironmentID: "worker", Cwd: "/second"},
	}
	got := reg.Select(in)
	want := []environment.Selection{{EnvironmentID: "worker", Cwd: "/first"}, {EnvironmentID: "local"}}
	if len(got) != len(want) || got[0].Cwd != "/first" || got[1].EnvironmentID != "local" {
		t.Errorf("Select() = %+v, want %+v", got, want)
	}
	if !strings.Contains(logs.String(), "environment_id=missing") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("logs = %q, want a warning naming missing", logs.String())
	}
}

// TestCloseCancelsStartsNoLeaks: Close cancels every start in flight and
// waits for the goroutines.
func TestCloseCancelsStartsNoLeaks(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg := environment.NewRegistry(environment.RegistryConfig{})
	var handles []*environment.Handle
	var fakes []*envtest.Fake
	for _, id := range []string{"a", "b", "c"} {
		f := envtest.NewFake(newLocal(t, t.TempDir()))
		fakes = append(fakes, f)
		handles = append(handles, register(t, reg, environment.Registration{ID: id, Env: f}))
	}
	lazy := envtest.NewFake(newLocal(t, t.TempDir()))
	lh := register(t, reg, environment.Registration{ID: "lazy", Env: lazy, Lazy: true})
	for _, f := range fakes {
		<-f.Started()
	}
	if err := reg.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	for _, h := range handles {
		select {
		case <-h.Done():
		default:
			t.Fatalf("handle %s not done after Close", h.ID())
		}
		if h.State() != environment.Failed || !errors.Is(h.Err(), environment.ErrClosed) {
			t.Errorf("handle %s = %v (%v), want failed with ErrClosed", h.ID(), h.State(), h.Err())
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := lh.Wait(ctx); !errors.Is(err, environment.ErrClosed) || lazy.Starts() != 0 {
		t.Errorf("lazy Wait() after Close = %v with %d starts, want ErrClosed and none", err, lazy.Starts())
	}
}

func TestWaitBoundedByContext(t *testing.T) {
	envtest.CheckGoroutines(t)
	reg, _ := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	h := register(t, reg, environment.Registration{ID: "slow", Env: fake})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v, want context.Canceled", err)
	}
	if h.State() != environment.Starting {
		t.Errorf("State() = %v, want starting (a waiter giving up does not stop the start)", h.State())
	}
	fake.Release()
	if err := h.Wait(t.Context()); err != nil || h.State() != environment.Ready {
		t.Errorf("Wait() = %v, state %v; want ready", err, h.State())
	}
}
