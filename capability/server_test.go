package capability_test

import (
	"net/http/httptest"
	"testing"

	"github.com/troupe-run/troupe/environment"
)

func newServer(t testing.TB, env environment.Environment) string {
	t.Helper()
	srv := httptest.NewServer(environment.NewServer(env, "tok"))
	t.Cleanup(srv.Close)
	return srv.URL
}
