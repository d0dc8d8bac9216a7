package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
)

// Compactor defaults (Codex's).
const (
	DefaultColdAfter       = 7 * 24 * time.Hour
	DefaultMarkerStaleness = 6 * time.Hour
	DefaultMaxInFlight     = 2
)

// CompressionMarker is the run marker's name under HOME/.tmp.
const CompressionMarker = "rollout-compression.lock"

// CompactorConfig configures a Compactor.
type CompactorConfig struct {
	// Home is the Codex/troupe home holding sessions/ and
	// archived_sessions/. Required.
	Home string
	// ColdAfter is the age (by modification time) from which a rollout is
	// cold and gets compressed; 0 means DefaultColdAfter.
	ColdAfter time.Duration
	// MarkerStaleness is how long the run marker blocks another run: runs
	// are throttled to one per window, and a marker older than this (left
	// by a crash) is reclaimed. 0 means DefaultMarkerStaleness. Temp files
	// older than this are removed as stale.
	MarkerStaleness time.Duration
	// IgnoreThrottle lets a run start within the window of a completed
	// run's marker (a manual `compress`); a run in progress still blocks.
	IgnoreThrottle bool
	// MaxInFlight bounds the files compressed at once; 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// Level is the zstd level; 0 means DefaultCompressionLevel.
	Level int
	// DryRun reports what a run would compress and changes nothing: no
	// marker, no temp cleanup, no metrics.
	DryRun bool
	// Clock gives the current time for ages and the marker; nil means
	// time.Now.
	Clock func() time.Time
	// Logger receives per-file failures and run summaries; nil discards.
	Logger *slog.Logger
	// MeterProvider provides the compression instruments; nil means no-op.
	MeterProvider metric.MeterProvider
	// Progress, if set, is called once per rollout file looked at, one
	// call at a time, in completion order.
	Progress func(FileResult)
}

// RunReport summarizes a compaction run.
type RunReport struct {
	Status RunStatus
	// Files by outcome.
	Scanned, Compressed, Skipped, Failed, WouldCompress int
	// SourceBytes and CompressedBytes sum the compressed files (for a dry
	// run, SourceBytes sums the files that would be compressed).
	SourceBytes, CompressedBytes int64
	// TempsRemoved counts stale temp files cleaned up.
	TempsRemoved int
	// Failures lists the files that failed, each with its Err.
	Failures []FileResult
	Duration time.Duration
}

// Compactor compresses cold rollouts of a home into their .jsonl.zst
// form (see CompressFile for what happens to one file). It is owned by
// the store that opts into it: Run it in a goroutine the store waits for,
// and cancel its context to stop it.
type Compactor struct {
	cfg     CompactorConfig
	metrics *compressionMetrics
	log     *slog.Logger
	corrupt func(io.Writer) io.Writer // tests: damage compressed output
}

