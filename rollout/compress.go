package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ErrVerify is matched (errors.Is) when a freshly compressed rollout does
// not decompress to the bytes of its plain file. The plain file is kept.
var ErrVerify = errors.New("rollout: compressed rollout failed verification")

// Outcome is what compressing one file did.
type Outcome string

// Outcomes of compressing one file. Every file looked at is also counted
// as OutcomeScanned in the metrics.
const (
	OutcomeScanned    Outcome = "scanned"
	OutcomeCompressed Outcome = "compressed"
	OutcomeSkipped    Outcome = "skipped"
	OutcomeFailed     Outcome = "failed"
	// OutcomeWouldCompress is a dry run's answer for a file that a real
	// run would compress.
	OutcomeWouldCompress Outcome = "would_compress"
)

// Reasons a file is skipped (FileResult.Reason).
const (
	ReasonNotCold           = "not_cold"           // modified within the cold threshold
	ReasonNotRegular        = "not_regular"        // a directory, symlink or device
	ReasonMissing           = "missing"            // gone before it could be compressed
	ReasonAlreadyCompressed = "already_compressed" // only the .zst form exists
	ReasonLive              = "live"               // a writer holds the thread's lock
	ReasonChanged           = "changed"            // appended to while being compressed
)

// FileResult reports what compressing one rollout did.
type FileResult struct {
	// Path is the rollout's logical (.jsonl) path.
	Path    string
	Outcome Outcome
	// Reason says why a file was skipped (one of the Reason constants).
	Reason string
	// SourceBytes is the plain file's size; CompressedBytes the .zst's
	// (set only when compressed).
	SourceBytes     int64
	CompressedBytes int64
	Duration        time.Duration
	// Err is the failure of a failed file (also returned by CompressFile).
	Err error
}

// CompressOptions tune CompressFile. The zero value compresses any plain
// rollout that no writer holds.
type CompressOptions struct {
	// OlderThan skips a file modified less than this long before Now
	// (ReasonNotCold). 0 compresses a file of any age.
	OlderThan time.Duration
	// Now is the current time for the age check; zero means time.Now().
	Now time.Time
	// DryRun decides without touching anything: a file that would be
	// compressed is reported as OutcomeWouldCompress.
	DryRun bool
	// Level is the zstd level (1..22, as the zstd command); 0 means 3,
	// Codex's level.
	Level int
}

// DefaultCompressionLevel is zstd's (and Codex's) default level.
const DefaultCompressionLevel = 3

// CompressFile turns the plain rollout at path (logical or physical) into
// its cold .jsonl.zst form: it compresses the file into a temp file
// (rollout-compress-*.tmp) in the same directory, verifies that the temp
// decompresses to exactly the plain bytes, gives it the plain file's
// permissions and modification time, fsyncs it, and then, holding the
// thread's lock and only if the plain file is unchanged, renames it into
// place, removes the plain file and fsyncs the directory.
//
// A file held by a writer (its lock is taken) is skipped as live, one
// appended to meanwhile as changed; skips are not errors. A verification
// failure returns an error matching ErrVerify; on every failure the plain
// file is left as it was and the temp file removed. A stale .zst left next
// to a plain file (a crash between the rename and the removal) is
// replaced, since the plain file is the authoritative form.
//
// Cancelling ctx aborts the compression of a large file between blocks.
func CompressFile(ctx context.Context, path string, opts CompressOptions) (FileResult, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	c := fileCompressor{level: opts.Level, olderThan: opts.OlderThan, now: opts.Now, dryRun: opts.DryRun}
	res := c.compress(ctx, PlainPath(path))
	return res, res.Err
}

// fileCompressor compresses one file at a time; the compactor has one per
// worker slot so that encoders are reused.
type fileCompressor struct {
	level     int
	olderThan time.Duration
	now       time.Time
	dryRun    bool
	enc       *zstd.Encoder
	dec       *zstd.Decoder
	// corrupt, in tests, wraps the compressed output to damage it.
	corrupt func(io.Writer) io.Writer
}

func (c *fileCompressor) compress(ctx context.Context, plain string) FileResult {
	start := time.Now()
	res := FileResult{Path: plain}
	res.Outcome, res.Reason, res.Err = c.run(ctx, plain, &res)
	if res.Err != nil {
		res.Outcome = OutcomeFailed
	}
	res.Duration = time.Since(start)
	return res
}

