package environment_test

import (
	"net/http/httptest"
	"testing"

	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

func newLocal(t *testing.T, dir string) *environment.Local {
	t.Helper()
	env, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatalf("NewLocal(%q) error = %v", dir, err)
	}
	return env
}

// serve serves env over a loopback httptest server and returns a Remote
// speaking to it.
func serve(t *testing.T, env environment.Environment, serverToken, clientToken string) *environment.Remote {
	t.Helper()
	srv := httptest.NewServer(environment.NewServer(env, serverToken))
	t.Cleanup(srv.Close)
	r, err := environment.NewRemote(environment.RemoteConfig{URL: srv.URL, Token: clientToken})
	if err != nil {
		t.Fatalf("NewRemote(%q) error = %v", srv.URL, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestLocalConformance(t *testing.T) {
	envtest.TestEnvironment(t, func(t *testing.T, dir string) environment.Environment {
		return newLocal(t, dir)
	})
}

// TestRemoteConformance is SPEC-environment §5.3 item 9: a remote
// environment served over loopback passes the same suite as the local one.
func TestRemoteConformance(t *testing.T) {
	envtest.TestEnvironment(t, func(t *testing.T, dir string) environment.Environment {
		return serve(t, newLocal(t, dir), "s3cret", "s3cret")
	})
}
