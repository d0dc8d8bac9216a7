package envtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

func newFake(t *testing.T, dir string) *envtest.Fake {
	t.Helper()
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return envtest.NewFake(local)
}

// The fake passes the conformance suite: it forwards everything to the
// environment it wraps.
func TestFakeConformance(t *testing.T) {
	envtest.TestEnvironment(t, func(t *testing.T, dir string) environment.Environment { return newFake(t, dir) })
}

func TestFakeStart(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		finish func(*envtest.Fake)
		want   error
	}{
		{"release", func(f *envtest.Fake) { f.Release(); f.Fail(boom) }, nil},
		{"fail", func(f *envtest.Fake) { f.Fail(boom); f.Release() }, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, t.TempDir())
			tt.finish(f)
			if err := f.Start(t.Context()); !errors.Is(err, tt.want) {
				t.Errorf("Start() = %v, want %v", err, tt.want)
			}
			select {
			case <-f.Started():
			default:
				t.Errorf("Started() not closed after Start")
			}
		})
	}
	t.Run("held until ctx ends", func(t *testing.T) {
		f := newFake(t, t.TempDir())
		ctx, cancel := context.WithCancelCause(t.Context())
		cause := errors.New("gave up")
		cancel(cause)
		if err := f.Start(ctx); !errors.Is(err, cause) {
			t.Errorf("Start(cancelled) = %v, want %v", err, cause)
		}
		if f.Starts() != 1 {
			t.Errorf("Starts() = %d, want 1", f.Starts())
		}
	})
}
