package environment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of LocalConfig.
const (
	DefaultTimeout   = 2 * time.Minute
	DefaultMaxOutput = 1 << 20
	// MaxCapabilityRoots is the most capability roots an environment may
	// advertise.
	MaxCapabilityRoots = 256
)

// LocalConfig configures a Local environment.
type LocalConfig struct {
	// Dir is the working directory and the first root. Required; made
	// absolute against the process's working directory. It must exist.
	Dir string
	// Roots are further directories file operations may touch.
	Roots []string
	// Shell is reported by Info. Zero: bash if found in PATH, else /bin/sh.
	Shell Shell
	// Env is the base environment of commands (KEY=VALUE). Nil: the
	// process's environment.
	Env []string
	// Timeout is the default command timeout. Zero: DefaultTimeout.
	Timeout time.Duration
	// MaxOutput is the default per-stream output cap. Zero: DefaultMaxOutput.
	MaxOutput int
	// CapabilityRoots are advertised to the registry (at most
	// MaxCapabilityRoots, unique non-empty ids, absolute paths). Nil: none.
	CapabilityRoots []AdvertisedRoot
	// Now is the clock for Result.Duration. Nil: time.Now.
	Now func() time.Time
}

// Local is an environment on this machine: a directory tree, commands run
// through os/exec. Its methods are safe for concurrent use. Confinement
// covers file operations and command working directories; what a command
// itself does is not sandboxed.
type Local struct {
	cfg  LocalConfig
	conf *confiner
	tmp  atomic.Uint64 // names temp files of concurrent writes apart
}

var (
	_ Environment    = (*Local)(nil)
	_ RootAdvertiser = (*Local)(nil)
	_ PathResolver   = (*Local)(nil)
)

// NewLocal validates cfg and returns the environment. It starts nothing.
func NewLocal(cfg LocalConfig) (*Local, error) {
	conf, err := newConfiner(cfg.Dir, cfg.Roots)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.MaxOutput < 0 {
		return nil, fmt.Errorf("%w: negative timeout or output cap", ErrInvalid)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.Shell == (Shell{}) {
		cfg.Shell = Shell{Name: "sh", Path: "/bin/sh"}
		if p, err := exec.LookPath("bash"); err == nil {
			cfg.Shell = Shell{Name: "bash", Path: p}
		}
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if err := checkEnv(cfg.Env); err != nil {
		return nil, err
	}
	if err := ValidateAdvertisedRoots(cfg.CapabilityRoots); err != nil {
		return nil, err
	}
	cfg.Roots = slices.Clone(cfg.Roots)
	cfg.CapabilityRoots = slices.Clone(cfg.CapabilityRoots)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Local{cfg: cfg, conf: conf}, nil
}

// ValidateAdvertisedRoots checks roots an environment advertises: at most
// MaxCapabilityRoots, unique non-empty ids, absolute paths.
func ValidateAdvertisedRoots(roots []AdvertisedRoot) error {
	if len(roots) > MaxCapabilityRoots {
		return fmt.Errorf("%w: %d capability roots advertised, at most %d allowed", ErrInvalid, len(roots), MaxCapabilityRoots)
	}
	seen := make(map[string]bool, len(roots))
	for _, r := range roots {
		switch {
		case r.ID == "":
			return fmt.Errorf("%w: capability root with empty id", ErrInvalid)
		case seen[r.ID]:
			return fmt.Errorf("%w: duplicate capability root id %q", ErrInvalid, r.ID)
		case !filepath.IsAbs(r.Path):
			return fmt.Errorf("%w: capability root %q: path %q is not absolute", ErrInvalid, r.ID, r.Path)
		}
		seen[r.ID] = true
	}
	return nil
}

func checkEnv(env []string) error {
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("%w: environment variable %q is not KEY=VALUE", ErrInvalid, kv)
		}
	}
	return nil
}

// Info implements Environment.
func (l *Local) Info(ctx context.Context) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	info := Info{Cwd: l.conf.cwd, Shell: l.cfg.Shell, OS: runtime.GOOS, CapabilityRoots: slices.Clone(l.cfg.CapabilityRoots)}
	for _, r := range l.conf.roots {
		info.Roots = append(info.Roots, r.given)
	}
	return info, nil
}

// CapabilityRoots implements RootAdvertiser.
func (l *Local) CapabilityRoots() []AdvertisedRoot { return slices.Clone(l.cfg.CapabilityRoots) }

