package environment

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// Runner runs commands inside an environment.
type Runner interface {
	// Run runs cmd to completion. A command that starts and exits, fails or
	// times out is a Result (see Result.ExitCode and Result.TimedOut), not an
	// error; the error is for a command that could not be started, bad input,
	// an unreachable environment, or ctx ending first.
	Run(ctx context.Context, cmd Command) (Result, error)
}

// Files reads and writes files inside an environment. Paths are relative to
// the environment's working directory or absolute; either way they must
// resolve, after symlinks, inside one of the environment's roots, or the
// operation fails with a *PathError wrapping ErrEscape.
type Files interface {
	// ReadFile returns the whole content of the named file.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces the named file with data, creating missing parent
	// directories.
	WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(ctx context.Context, path string) ([]DirEntry, error)
	// Stat describes the named file, following symlinks.
	Stat(ctx context.Context, path string) (FileInfo, error)
}

// Environment is where an agent's side effects happen: commands, files, a
// working directory and a shell. Consumers that need less should accept
// Runner or Files. Optional extras are upgrade interfaces: Starter,
// ConnectionReporter, RootAdvertiser and io.Closer.
type Environment interface {
	Runner
	Files
	// Info describes the environment: working directory, roots, shell.
	Info(ctx context.Context) (Info, error)
}

// Starter is implemented by environments that must be brought up (connected,
// provisioned) before use. The registry calls Start once per handle, from a
// goroutine it owns, with a context cancelled when the handle is replaced or
// the registry closes. An error makes the handle failed for good.
type Starter interface {
	Start(ctx context.Context) error
}

// PathResolver is implemented by environments that can say where a path
// really is: RealPath returns the absolute path with every symlink
// followed (components that do not exist are kept as named), or a
// *PathError wrapping ErrEscape if that lies outside the environment's
// roots. Capability roots need it to confine the files they name.
type PathResolver interface {
	RealPath(ctx context.Context, path string) (string, error)
}

// ConnectionReporter is implemented by environments whose connection can
// drop after a successful start. Disconnected returns nil while connected
// and the last connection error otherwise; it never blocks.
type ConnectionReporter interface {
	Disconnected() error
}

// RootAdvertiser is implemented by environments that advertise capability
// roots of their own (in addition to the roots a thread selects).
// CapabilityRoots never blocks; the registry only asks ready environments.
type RootAdvertiser interface {
	CapabilityRoots() []AdvertisedRoot
}

// AdvertisedRoot is a capability root an environment offers: a stable id and
// an absolute path inside that environment.
type AdvertisedRoot struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

// Command is one process to run.
type Command struct {
	// Argv is the program and its arguments; Argv[0] is looked up in PATH
	// when it has no slash. Required.
	Argv []string `json:"argv"`
	// Dir is the working directory (relative to the environment's working
	// directory, or absolute inside its roots). Empty means the environment's
	// working directory.
	Dir string `json:"dir,omitempty"`
	// Env holds extra KEY=VALUE variables added to the environment's base
	// variables (later ones win).
	Env []string `json:"env,omitempty"`
	// Stdin is fed to the process; nil means no input.
	Stdin []byte `json:"stdin,omitempty"`
	// Timeout bounds the run; zero means the environment's default. On
	// timeout the whole process group is killed.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxOutput caps the bytes kept of each of stdout and stderr; zero means
	// the environment's default. Output past the cap is read and discarded.
	MaxOutput int `json:"max_output,omitempty"`
}

// Result is the outcome of a command that started.
type Result struct {
	// ExitCode is the process exit status; -1 when it was killed by a signal
	// (including on timeout).
	ExitCode int `json:"exit_code"`
	// Stdout and Stderr hold at most Command.MaxOutput bytes each.
	Stdout []byte `json:"stdout"`
	Stderr []byte `json:"stderr"`
	// StdoutTruncated and StderrTruncated say the cap dropped output.
	StdoutTruncated bool `json:"stdout_truncated,omitempty"`
	StderrTruncated bool `json:"stderr_truncated,omitempty"`
	// TimedOut says the command was killed because its timeout expired.
	TimedOut bool `json:"timed_out,omitempty"`
	// Duration is the wall time from start to exit.
	Duration time.Duration `json:"duration"`
}

// Info describes an environment.
type Info struct {
	// Cwd is the working directory, absolute.
	Cwd string `json:"cwd"`
	// Roots are the absolute directories files may live in; Cwd is inside
	// the first one.
	Roots []string `json:"roots"`
	// Shell is the shell commands are usually run through.
	Shell Shell `json:"shell"`
	// OS is the operating system (GOOS values).
	OS string `json:"os"`
	// CapabilityRoots are the capability roots the environment advertises.
	CapabilityRoots []AdvertisedRoot `json:"capability_roots,omitempty"`
}

// Shell names a shell program.
type Shell struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// FileInfo describes a file.
type FileInfo struct {
	Name    string      `json:"name"`
	Size    int64       `json:"size"`
	Mode    fs.FileMode `json:"mode"`
	ModTime time.Time   `json:"mod_time"`
}

// IsDir reports whether the file is a directory.
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// DirEntry is one entry of a directory listing. Type holds only the type
// bits of the mode (fs.ModeDir, fs.ModeSymlink, ...).
type DirEntry struct {
	Name string      `json:"name"`
	Type fs.FileMode `json:"type"`
}

// IsDir reports whether the entry is a directory (not following symlinks).
func (e DirEntry) IsDir() bool { return e.Type.IsDir() }

var (
	// ErrEscape means a path resolves (lexically or through symlinks)
	// outside the environment's roots.
	ErrEscape = errors.New("environment: path escapes the environment's roots")
	// ErrInvalid means an argument is malformed (empty argv, bad variable).
	ErrInvalid = errors.New("environment: invalid argument")
	// ErrCommandNotFound means the program of a command does not exist.
	ErrCommandNotFound = errors.New("environment: command not found")
	// ErrUnavailable means the environment cannot be reached (not started,
	// failed, disconnected or not answering in time).
	ErrUnavailable = errors.New("environment: unavailable")
	// ErrUnauthorized means a remote environment refused the credentials.
	ErrUnauthorized = errors.New("environment: unauthorized")
)

// PathError records a file operation that failed and the path it named. It
// unwraps to the cause (ErrEscape, fs.ErrNotExist, ...).
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string {
	return "environment: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *PathError) Unwrap() error { return e.Err }
