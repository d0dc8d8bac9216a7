package rollout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// czCopy copies src into dir under its own name, with perm and mtime.
func czCopy(t testing.TB, src, dir string, perm fs.FileMode, mtime time.Time) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return dst
}

// czRead reads a rollout in whichever form it is.
func czRead(t testing.TB, path string) []byte {
	t.Helper()
	rc, _, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// czNames lists the names in dir.
func czNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestCompressFileCorpusRoundTrip(t *testing.T) {
	old := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	for i, src := range corpusFiles(t) {
		t.Run(filepath.Base(src), func(t *testing.T) {
			perm := []fs.FileMode{0o600, 0o640, 0o644}[i%3]
			want, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p := czCopy(t, src, dir, perm, old)
			res, err := CompressFile(context.Background(), p, CompressOptions{OlderThan: 24 * time.Hour})
			if err != nil || res.Outcome != OutcomeCompressed {
				t.Fatalf("CompressFile = %+v, %v, want compressed", res, err)
			}
			if res.SourceBytes != int64(len(want)) || res.CompressedBytes <= 0 || res.CompressedBytes >= res.SourceBytes {
				t.Errorf("sizes = %d -> %d, want %d -> less", res.SourceBytes, res.CompressedBytes, len(want))
			}
			if names := czNames(t, dir); len(names) != 1 || names[0] != filepath.Base(p)+ZstdExt {
				t.Errorf("dir = %v, want only the .zst", names)
			}
			st, err := os.Stat(p + ZstdExt)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != perm || !st.ModTime().Equal(old) || st.Size() != res.CompressedBytes {
				t.Errorf(".zst mode %v mtime %v size %d, want %v %v %d", st.Mode().Perm(), st.ModTime(), st.Size(), perm, old, res.CompressedBytes)
			}
			if got := czRead(t, p); !bytes.Equal(got, want) {
				t.Errorf("decompressed %d bytes differ from the %d source bytes", len(got), len(want))
			}
			// Lookup by id and the reader see the compressed form.
			fi, _ := ParseFileName(p)
			if phys, compressed, err := ResolvePath(p); err != nil || !compressed || phys != p+ZstdExt {
				t.Errorf("ResolvePath = %q, %v, %v", phys, compressed, err)
			}
			home := t.TempDir()
			day := filepath.Join(home, SessionsDir, "2026", "11", "25")
			q := czCopy(t, p+ZstdExt, day, 0o600, old)
			if got, err := FindThread(home, fi.ID, false); err != nil || got != q {
				t.Errorf("FindThread = %q, %v, want %q", got, err, q)
			}
		})
	}
}

func TestCompressFileSkips(t *testing.T) {
	src := corpusFiles(t)[0]
	now := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	fresh := now.Add(-time.Hour)
	cold := now.Add(-30 * 24 * time.Hour)
	opts := CompressOptions{OlderThan: 7 * 24 * time.Hour, Now: now}

	t.Run("fresh", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, fresh)
		res, err := CompressFile(context.Background(), p, opts)
		if err != nil || res.Outcome != OutcomeSkipped || res.Reason != ReasonNotCold {
			t.Fatalf("CompressFile = %+v, %v, want skipped not_cold", res, err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("plain file: %v", err)
		}
	})
	t.Run("live writer", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		r, err := ResumeRecorder(RecorderConfig{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := os.Chtimes(p, cold, cold); err != nil { // resume may have repaired the tail
			t.Fatal(err)
		}
		res, err := CompressFile(context.Background(), p, opts)
		if err != nil || res.Outcome != OutcomeSkipped || res.Reason != ReasonLive {
			t.Fatalf("CompressFile = %+v, %v, want skipped live", res, err)
		}
		if names := czNames(t, filepath.Dir(p)); len(names) != 1 {
			t.Errorf("dir = %v, want the plain file only (no .zst, no temp)", names)
		}
		dry, err := CompressFile(context.Background(), p, CompressOptions{DryRun: true})
		if err != nil || dry.Reason != ReasonLive {
			t.Errorf("dry run = %+v, %v, want skipped live", dry, err)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		res, err := CompressFile(context.Background(), p, CompressOptions{OlderThan: time.Hour, Now: now, DryRun: true})
		if err != nil || res.Outcome != OutcomeWouldCompress {
			t.Fatalf("CompressFile = %+v, %v, want would_compress", res, err)
		}
		if names := czNames(t, filepath.Dir(p)); len(names) != 1 || names[0] != filepath.Base(p) {
			t.Errorf("dir = %v, want untouched", names)
		}
	})
	t.Run("already compressed", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		if _, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := CompressFile(context.Background(), p, opts)
		if err != nil || res.Outcome != OutcomeSkipped || res.Reason != ReasonAlreadyCompressed {
			t.Fatalf("second CompressFile = %+v, %v, want skipped already_compressed", res, err)
		}
	})
	t.Run("missing and not regular", func(t *testing.T) {
		dir := t.TempDir()
		res, err := CompressFile(context.Background(), filepath.Join(dir, filepath.Base(src)), opts)
		if err != nil || res.Reason != ReasonMissing {
			t.Errorf("missing: %+v, %v", res, err)
		}
		d := filepath.Join(dir, filepath.Base(src))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		res, err = CompressFile(context.Background(), d, opts)
		if err != nil || res.Reason != ReasonNotRegular {
			t.Errorf("directory: %+v, %v", res, err)
		}
	})
}

func TestCompressFileSettlesBothForms(t *testing.T) {
	src := corpusFiles(t)[1]
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	// A crash after installing the .zst: same bytes in both forms.
	p := czCopy(t, src, t.TempDir(), 0o600, cold)
	if _, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil {
		t.Fatal(err)
	}
	czCopy(t, src, filepath.Dir(p), 0o600, cold)
	res, err := CompressFile(context.Background(), p, CompressOptions{})
	if err != nil || res.Outcome != OutcomeCompressed {
		t.Fatalf("identical forms: %+v, %v, want compressed", res, err)
	}
	if names := czNames(t, filepath.Dir(p)); len(names) != 1 || !strings.HasSuffix(names[0], ZstdExt) {
		t.Errorf("dir = %v, want the .zst only", names)
	}

	// A crash after materializing, then appends: the plain file wins.
	os.Remove(p + ZstdExt)
	short := czCopy(t, src, filepath.Dir(p), 0o600, cold)
	if err := os.WriteFile(short, want[:len(want)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CompressFile(context.Background(), short, CompressOptions{}); err != nil {
		t.Fatal(err)
	}
	czCopy(t, src, filepath.Dir(p), 0o600, cold) // the grown plain file
	res, err = CompressFile(context.Background(), p, CompressOptions{})
	if err != nil || res.Outcome != OutcomeCompressed {
		t.Fatalf("stale .zst: %+v, %v, want compressed", res, err)
	}
	if got := czRead(t, p); !bytes.Equal(got, want) {
		t.Errorf("after settling, content has %d bytes, want the plain file's %d", len(got), len(want))
	}
}

// corruptingWriter flips a byte in the middle of what it writes.
type corruptingWriter struct {
	w   io.Writer
	off int64
}

func (c *corruptingWriter) Write(p []byte) (int, error) {
	q := bytes.Clone(p)
	for i := range q {
		if c.off+int64(i) == 200 {
			q[i] ^= 0x55
		}
	}
	c.off += int64(len(p))
	return c.w.Write(q)
}

func TestCompressFileVerifyFailureKeepsPlain(t *testing.T) {
	src := corpusFiles(t)[0]
	want, _ := os.ReadFile(src)
	p := czCopy(t, src, t.TempDir(), 0o600, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c := fileCompressor{now: time.Now(), corrupt: func(w io.Writer) io.Writer { return &corruptingWriter{w: w} }}
	defer c.close()
	res := c.compress(context.Background(), p)
	if res.Outcome != OutcomeFailed || !errors.Is(res.Err, ErrVerify) {
		t.Fatalf("compress with a corrupting writer = %+v, want failed with ErrVerify", res)
	}
	if names := czNames(t, filepath.Dir(p)); len(names) != 1 || names[0] != filepath.Base(p) {
		t.Errorf("dir = %v, want only the untouched plain file", names)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Errorf("plain file changed")
	}
}

func TestResumeCompressedThenAppend(t *testing.T) {
	src := corpusFiles(t)[2]
	want, _ := os.ReadFile(src)
	p := czCopy(t, src, t.TempDir(), 0o600, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if _, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := ResumeRecorder(RecorderConfig{Path: p + ZstdExt, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Append(NewMessage(RoleUser, "after the thaw")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if names := czNames(t, filepath.Dir(p)); len(names) != 1 || names[0] != filepath.Base(p) {
		t.Fatalf("dir = %v, want exactly one plain file", names)
	}
	got, _ := os.ReadFile(p)
	if !bytes.HasPrefix(got, want) || !bytes.Contains(got[len(want):], []byte("after the thaw")) || bytes.Count(got[len(want):], []byte("\n")) != 1 {
		t.Errorf("rollout after resume+append: %d bytes, want the %d original bytes plus one line", len(got), len(want))
	}
}

func TestMoveRollout(t *testing.T) {
	src := corpusFiles(t)[0]
	cold := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	want, _ := os.ReadFile(src)
	check := func(t *testing.T, dst string, wantPhys string, oldDir string) {
		t.Helper()
		if dst != wantPhys {
			t.Errorf("MoveRollout = %q, want %q", dst, wantPhys)
		}
		if got := czRead(t, dst); !bytes.Equal(got, want) {
			t.Errorf("moved content differs")
		}
		if names := czNames(t, oldDir); len(names) != 0 {
			t.Errorf("source dir still has %v", names)
		}
	}
	t.Run("plain", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		dstDir := filepath.Join(t.TempDir(), ArchivedDir)
		dst, err := MoveRollout(p, dstDir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, dst, filepath.Join(dstDir, filepath.Base(p)), filepath.Dir(p))
	})
	t.Run("compressed", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		if _, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil {
			t.Fatal(err)
		}
		dstDir := t.TempDir()
		dst, err := MoveRollout(p, dstDir) // logical path of a .zst-only rollout
		if err != nil {
			t.Fatal(err)
		}
		check(t, dst, filepath.Join(dstDir, filepath.Base(p)+ZstdExt), filepath.Dir(p))
	})
	t.Run("both forms", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		if _, err := CompressFile(context.Background(), p, CompressOptions{}); err != nil {
			t.Fatal(err)
		}
		czCopy(t, src, filepath.Dir(p), 0o600, cold)
		dstDir := t.TempDir()
		dst, err := MoveRollout(p+ZstdExt, dstDir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, dst, filepath.Join(dstDir, filepath.Base(p)), filepath.Dir(p))
	})
	t.Run("live writer and existing destination", func(t *testing.T) {
		p := czCopy(t, src, t.TempDir(), 0o600, cold)
		r, err := ResumeRecorder(RecorderConfig{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := MoveRollout(p, t.TempDir()); !errors.Is(err, ErrLocked) {
			t.Errorf("MoveRollout of a live rollout = %v, want ErrLocked", err)
		}
		r.Close()
		dstDir := t.TempDir()
		czCopy(t, src, dstDir, 0o600, cold)
		if _, err := MoveRollout(p, dstDir); !errors.Is(err, fs.ErrExist) {
			t.Errorf("MoveRollout onto an existing file = %v, want fs.ErrExist", err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("source after a refused move: %v", err)
		}
		if _, err := MoveRollout(filepath.Join(t.TempDir(), filepath.Base(p)), dstDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("MoveRollout of nothing = %v, want fs.ErrNotExist", err)
		}
	})
}
