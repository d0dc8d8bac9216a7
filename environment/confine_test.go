package environment

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// confineFixture builds a root with symlinks inside, out of it, and in a
// loop, plus an outside directory.
func confineFixture(t testing.TB) (*confiner, string, string) {
	root, outside := t.TempDir(), t.TempDir()
	for _, step := range []error{
		os.MkdirAll(filepath.Join(root, "a", "b"), 0o755),
		os.WriteFile(filepath.Join(root, "a", "f.txt"), []byte("f"), 0o644),
		os.Symlink("a", filepath.Join(root, "in")),
		os.Symlink("../..", filepath.Join(root, "a", "b", "up")),
		os.Symlink("../../..", filepath.Join(root, "a", "b", "out")),
		os.Symlink(outside, filepath.Join(root, "abs-out")),
		os.Symlink(filepath.Join(outside, "dangling"), filepath.Join(root, "dangling-out")),
		os.Symlink("loop2", filepath.Join(root, "loop1")),
		os.Symlink("loop1", filepath.Join(root, "loop2")),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	c, err := newConfiner(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, root, outside
}

func TestResolve(t *testing.T) {
	c, root, outside := confineFixture(t)
	real, _ := filepath.EvalSymlinks(root)
	tests := []struct {
		name    string
		wantRel string
		wantErr error
	}{
		{".", ".", nil},
		{"a/f.txt", "a/f.txt", nil},
		{"in/f.txt", "a/f.txt", nil},
		{"a/b/up/a/f.txt", "a/f.txt", nil},
		{"new/dir/file", "new/dir/file", nil},
		{filepath.Join(root, "in"), "a", nil},
		{"a/b/../f.txt", "a/f.txt", nil},
		{"..", "", ErrEscape},
		{"a/../../x", "", ErrEscape},
		{"../" + filepath.Base(root) + "/a/f.txt", "a/f.txt", nil},
		{"a/b/out", "", ErrEscape},
		{"a/b/out/x", "", ErrEscape},
		{"abs-out/x", "", ErrEscape},
		{"dangling-out", "", ErrEscape},
		{outside, "", ErrEscape},
		{"/", "", ErrEscape},
		{"", "", ErrInvalid},
		{"a\x00b", "", ErrInvalid},
		{"loop1", "", errTooManyLinks},
	}
	for _, tt := range tests {
		dir, rel, err := c.resolve("op", tt.name)
		if tt.wantErr != nil {
			var pe *PathError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &pe) || pe.Path != tt.name {
				t.Errorf("resolve(%q) error = %v, want *PathError wrapping %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || dir != real || rel != tt.wantRel {
			t.Errorf("resolve(%q) = %q, %q, %v; want %q, %q", tt.name, dir, rel, err, real, tt.wantRel)
		}
	}
}

// FuzzResolve checks that whatever a caller names, a path that resolves
// lies inside the root once every symlink in it is followed.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{".", "a/f.txt", "in/../..", "a/b/up/a", "a/b/out/x", "abs-out", "dangling-out/y", "loop1/x", "/etc/passwd", "../../x", "a//b/./up/in/f.txt"} {
		f.Add(s)
	}
	c, _, _ := confineFixture(f)
	f.Fuzz(func(t *testing.T, name string) {
		dir, rel, err := c.resolve("fuzz", name)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("resolve(%q) error %v is not a *PathError", name, err)
			}
			return
		}
		full := filepath.Join(dir, rel)
		if !within(full, c.roots[0].real) {
			t.Fatalf("resolve(%q) = %q, outside root %q", name, full, c.roots[0].real)
		}
		budget := maxSymlinks
		again, err := followSymlinks(full, &budget)
		if err != nil || again != full {
			t.Fatalf("resolve(%q) = %q, which still resolves to %q (%v)", name, full, again, err)
		}
	})
}
