package capability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/troupe-run/troupe/environment"
)

// ShellToolName is the name of the built-in shell tool.
const ShellToolName = "shell"

// Limits of the shell tool.
const (
	// DefaultShellTimeout bounds a command when the call gives no
	// timeout_ms.
	DefaultShellTimeout = 2 * time.Minute
	// MaxShellTimeout is the largest timeout_ms a call may ask for.
	MaxShellTimeout = 30 * time.Minute
	// DefaultShellOutput caps the bytes of stdout and of stderr kept per
	// command.
	DefaultShellOutput = 64 << 10
)

// ShellConfig configures the shell tool.
type ShellConfig struct {
	// Runner runs the commands: an environment.Environment (the local one
	// for this machine, or a remote one). Required.
	Runner environment.Runner
	// Shell is the shell program the command string is given to with -lc.
	// Zero: "bash" if the runner's environment reports none.
	Shell string
	// Timeout is the default timeout. Zero: DefaultShellTimeout.
	Timeout time.Duration
	// MaxOutput caps stdout and stderr each. Zero: DefaultShellOutput.
	MaxOutput int
	// Now measures wall time. Zero: time.Now.
	Now func() time.Time
}

// Shell is the shell tool: it runs a command line through a shell in a
// working directory of its Runner's environment, with a timeout and an
// output cap. Calls are not parallel-safe (commands may touch the same
// files), so the agent runs each alone.
type Shell struct{ cfg ShellConfig }

var _ Tool = (*Shell)(nil)

// NewShell returns the shell tool.
func NewShell(cfg ShellConfig) (*Shell, error) {
	if cfg.Runner == nil {
		return nil, fmt.Errorf("%w: shell tool without a runner", ErrInvalidSpec)
	}
	if cfg.Timeout < 0 || cfg.MaxOutput < 0 {
		return nil, fmt.Errorf("%w: negative shell timeout or output cap", ErrInvalidSpec)
	}
	if cfg.Shell == "" {
		cfg.Shell = "bash"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultShellTimeout
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = DefaultShellOutput
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Shell{cfg: cfg}, nil
}

var shellSchema = json.RawMessage(fmt.Sprintf(`{
	"type": "object",
	"properties": {
		"command": {"type": "string", "minLength": 1, "description": "The command line, run with <shell> -lc."},
		"workdir": {"type": "string", "description": "Working directory, relative to the environment's working directory or absolute. Default: the environment's working directory."},
		"timeout_ms": {"type": "integer", "minimum": 1, "maximum": %d, "description": "Timeout in milliseconds."}
	},
	"required": ["command"],
	"additionalProperties": false
}`, MaxShellTimeout.Milliseconds()))

// Spec implements Tool.
func (s *Shell) Spec() Spec {
	return Spec{
		Name:        ShellToolName,
		Description: "Run a shell command and return its exit code, wall time and output (stdout then stderr, each capped).",
		Parameters:  shellSchema,
	}
}

// Call implements Tool. A command that runs is reported in the output,
// whatever its exit code; a command that cannot start is an error output.
func (s *Shell) Call(ctx context.Context, call Call) (Output, error) {
	var args struct {
		Command   string `json:"command"`
		Workdir   string `json:"workdir"`
		TimeoutMs int64  `json:"timeout_ms"`
	}
	if err := json.Unmarshal(call.Arguments, &args); err != nil {
		return ErrorOutput("invalid arguments: %v", err), nil
	}
	if strings.TrimSpace(args.Command) == "" {
		return ErrorOutput("invalid arguments: command is empty"), nil
	}
	timeout := s.cfg.Timeout
	if args.TimeoutMs > 0 {
		timeout = min(time.Duration(args.TimeoutMs)*time.Millisecond, MaxShellTimeout)
	}
	start := s.cfg.Now()
	res, err := s.cfg.Runner.Run(ctx, environment.Command{
		Argv:      []string{s.cfg.Shell, "-lc", args.Command},
		Dir:       args.Workdir,
		Timeout:   timeout,
		MaxOutput: s.cfg.MaxOutput,
	})
	if err != nil {
		if ctx.Err() != nil {
			return Output{}, context.Cause(ctx)
		}
		if errors.Is(err, environment.ErrEscape) {
			return ErrorOutput("workdir %q is outside the environment: %v", args.Workdir, err), nil
		}
		return ErrorOutput("command could not run: %v", err), nil
	}
	wall := res.Duration
	if wall == 0 {
		wall = s.cfg.Now().Sub(start)
	}
	text := FormatShellResult(res, wall, timeout)
	return Output{Text: text, IsError: res.ExitCode != 0 || res.TimedOut, Detail: &ShellResult{
		Command:  []string{s.cfg.Shell, "-lc", args.Command},
		Workdir:  args.Workdir,
		ExitCode: res.ExitCode,
		Output:   string(res.Stdout) + string(res.Stderr),
		Duration: wall,
		TimedOut: res.TimedOut,
	}}, nil
}

// ShellResult is the Detail of a shell tool output.
type ShellResult struct {
	// Command is the argv that ran.
	Command []string
	// Workdir is the working directory the call asked for ("" for the
	// environment's).
	Workdir  string
	ExitCode int
	// Output is stdout then stderr (each capped).
	Output   string
	Duration time.Duration
	TimedOut bool
}

// ShellCommand returns the argv the shell tool runs for a call's
// arguments, and the workdir it asks for; ok is false when the arguments
// do not name a command.
func (s *Shell) ShellCommand(arguments []byte) (argv []string, workdir string, ok bool) {
	var args struct {
		Command string `json:"command"`
		Workdir string `json:"workdir"`
	}
	if json.Unmarshal(arguments, &args) != nil || args.Command == "" {
		return nil, "", false
	}
	return []string{s.cfg.Shell, "-lc", args.Command}, args.Workdir, true
}

// FormatShellResult renders a command's result for the model:
//
//	Exit code: 0
//	Wall time: 0.0123 seconds
//	Output:
//	<stdout><stderr>
//
// with notes for a timeout and truncated streams.
func FormatShellResult(res environment.Result, wall, timeout time.Duration) string {
	var b strings.Builder
	if res.TimedOut {
		fmt.Fprintf(&b, "Command timed out after %s and was killed.\n", timeout)
	}
	fmt.Fprintf(&b, "Exit code: %d\nWall time: %.4f seconds\nOutput:\n", res.ExitCode, wall.Seconds())
	b.Write(res.Stdout)
	if res.StdoutTruncated {
		b.WriteString("\n[stdout truncated]\n")
	}
	if len(res.Stderr) > 0 {
		if len(res.Stdout) > 0 && !strings.HasSuffix(string(res.Stdout), "\n") {
			b.WriteByte('\n')
		}
		b.Write(res.Stderr)
	}
	if res.StderrTruncated {
		b.WriteString("\n[stderr truncated]\n")
	}
	return b.String()
}