// NewCompactor validates cfg and fills defaults. It starts nothing.
func NewCompactor(cfg CompactorConfig) (*Compactor, error) {
	if cfg.Home == "" {
		return nil, errors.New("rollout: compactor: no home")
	}
	if cfg.ColdAfter < 0 || cfg.MarkerStaleness < 0 || cfg.MaxInFlight < 0 || cfg.Level < 0 || cfg.Level > 22 {
		return nil, errors.New("rollout: compactor: negative duration, limit or level out of range")
	}
	if cfg.ColdAfter == 0 {
		cfg.ColdAfter = DefaultColdAfter
	}
	if cfg.MarkerStaleness == 0 {
		cfg.MarkerStaleness = DefaultMarkerStaleness
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newCompressionMetrics(cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	return &Compactor{cfg: cfg, metrics: m, log: log}, nil
}

// Run does one compaction run and returns when it is done or ctx is
// cancelled; either way every file in flight has finished (or been
// abandoned, its temp file removed) and no goroutine is left.
//
// A run first claims the marker HOME/.tmp/rollout-compression.lock: if
// another run holds it, or a completed run left it less than
// MarkerStaleness ago, Run returns at once with Status
// RunSkippedDuplicate and no error. It then removes stale temp files, and
// compresses cold rollouts of archived_sessions/ and then sessions/, at
// most MaxInFlight at a time. A file that fails (for example a .zst that
// does not verify) is reported in RunReport.Failures and logged, its plain
// file kept; it does not fail the run. On success the marker is kept, to
// throttle the next run; on cancellation or error it is removed and Run
// returns the error with Status RunFailed.
func (c *Compactor) Run(ctx context.Context) (RunReport, error) {
	start := time.Now()
	var rep RunReport
	var marker *os.File
	if !c.cfg.DryRun {
		var err error
		marker, err = c.claim()
		if err != nil {
			rep.Status = RunFailed
			c.metrics.runDone(ctx, RunFailed, time.Since(start))
			return rep, err
		}
		if marker == nil {
			rep.Status = RunSkippedDuplicate
			c.metrics.runStatus(ctx, RunSkippedDuplicate)
			c.log.Debug("rollout compression skipped: marker held or recent", "home", c.cfg.Home)
			return rep, nil
		}
		c.metrics.runStatus(ctx, RunStarted)
		rep.TempsRemoved = c.cleanTemps(ctx)
	}
	err := c.compressAll(ctx, &rep)
	rep.Duration = time.Since(start)
	rep.Status = RunCompleted
	if err != nil {
		rep.Status = RunFailed
	}
	if c.cfg.DryRun {
		return rep, err
	}
	c.metrics.runDone(context.WithoutCancel(ctx), rep.Status, rep.Duration)
	if rerr := c.release(marker, err == nil); err == nil {
		err = rerr
	}
	c.log.Info("rollout compression run", "status", rep.Status, "compressed", rep.Compressed,
		"skipped", rep.Skipped, "failed", rep.Failed, "source_bytes", rep.SourceBytes,
		"compressed_bytes", rep.CompressedBytes, "duration", rep.Duration)
	return rep, err
}

// compressAll walks archived_sessions/ then sessions/ and compresses with
// bounded fan-out.
func (c *Compactor) compressAll(ctx context.Context, rep *RunReport) error {
	// One compressor per slot, so encoders are reused; the channel holds
	// exactly the slots.
	pool := make(chan *fileCompressor, c.cfg.MaxInFlight)
	for range c.cfg.MaxInFlight {
		pool <- &fileCompressor{level: c.cfg.Level, olderThan: c.cfg.ColdAfter, dryRun: c.cfg.DryRun, corrupt: c.corrupt}
	}
	defer func() {
		for range c.cfg.MaxInFlight {
			(<-pool).close()
		}
	}()
	var mu sync.Mutex // guards rep and serializes Progress
	now := c.cfg.Clock()
	var g errgroup.Group
	g.SetLimit(c.cfg.MaxInFlight)
	var walkErr error
	for _, root := range []string{filepath.Join(c.cfg.Home, ArchivedDir), filepath.Join(c.cfg.Home, SessionsDir)} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				c.log.Warn("rollout compression: unreadable directory skipped", "path", p, "err", err)
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			fi, perr := ParseFileName(d.Name())
			if perr != nil || fi.Compressed {
				return nil
			}
			g.Go(func() error {
				fc := <-pool
				defer func() { pool <- fc }()
				fc.now = now
				res := fc.compress(ctx, p)
				if res.Err != nil && ctx.Err() != nil && errors.Is(res.Err, ctx.Err()) {
					// Abandoned on cancellation: not the file's fault.
					res.Outcome, res.Reason, res.Err = OutcomeSkipped, "cancelled", nil
				}
				if !c.cfg.DryRun {
					c.metrics.fileDone(context.WithoutCancel(ctx), res)
				}
				if res.Err != nil {
					c.log.Error("rollout compression failed; plain file kept", "path", res.Path, "err", res.Err)
				}
				mu.Lock()
				defer mu.Unlock()
				rep.add(res)
				if c.cfg.Progress != nil {
					c.cfg.Progress(res)
				}
				return nil
			})
			return nil
		})
		if err != nil {
			walkErr = err
			break
		}
	}
	g.Wait() // drain what was launched, even after an error
	if walkErr != nil {
		return fmt.Errorf("rollout: compression run: %w", walkErr)
	}
	return ctx.Err()
}

