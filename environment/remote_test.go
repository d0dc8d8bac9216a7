package environment_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

func TestRemoteAuth(t *testing.T) {
	local := newLocal(t, t.TempDir())
	tests := []struct {
		name, server, client string
	}{
		{"wrong token", "right", "wrong"},
		{"server without token", "", "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(t, local, tt.server, tt.client)
			_, err := r.ReadFile(t.Context(), "x")
			if !errors.Is(err, environment.ErrUnauthorized) {
				t.Errorf("ReadFile() error = %v, want ErrUnauthorized", err)
			}
			if err := r.Start(t.Context()); !errors.Is(err, environment.ErrUnauthorized) {
				t.Errorf("Start() error = %v, want ErrUnauthorized", err)
			}
			// A refused handle fails its start for good.
			reg := environment.NewRegistry(environment.RegistryConfig{})
			defer reg.Close()
			h, err := reg.Register(environment.Registration{ID: "remote", Env: r})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Wait(t.Context()); !errors.Is(err, environment.ErrUnauthorized) || h.State() != environment.Failed {
				t.Errorf("Wait() = %v, state %v; want ErrUnauthorized, failed", err, h.State())
			}
		})
	}
	t.Run("missing header", func(t *testing.T) {
		srv := httptest.NewServer(environment.NewServer(local, "tok"))
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/v1/info")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/info without token: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestNewRemoteRejectsBadConfig(t *testing.T) {
	for _, cfg := range []environment.RemoteConfig{
		{URL: "", Token: "t"},
		{URL: "ftp://host", Token: "t"},
		{URL: "http://", Token: "t"},
		{URL: "http://host:1", Token: ""},
		{URL: "http://host:1", Token: "t", StartTimeout: -1},
	} {
		if _, err := environment.NewRemote(cfg); !errors.Is(err, environment.ErrInvalid) {
			t.Errorf("NewRemote(%+v) error = %v, want ErrInvalid", cfg, err)
		}
	}
}

// TestRemoteHangBoundedByContext: a server that never answers is bounded by
// the caller's context, surfaces as ErrUnavailable, and the handle reports
// disconnected until the server answers again.
func TestRemoteHangBoundedByContext(t *testing.T) {
	envtest.CheckGoroutines(t)
	local := newLocal(t, t.TempDir())
	inner := environment.NewServer(local, "tok")
	var hanging atomic.Bool
	hanging.Store(true)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hanging.Load() && r.URL.Path == "/v1/read" {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(stop)
	r, err := environment.NewRemote(environment.RemoteConfig{URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()
	h, err := reg.Register(environment.Registration{ID: "remote", Env: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(t.Context()); err != nil || h.State() != environment.Ready {
		t.Fatalf("Wait() = %v, state %v; want ready", err, h.State())
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = r.ReadFile(ctx, "x")
	if !errors.Is(err, environment.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadFile(hanging) error = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if h.State() != environment.Disconnected || h.Err() == nil {
		t.Errorf("State() = %v (err %v), want disconnected with an error", h.State(), h.Err())
	}
	hanging.Store(false)
	if _, err := r.Stat(t.Context(), "."); err != nil {
		t.Fatalf("Stat(.) after recovery error = %v", err)
	}
	if h.State() != environment.Ready {
		t.Errorf("State() after recovery = %v, want ready", h.State())
	}
}

func TestRemoteRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r, err := environment.NewRemote(environment.RemoteConfig{URL: url, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); !errors.Is(err, environment.ErrUnavailable) {
		t.Errorf("Start() error = %v, want ErrUnavailable", err)
	}
	if r.Disconnected() == nil {
		t.Errorf("Disconnected() = nil after a refused connection")
	}
}

func TestRemoteNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway from proxy", http.StatusBadGateway)
	}))
	defer srv.Close()
	r, err := environment.NewRemote(environment.RemoteConfig{URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadFile(t.Context(), "x")
	if err == nil || errors.Is(err, environment.ErrUnavailable) {
		t.Errorf("ReadFile() error = %v, want an HTTP 502 error", err)
	}
}

func TestRemoteAdvertisesRoots(t *testing.T) {
	dir := t.TempDir()
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir, CapabilityRoots: []environment.AdvertisedRoot{{ID: "skills", Path: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, local, "tok", "tok")
	if got := r.CapabilityRoots(); got != nil {
		t.Errorf("CapabilityRoots() before Start = %v, want nil", got)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.CapabilityRoots(); len(got) != 1 || got[0].ID != "skills" || got[0].Path != dir {
		t.Errorf("CapabilityRoots() = %v, want [{skills %s}]", got, dir)
	}
}

func TestRemoteStartTimeout(t *testing.T) {
	envtest.CheckGoroutines(t)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	r, err := environment.NewRemote(environment.RemoteConfig{URL: srv.URL, Token: "tok", StartTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()
	h, err := reg.Register(environment.Registration{ID: "hung", Env: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(t.Context()); !errors.Is(err, environment.ErrUnavailable) || h.State() != environment.Failed {
		t.Errorf("Wait() = %v, state %v; want ErrUnavailable, failed", err, h.State())
	}
}