func (c *fileCompressor) run(ctx context.Context, plain string, res *FileResult) (Outcome, string, error) {
	if err := ctx.Err(); err != nil {
		return OutcomeFailed, "", err
	}
	st, err := os.Lstat(plain)
	if errors.Is(err, fs.ErrNotExist) {
		if _, zerr := os.Lstat(plain + ZstdExt); zerr == nil {
			return OutcomeSkipped, ReasonAlreadyCompressed, nil
		}
		return OutcomeSkipped, ReasonMissing, nil
	}
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress: %w", err)
	}
	if !st.Mode().IsRegular() {
		return OutcomeSkipped, ReasonNotRegular, nil
	}
	res.SourceBytes = st.Size()
	if c.olderThan > 0 && c.now.Sub(st.ModTime()) < c.olderThan {
		return OutcomeSkipped, ReasonNotCold, nil
	}
	if _, err := os.Lstat(plain + ZstdExt); err == nil {
		if c.dryRun {
			return OutcomeSkipped, ReasonAlreadyCompressed, nil
		}
		done, outcome, reason, err := c.settleBothForms(ctx, plain)
		if done || err != nil {
			return outcome, reason, err
		}
	}
	// A thread with a live writer is not cold, whatever its mtime: skip
	// it before doing any work (and check again at install time).
	if held, err := lockHeld(plain); err != nil {
		return OutcomeFailed, "", err
	} else if held {
		return OutcomeSkipped, ReasonLive, nil
	}
	if c.dryRun {
		return OutcomeWouldCompress, "", nil
	}
	src, err := os.Open(plain)
	if errors.Is(err, fs.ErrNotExist) {
		return OutcomeSkipped, ReasonMissing, nil
	}
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress: %w", err)
	}
	defer src.Close()
	// Everything below is about this inode as it is now.
	st, err = src.Stat()
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress: %w", err)
	}
	if !st.Mode().IsRegular() {
		return OutcomeSkipped, ReasonNotRegular, nil
	}
	res.SourceBytes = st.Size()

	dir := filepath.Dir(plain)
	tmp, err := os.CreateTemp(dir, compressTempPattern)
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	installed := false
	defer func() {
		if !installed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := c.encode(ctx, tmp, src, st.Size())
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	res.CompressedBytes = n
	if err := c.verify(ctx, tmp, src, st.Size()); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	if err := tmp.Sync(); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	if err := tmp.Close(); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	// Chtimes after the last write, so the .zst keeps the source mtime
	// (list order and updated_at derive from it).
	if err := os.Chtimes(tmp.Name(), st.ModTime(), st.ModTime()); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}

	// Install under the thread's lock: no writer can append between the
	// last check and the removal of the plain file.
	lock, err := LockPath(plain, os.O_RDONLY)
	switch {
	case errors.Is(err, ErrLocked):
		return OutcomeSkipped, ReasonLive, nil
	case errors.Is(err, fs.ErrNotExist):
		return OutcomeSkipped, ReasonChanged, nil
	case err != nil:
		return OutcomeFailed, "", err
	}
	defer lock.Close()
	now, err := lock.Stat()
	if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	if !os.SameFile(st, now) || now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) || now.Mode() != st.Mode() {
		return OutcomeSkipped, ReasonChanged, nil
	}
	zst := plain + ZstdExt
	// Never clobber: a .zst that appeared meanwhile belongs to a
	// materializer that will remove it once it is done.
	if err := os.Link(tmp.Name(), zst); errors.Is(err, fs.ErrExist) {
		return OutcomeSkipped, ReasonAlreadyCompressed, nil
	} else if err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	os.Remove(tmp.Name())
	installed = true
	if err := syncDir(dir); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: sync dir: %w", plain, err)
	}
	if err := os.Remove(plain); err != nil {
		// Both forms exist: readers keep using the plain one, and the
		// next run settles them (settleBothForms).
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: remove plain: %w", plain, err)
	}
	if err := syncDir(dir); err != nil {
		return OutcomeFailed, "", fmt.Errorf("rollout: compress %s: sync dir: %w", plain, err)
	}
	return OutcomeCompressed, "", nil
}