// Run implements Runner. The process runs in its own process group, which
// is killed when the timeout expires or ctx is cancelled.
func (l *Local) Run(ctx context.Context, c Command) (Result, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return Result{}, fmt.Errorf("%w: empty command", ErrInvalid)
	}
	for _, a := range c.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return Result{}, fmt.Errorf("%w: NUL byte in command argument", ErrInvalid)
		}
	}
	if c.Timeout < 0 || c.MaxOutput < 0 {
		return Result{}, fmt.Errorf("%w: negative timeout or output cap", ErrInvalid)
	}
	if err := checkEnv(c.Env); err != nil {
		return Result{}, err
	}
	dir := l.conf.cwd
	if c.Dir != "" {
		rootDir, rel, err := l.conf.resolve("run", c.Dir)
		if err != nil {
			return Result{}, err
		}
		dir = filepath.Join(rootDir, rel)
		fi, err := os.Stat(dir)
		if err != nil {
			return Result{}, &PathError{Op: "run", Path: c.Dir, Err: err}
		}
		if !fi.IsDir() {
			return Result{}, &PathError{Op: "run", Path: c.Dir, Err: fmt.Errorf("%w: not a directory", ErrInvalid)}
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	timeout := cmp(c.Timeout, l.cfg.Timeout)
	limit := cmp(c.MaxOutput, l.cfg.MaxOutput)

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(slices.Clip(l.cfg.Env), c.Env...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	stdout, stderr := &capped{max: limit}, &capped{max: limit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcessGroup(cmd)
	// Grandchildren outside the group may hold the pipes open; stop waiting
	// for them shortly after the process itself is gone.
	cmd.WaitDelay = time.Second

	start := l.cfg.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("%w: %s", ErrCommandNotFound, c.Argv[0])
		}
		return Result{}, fmt.Errorf("environment: start %s: %w", c.Argv[0], err)
	}
	waitErr := cmd.Wait()
	res := Result{
		ExitCode:        cmd.ProcessState.ExitCode(),
		Stdout:          stdout.buf,
		Stderr:          stderr.buf,
		StdoutTruncated: stdout.truncated,
		StderrTruncated: stderr.truncated,
		Duration:        l.cfg.Now().Sub(start),
	}
	if res.Stdout == nil {
		res.Stdout = []byte{}
	}
	if res.Stderr == nil {
		res.Stderr = []byte{}
	}
	if runCtx.Err() != nil {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("environment: run %s: %w", c.Argv[0], context.Cause(ctx))
		}
		res.TimedOut = true
		return res, nil
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("environment: run %s: %w", c.Argv[0], waitErr)
	}
	return res, nil
}

func cmp[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// capped keeps the first max bytes written and drops the rest, so a
// chatty command never blocks on a full pipe nor grows memory.
type capped struct {
	buf       []byte
	max       int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.truncated = true
	return len(p), nil
}

// open resolves name and opens its root.
func (l *Local) open(ctx context.Context, op, name string) (*os.Root, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	dir, rel, err := l.conf.resolve(op, name)
	if err != nil {
		return nil, "", err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", &PathError{Op: op, Path: name, Err: err}
	}
	return r, rel, nil
}

// ReadFile implements Files.
func (l *Local) ReadFile(ctx context.Context, name string) ([]byte, error) {
	r, rel, err := l.open(ctx, "read", name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := r.ReadFile(rel)
	if err != nil {
		return nil, &PathError{Op: "read", Path: name, Err: unwrapFS(err)}
	}
	return data, nil
}

// WriteFile implements Files. The file is replaced atomically (temp file,
// fsync, rename), so a failed write leaves the old content in place.
func (l *Local) WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode) error {
	if perm == 0 {
		perm = 0o644
	}
	r, rel, err := l.open(ctx, "write", name)
	if err != nil {
		return err
	}
	defer r.Close()
	if rel == "." {
		return &PathError{Op: "write", Path: name, Err: fmt.Errorf("%w: is a root directory", ErrInvalid)}
	}
	if err := writeAtomic(r, rel, data, perm.Perm(), l.tmp.Add(1)); err != nil {
		return &PathError{Op: "write", Path: name, Err: unwrapFS(err)}
	}
	return nil
}

func writeAtomic(r *os.Root, rel string, data []byte, perm fs.FileMode, seq uint64) error {
	if fi, err := r.Stat(rel); err == nil && fi.IsDir() {
		return fmt.Errorf("%w: is a directory", ErrInvalid)
	}
	parent := filepath.Dir(rel)
	if err := r.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(parent, "."+filepath.Base(rel)+".tmp-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(seq, 36))
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Chmod(tmp, perm)
	}
	if err == nil {
		err = r.Rename(tmp, rel)
	}
	if err != nil {
		_ = r.Remove(tmp)
		return err
	}
	if d, err := r.Open(parent); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadDir implements Files.
func (l *Local) ReadDir(ctx context.Context, name string) ([]DirEntry, error) {
	r, rel, err := l.open(ctx, "readdir", name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(rel)
	if err != nil {
		return nil, &PathError{Op: "readdir", Path: name, Err: unwrapFS(err)}
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, &PathError{Op: "readdir", Path: name, Err: unwrapFS(err)}
	}
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name(), Type: e.Type()}
	}
	slices.SortFunc(out, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Stat implements Files.
func (l *Local) Stat(ctx context.Context, name string) (FileInfo, error) {
	r, rel, err := l.open(ctx, "stat", name)
	if err != nil {
		return FileInfo{}, err
	}
	defer r.Close()
	fi, err := r.Stat(rel)
	if err != nil {
		return FileInfo{}, &PathError{Op: "stat", Path: name, Err: unwrapFS(err)}
	}
	return FileInfo{Name: filepath.Base(filepath.Clean(name)), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime()}, nil
}

// unwrapFS drops the os-level *fs.PathError (whose path is relative to an
// internal root) so the caller's PathError names the caller's path. A
// refusal by os.Root to leave the root becomes ErrEscape.
func unwrapFS(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return ErrEscape
	}
	return err
}

// RealPath implements PathResolver.
func (l *Local) RealPath(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir, rel, err := l.conf.resolve("realpath", name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, rel), nil
}