func (r *RunReport) add(res FileResult) {
	r.Scanned++
	switch res.Outcome {
	case OutcomeCompressed:
		r.Compressed++
		r.SourceBytes += res.SourceBytes
		r.CompressedBytes += res.CompressedBytes
	case OutcomeWouldCompress:
		r.WouldCompress++
		r.SourceBytes += res.SourceBytes
	case OutcomeFailed:
		r.Failed++
		r.Failures = append(r.Failures, res)
	default:
		r.Skipped++
	}
}

// markerPath is HOME/.tmp/rollout-compression.lock.
func (c *Compactor) markerPath() string {
	return filepath.Join(c.cfg.Home, TmpDir, CompressionMarker)
}

// claim takes the run marker. It returns nil (and no error) when another
// run holds it or a recent completed run throttles this one.
//
// The marker is also flock'ed for the whole run, so a run that outlives
// the staleness window is never overlapped; the window then only
// throttles re-runs and bounds how long a crashed run's marker blocks.
func (c *Compactor) claim() (*os.File, error) {
	path := c.markerPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("rollout: compression marker: %w", err)
	}
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("rollout: compression marker: %w", err)
	}
	f, err := LockPath(path, os.O_RDWR)
	if errors.Is(err, ErrLocked) {
		return nil, nil // a run is in progress
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // removed by a run that just failed: let the next tick retry
	}
	if err != nil {
		return nil, fmt.Errorf("rollout: compression marker: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rollout: compression marker: %w", err)
	}
	now := c.cfg.Clock()
	if st.Size() > 0 && now.Sub(st.ModTime()) < c.cfg.MarkerStaleness {
		content := make([]byte, min(st.Size(), 512))
		n, _ := f.ReadAt(content, 0)
		completed := strings.Contains(string(content[:n]), " completed_at=")
		if !(completed && c.cfg.IgnoreThrottle) {
			f.Close()
			return nil, nil
		}
	}
	// A fresh, stale or (with IgnoreThrottle) completed marker: ours now.
	line := "pid=" + strconv.Itoa(os.Getpid()) + " started_at=" + now.UTC().Format(time.RFC3339)
	if err := writeMarker(f, line, now); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// writeMarker replaces the marker's content and stamps its mtime with the
// injected clock (the staleness check compares against the same clock).
func writeMarker(f *os.File, line string, now time.Time) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("rollout: compression marker: %w", err)
	}
	if _, err := f.WriteAt([]byte(line+"\n"), 0); err != nil {
		return fmt.Errorf("rollout: compression marker: %w", err)
	}
	if err := os.Chtimes(f.Name(), now, now); err != nil {
		return fmt.Errorf("rollout: compression marker: %w", err)
	}
	return nil
}

// release ends the run: a completed run keeps the marker (stamped with
// its completion, throttling the next run); a failed one removes it.
func (c *Compactor) release(f *os.File, completed bool) error {
	defer f.Close()
	if !completed {
		if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rollout: compression marker: %w", err)
		}
		return nil
	}
	content := make([]byte, 512)
	n, _ := f.ReadAt(content, 0)
	line := strings.TrimSpace(string(content[:n]))
	now := c.cfg.Clock()
	return writeMarker(f, line+" completed_at="+now.UTC().Format(time.RFC3339), now)
}

// cleanTemps removes temp files (names ending in .tmp: the compressor's
// and materializer's) older than the staleness window under sessions/ and
// archived_sessions/. A younger temp may belong to work in progress.
func (c *Compactor) cleanTemps(ctx context.Context) int {
	removed := 0
	now := c.cfg.Clock()
	for _, root := range []string{filepath.Join(c.cfg.Home, SessionsDir), filepath.Join(c.cfg.Home, ArchivedDir)} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil || d.IsDir() || !d.Type().IsRegular() || !isTempName(d.Name()) {
				return nil
			}
			info, err := d.Info()
			if err != nil || now.Sub(info.ModTime()) < c.cfg.MarkerStaleness {
				return nil
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.Warn("rollout compression: stale temp not removed", "path", p, "err", err)
				return nil
			}
			removed++
			return nil
		})
	}
	return removed
}