// settleBothForms handles a plain file with a .zst beside it: what a
// crash leaves between installing a .zst and removing the plain file (the
// same bytes), or between materializing and removing the .zst (the plain
// file may have grown since). Holding the thread's lock and the lock
// materializers take on the .zst, it removes the plain file if the .zst
// holds exactly its bytes (done: compressed), and otherwise removes the
// stale .zst so that compression can go on (not done).
func (c *fileCompressor) settleBothForms(ctx context.Context, plain string) (done bool, _ Outcome, _ string, _ error) {
	lock, err := LockPath(plain, os.O_RDONLY)
	switch {
	case errors.Is(err, ErrLocked):
		return true, OutcomeSkipped, ReasonLive, nil
	case errors.Is(err, fs.ErrNotExist):
		return true, OutcomeSkipped, ReasonAlreadyCompressed, nil
	case err != nil:
		return true, OutcomeFailed, "", err
	}
	defer lock.Close()
	zst := plain + ZstdExt
	zf, err := os.Open(zst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "", "", nil // a materializer finished meanwhile
	}
	if err != nil {
		return true, OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	defer zf.Close()
	if err := TryLock(zf); errors.Is(err, ErrLocked) {
		return true, OutcomeSkipped, ReasonLive, nil // a materializer is at work
	} else if err != nil {
		return true, OutcomeFailed, "", err
	}
	if same, err := samePath(zf, zst); err != nil || !same {
		if err != nil {
			return true, OutcomeFailed, "", err
		}
		return false, "", "", nil
	}
	st, err := lock.Stat()
	if err != nil {
		return true, OutcomeFailed, "", fmt.Errorf("rollout: compress %s: %w", plain, err)
	}
	dir := filepath.Dir(plain)
	if c.verify(ctx, zf, lock, st.Size()) == nil {
		if err := os.Remove(plain); err != nil {
			return true, OutcomeFailed, "", fmt.Errorf("rollout: compress %s: remove plain: %w", plain, err)
		}
		if err := syncDir(dir); err != nil {
			return true, OutcomeFailed, "", fmt.Errorf("rollout: compress %s: sync dir: %w", plain, err)
		}
		return true, OutcomeCompressed, "", nil
	}
	if err := ctx.Err(); err != nil {
		return true, OutcomeFailed, "", err
	}
	if err := os.Remove(zst); err != nil {
		return true, OutcomeFailed, "", fmt.Errorf("rollout: compress %s: remove stale %s: %w", plain, ZstdExt, err)
	}
	return false, "", "", syncDir(dir)
}

// compressTempPattern names the compressor's temp files (Codex's name).
const compressTempPattern = "rollout-compress-*.tmp"

// lockHeld reports whether a writer holds the lock of the plain file.
func lockHeld(plain string) (bool, error) {
	f, err := LockPath(plain, os.O_RDONLY)
	switch {
	case errors.Is(err, ErrLocked):
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	f.Close()
	return false, nil
}

// encode compresses size bytes of src into dst (at its start) and returns
// the compressed size.
func (c *fileCompressor) encode(ctx context.Context, dst *os.File, src *os.File, size int64) (int64, error) {
	if c.enc == nil {
		level := c.level
		if level == 0 {
			level = DefaultCompressionLevel
		}
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1),
			// zstd -3 uses a 2 MiB window; the larger default costs speed
			// for no gain on rollouts.
			zstd.WithWindowSize(2<<20),
		)
		if err != nil {
			return 0, err
		}
		c.enc = enc
	}
	cw := &countingWriter{w: dst}
	var w io.Writer = cw
	if c.corrupt != nil {
		w = c.corrupt(cw)
	}
	c.enc.Reset(w)
	if _, err := io.Copy(c.enc, &ctxReader{ctx: ctx, r: io.NewSectionReader(src, 0, size)}); err != nil {
		c.enc.Reset(nil)
		return 0, err
	}
	if err := c.enc.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// verify decompresses dst and compares it with the first size bytes of src.
func (c *fileCompressor) verify(ctx context.Context, dst *os.File, src *os.File, size int64) error {
	if c.dec == nil {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		c.dec = dec
	}
	if err := c.dec.Reset(io.NewSectionReader(dst, 0, 1<<62)); err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	defer c.dec.Reset(nil)
	want := io.NewSectionReader(src, 0, size)
	got := &ctxReader{ctx: ctx, r: c.dec}
	a, b := make([]byte, 128<<10), make([]byte, 128<<10)
	var off int64
	for {
		n, err := io.ReadFull(got, a)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w: %w", ErrVerify, err)
		}
		m, werr := io.ReadFull(want, b[:n])
		if werr != nil && n > 0 {
			return fmt.Errorf("%w: decompressed %d bytes, source has %d", ErrVerify, off+int64(m), size)
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return fmt.Errorf("%w: contents differ near offset %d", ErrVerify, off)
		}
		off += int64(n)
		if n < len(a) {
			break
		}
	}
	if off != size {
		return fmt.Errorf("%w: decompressed %d bytes, source has %d", ErrVerify, off, size)
	}
	return nil
}

