package capability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/environment"
)

func newShell(t *testing.T, cfg ShellConfig) (*Shell, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	env, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runner = env
	if cfg.Shell == "" {
		cfg.Shell = "sh"
	}
	s, err := NewShell(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestShellTool(t *testing.T) {
	s, dir := newShell(t, ShellConfig{MaxOutput: 256})
	set, err := NewSet(s)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	tests := []struct {
		name, args string
		want       string // regexp
		isError    bool
	}{
		{"echo", `{"command":"echo hi"}`, `^Exit code: 0\nWall time: \d+\.\d{4} seconds\nOutput:\nhi\n$`, false},
		{"workdir", `{"command":"pwd","workdir":"sub"}`, `Output:\n` + regexp.QuoteMeta(filepath.Join(real, "sub")) + `\n$`, false},
		{"exit code", `{"command":"echo oops >&2; exit 3"}`, `^Exit code: 3\n.*Output:\noops\n$`, true},
		{"truncated", `{"command":"printf '%0300d' 0"}`, `Output:\n0{256}\n\[stdout truncated\]\n$`, false},
		{"timeout", `{"command":"sleep 5","timeout_ms":50}`, `^Command timed out after 50ms and was killed\.\nExit code: -1\n`, true},
		{"escape", `{"command":"pwd","workdir":"/"}`, `^workdir "/" is outside the environment`, true},
		{"missing workdir", `{"command":"pwd","workdir":"nope"}`, `^command could not run: `, true},
		{"empty", `{"command":""}`, `^invalid arguments: command: string of 0 characters is shorter than 1$`, true},
		{"extra", `{"command":"true","shell":"zsh"}`, `^invalid arguments: unexpected property "shell"$`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := set.Invoke(context.Background(), Call{ID: "c", Name: ShellToolName, Arguments: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatalf("Invoke error = %v", err)
			}
			if !regexp.MustCompile(`(?s)`+tt.want).MatchString(out.Text) || out.IsError != tt.isError {
				t.Errorf("output = %q (error %v), want /%s/ (error %v)", out.Text, out.IsError, tt.want, tt.isError)
			}
		})
	}
}

func TestShellCancel(t *testing.T) {
	s, _ := newShell(t, ShellConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Call(ctx, Call{Name: ShellToolName, Arguments: json.RawMessage(`{"command":"sleep 30"}`)})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Call after cancel = nil error, want the context's")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Call did not return after cancel")
	}
}

func TestNewShellErrors(t *testing.T) {
	if _, err := NewShell(ShellConfig{}); err == nil {
		t.Error("NewShell without runner = nil error")
	}
	env, err := environment.NewLocal(environment.LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewShell(ShellConfig{Runner: env, Timeout: -1}); err == nil {
		t.Error("NewShell with negative timeout = nil error")
	}
}

func TestFormatShellResult(t *testing.T) {
	got := FormatShellResult(environment.Result{ExitCode: 1, Stdout: []byte("a"), Stderr: []byte("b\n"), StderrTruncated: true}, 1500*time.Millisecond, time.Second)
	want := "Exit code: 1\nWall time: 1.5000 seconds\nOutput:\na\nb\n\n[stderr truncated]\n"
	if got != want {
		t.Errorf("FormatShellResult = %q, want %q", got, want)
	}
	if strings.Contains(got, "timed out") {
		t.Error("not timed out")
	}
}
