package envtest

import (
	"context"
	"errors"
	"sync"

	"github.com/troupe-run/troupe/environment"
)

// Fake wraps an environment and lets a test decide when, and how, its
// start ends: Start blocks until Release or Fail is called (or its context
// ends). It can also pretend to lose its connection and advertise
// capability roots. Its methods are safe for concurrent use.
type Fake struct {
	environment.Environment

	mu           sync.Mutex
	starts       int
	started      chan struct{} // closed on the first Start call
	release      chan struct{} // closed by Release or Fail
	failErr      error
	disconnected error
	roots        []environment.AdvertisedRoot
}

var (
	_ environment.Environment        = (*Fake)(nil)
	_ environment.Starter            = (*Fake)(nil)
	_ environment.ConnectionReporter = (*Fake)(nil)
	_ environment.RootAdvertiser     = (*Fake)(nil)
	_ environment.PathResolver       = (*Fake)(nil)
)

// NewFake returns a Fake around env whose start is held until Release or
// Fail.
func NewFake(env environment.Environment) *Fake {
	return &Fake{Environment: env, started: make(chan struct{}), release: make(chan struct{})}
}

// Start implements environment.Starter: it waits for Release (nil), Fail
// (that error) or ctx (its cause).
func (f *Fake) Start(ctx context.Context) error {
	f.mu.Lock()
	f.starts++
	if f.starts == 1 {
		close(f.started)
	}
	release := f.release
	f.mu.Unlock()
	select {
	case <-release:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.failErr
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Release lets Start succeed. Calling Release or Fail again does nothing.
func (f *Fake) Release() { f.finish(nil) }

// Fail makes Start fail with err (a generic error if err is nil).
func (f *Fake) Fail(err error) {
	if err == nil {
		err = errors.New("envtest: start failed")
	}
	f.finish(err)
}

func (f *Fake) finish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.release:
		return
	default:
	}
	f.failErr = err
	close(f.release)
}

// Started returns a channel closed when Start is first called.
func (f *Fake) Started() <-chan struct{} { return f.started }

// Starts returns how many times Start was called.
func (f *Fake) Starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts
}

// SetDisconnected makes Disconnected report err (nil: connected again).
func (f *Fake) SetDisconnected(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnected = err
}

// Disconnected implements environment.ConnectionReporter.
func (f *Fake) Disconnected() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disconnected
}

// SetCapabilityRoots sets the roots the fake advertises; nil falls back
// to the wrapped environment's.
func (f *Fake) SetCapabilityRoots(roots []environment.AdvertisedRoot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roots = append([]environment.AdvertisedRoot(nil), roots...)
}

// CapabilityRoots implements environment.RootAdvertiser.
func (f *Fake) CapabilityRoots() []environment.AdvertisedRoot {
	f.mu.Lock()
	roots := f.roots
	f.mu.Unlock()
	if roots != nil {
		return append([]environment.AdvertisedRoot(nil), roots...)
	}
	if ra, ok := f.Environment.(environment.RootAdvertiser); ok {
		return ra.CapabilityRoots()
	}
	return nil
}

// RealPath implements environment.PathResolver by asking the wrapped
// environment, which must implement it.
func (f *Fake) RealPath(ctx context.Context, path string) (string, error) {
	pr, ok := f.Environment.(environment.PathResolver)
	if !ok {
		return "", errors.New("envtest: wrapped environment cannot resolve paths")
	}
	return pr.RealPath(ctx, path)
}