// close releases the encoder and decoder.
func (c *fileCompressor) close() {
	if c.enc != nil {
		c.enc.Close()
		c.enc = nil
	}
	if c.dec != nil {
		c.dec.Close()
		c.dec = nil
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// MoveRollout moves a thread's rollout, in whichever form it exists, into
// dstDir under the same file name, and returns its new physical path. A
// plain file is moved under the thread's lock, so it fails with an error
// matching ErrLocked while a writer has it open; a stale .zst beside it
// is removed, so the thread is never found in two places. A .zst-only
// rollout is moved under the lock materializers take on it. It never
// overwrites: an existing destination fails with an error matching
// fs.ErrExist. Archive (dstDir = HOME/archived_sessions) and unarchive
// (the sessions/YYYY/MM/DD directory of its name) use it.
func MoveRollout(src, dstDir string) (string, error) {
	plain := PlainPath(src)
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return "", fmt.Errorf("rollout: move %s: %w", plain, err)
	}
	for range 4 {
		f, err := LockPath(plain, os.O_RDONLY)
		if err == nil {
			defer f.Close()
			return movePlain(plain, dstDir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("rollout: move %s: %w", plain, err)
		}
		dst, retry, err := moveCompressed(plain, dstDir)
		if !retry {
			return dst, err
		}
	}
	return "", fmt.Errorf("rollout: move %s: rollout keeps changing form", plain)
}

// movePlain moves the locked plain file and drops a stale .zst sibling.
func movePlain(plain, dstDir string) (string, error) {
	dst := filepath.Join(dstDir, filepath.Base(plain))
	if err := linkMove(plain, dst); err != nil {
		return "", err
	}
	if err := os.Remove(plain + ZstdExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return dst, fmt.Errorf("rollout: move %s: remove stale %s: %w", plain, ZstdExt, err)
	}
	return dst, syncDirs(filepath.Dir(plain), dstDir)
}

// moveCompressed moves a .zst-only rollout under the flock Materialize
// takes on the .zst. retry is true when the form changed meanwhile.
func moveCompressed(plain, dstDir string) (string, bool, error) {
	zst := plain + ZstdExt
	zf, err := os.Open(zst)
	if errors.Is(err, fs.ErrNotExist) {
		if _, perr := os.Lstat(plain); perr == nil {
			return "", true, nil // materialized meanwhile
		}
		return "", false, &fs.PathError{Op: "move rollout", Path: plain, Err: fs.ErrNotExist}
	}
	if err != nil {
		return "", false, fmt.Errorf("rollout: move %s: %w", zst, err)
	}
	defer zf.Close()
	for {
		err := syscall.Flock(int(zf.Fd()), syscall.LOCK_EX)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EINTR) {
			return "", false, fmt.Errorf("rollout: move %s: lock: %w", zst, err)
		}
	}
	if _, err := os.Lstat(plain); err == nil {
		return "", true, nil
	}
	if same, err := samePath(zf, zst); err != nil || !same {
		return "", err == nil, err
	}
	dst := filepath.Join(dstDir, filepath.Base(zst))
	if err := linkMove(zst, dst); err != nil {
		return "", false, err
	}
	return dst, false, syncDirs(filepath.Dir(zst), dstDir)
}

// linkMove moves src to dst without ever overwriting dst.
func linkMove(src, dst string) error {
	if err := os.Link(src, dst); err != nil {
		return fmt.Errorf("rollout: move %s: %w", src, err)
	}
	if err := os.Remove(src); err != nil {
		os.Remove(dst)
		return fmt.Errorf("rollout: move %s: %w", src, err)
	}
	return nil
}

func syncDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("rollout: sync %s: %w", d, err)
		}
	}
	return nil
}

// isTempName reports whether a file name is a temp file of this package
// (compressor, materializer) or of Codex: every such name ends in .tmp.
func isTempName(name string) bool { return strings.HasSuffix(name, ".tmp") }
