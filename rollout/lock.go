package rollout

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/klauspost/compress/zstd"
)

// The per-thread lock is an exclusive flock(2) on the thread's plain
// .jsonl file. A Recorder holds it for as long as it is open. Anyone who
// removes or replaces the plain file (a compressor turning it into .zst,
// archive, delete) must hold it too, and anyone who takes it must check,
// after locking, that the path still names the file it locked (see
// LockPath): the file may have been replaced while it waited. flock locks
// belong to the open file, so two opens in one process exclude each other
// just like two processes do.

// TryLock takes the per-thread lock on the open file f without waiting. It
// returns an error matching ErrLocked if another open file holds it.
func TryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("%w: %s", ErrLocked, f.Name())
		default:
			return fmt.Errorf("rollout: lock %s: %w", f.Name(), err)
		}
	}
}

// LockPath opens path with flag (os.O_RDWR, ...) and takes the per-thread
// lock on it, retrying when the path was replaced between open and lock. It
// returns an error matching ErrLocked if another writer holds the lock, and
// one matching fs.ErrNotExist if the file is gone. Closing the file
// releases the lock.
func LockPath(path string, flag int) (*os.File, error) {
	for range 8 {
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return nil, fmt.Errorf("rollout: open for writing: %w", err)
		}
		if err := TryLock(f); err != nil {
			f.Close()
			return nil, err
		}
		same, err := samePath(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		f.Close() // replaced while we locked it: try the new file
	}
	return nil, fmt.Errorf("rollout: lock %s: file keeps being replaced", path)
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) (bool, error) {
	fst, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("rollout: lock %s: %w", path, err)
	}
	pst, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rollout: lock %s: %w", path, err)
	}
	return os.SameFile(fst, pst), nil
}

// syncDir fsyncs a directory so that a created, renamed or removed entry in
// it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// tempCounter makes temp names unique within the process.
var tempCounter atomic.Uint64

// lockZst opens the .zst form and takes the materializers' lock on it,
// retrying when the path was replaced while it waited for the lock (a
// materializer that won removed it and a compressor made a newer one):
// decompressing the stale inode and then removing the newer .zst would
// lose the lines appended in between. It returns nil, nil when the plain
// file exists once the lock is held (another materializer won).
func lockZst(zst, plain string) (*os.File, error) {
	for range 8 {
		zf, err := os.Open(zst)
		if err != nil {
			if _, perr := os.Stat(plain); perr == nil {
				return nil, nil
			}
			return nil, fmt.Errorf("rollout: materialize: %w", err)
		}
		if err := syscall.Flock(int(zf.Fd()), syscall.LOCK_EX); err != nil {
			zf.Close()
			return nil, fmt.Errorf("rollout: materialize %s: lock: %w", zst, err)
		}
		if _, err := os.Stat(plain); err == nil {
			zf.Close()
			return nil, nil
		}
		same, err := samePath(zf, zst)
		if err != nil {
			zf.Close()
			return nil, err
		}
		if same {
			return zf, nil
		}
		zf.Close() // replaced while we waited: lock the new one
	}
	return nil, fmt.Errorf("rollout: materialize %s: file keeps being replaced", zst)
}

// Materialize turns the cold .zst form of a rollout back into its plain
// .jsonl form, as writers must before appending: decompress to a temp file
// next to it (<plain>.decompress.<pid>.<n>.tmp), fsync, move it into place
// without clobbering a plain file that appeared meanwhile, remove the .zst
// and fsync the directory. It keeps the .zst's permissions. It returns the
// plain path; when the plain file already exists it does nothing.
func Materialize(path string) (string, error) {
	plain := PlainPath(path)
	zst := plain + ZstdExt
	if st, err := os.Stat(plain); err == nil {
		if !st.Mode().IsRegular() {
			return "", &os.PathError{Op: "materialize", Path: plain, Err: ErrNotRegular}
		}
		return plain, nil
	}
	zf, err := lockZst(zst, plain)
	if err != nil {
		return "", err
	}
	if zf == nil {
		return plain, nil // another materializer won
	}
	defer zf.Close()
	zstSt, err := zf.Stat()
	if err != nil {
		return "", fmt.Errorf("rollout: materialize: %w", err)
	}
	dir := filepath.Dir(plain)
	tmp := plain + ".decompress." + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(tempCounter.Add(1), 10) + ".tmp"
	tf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, zstSt.Mode().Perm())
	if err != nil {
		return "", fmt.Errorf("rollout: materialize: %w", err)
	}
	cleanup := func() { tf.Close(); os.Remove(tmp) }
	zr, err := zstd.NewReader(zf, zstd.WithDecoderConcurrency(1))
	if err != nil {
		cleanup()
		return "", fmt.Errorf("rollout: materialize %s: %w", zst, err)
	}
	_, err = io.Copy(tf, zr)
	zr.Close()
	if err == nil {
		err = tf.Sync()
	}
	if err == nil {
		err = tf.Close()
	}
	if err != nil {
		cleanup()
		return "", fmt.Errorf("rollout: materialize %s: %w", zst, err)
	}
	// Link fails if the plain file appeared meanwhile: never clobber it,
	// and keep the .zst (a stale .zst beside a plain file is harmless:
	// readers prefer the plain file and the compressor replaces it).
	if err := os.Link(tmp, plain); err != nil {
		os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return plain, nil
		}
		return "", fmt.Errorf("rollout: materialize %s: %w", zst, err)
	}
	os.Remove(tmp)
	if err := os.Remove(zst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("rollout: materialize: remove %s: %w", zst, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("rollout: materialize: sync %s: %w", dir, err)
	}
	return plain, nil
}
