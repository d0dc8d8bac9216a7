package capability_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
)

func TestDeclaredToolConvention(t *testing.T) {
	h := newHarness(t)
	_, res := h.step(t, []string{"local"}, []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("alpha", "local", filepath.Join(h.dir, "roots", "alpha"))})
	a, ok := res.Root("alpha")
	if !ok || len(a.Tools) == 0 {
		t.Fatalf("alpha = %+v, %v; want tools", a, ok)
	}
	echo := a.Tools[0]
	out, err := a.Handle.Environment().Run(t.Context(), echo.CommandFor([]byte(`{"x":"hi"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := echo.OutputOf(out); got.IsError || got.Text != `{"x":"hi"}` {
		t.Errorf("OutputOf(echo) = %+v, want the arguments echoed", got)
	}

	tests := []struct {
		res       environment.Result
		wantError bool
		contains  []string
	}{
		{environment.Result{ExitCode: 0, Stdout: []byte("ok"), StdoutTruncated: true}, false, []string{"ok", "[stdout truncated]"}},
		{environment.Result{ExitCode: 2, Stdout: []byte("partial"), Stderr: []byte("boom")}, true, []string{"exited with status 2", "partial", "boom"}},
		{environment.Result{ExitCode: -1, TimedOut: true, Duration: 1500 * time.Millisecond}, true, []string{"timed out after 1.5s"}},
	}
	for _, tt := range tests {
		got := echo.OutputOf(tt.res)
		if got.IsError != tt.wantError {
			t.Errorf("OutputOf(%+v).IsError = %v, want %v", tt.res, got.IsError, tt.wantError)
		}
		for _, c := range tt.contains {
			if !strings.Contains(got.Text, c) {
				t.Errorf("OutputOf(%+v) = %q, want it to contain %q", tt.res, got.Text, c)
			}
		}
	}
}
