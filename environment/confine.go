package environment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds symlink hops while resolving one path, as the kernel
// does (ELOOP).
const maxSymlinks = 40

// root is one directory file operations may touch, in the form it was given
// and with symlinks resolved.
type root struct {
	given string
	real  string
}

// confiner maps paths named by callers to locations inside the roots.
type confiner struct {
	cwd   string // absolute, clean, inside roots[0]
	roots []root
}

func newConfiner(dir string, extra []string) (*confiner, error) {
	c := &confiner{}
	for i, d := range append([]string{dir}, extra...) {
		if d == "" {
			return nil, fmt.Errorf("%w: empty root directory", ErrInvalid)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("environment: root %q: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("environment: root %q: %w", d, err)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil, fmt.Errorf("environment: root %q: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: root %q is not a directory", ErrInvalid, d)
		}
		if i == 0 {
			c.cwd = abs
		}
		c.roots = append(c.roots, root{given: abs, real: real})
	}
	return c, nil
}

// within reports whether p is base or below it (both clean and absolute).
func within(p, base string) bool {
	if p == base {
		return true
	}
	if base == string(filepath.Separator) {
		return strings.HasPrefix(p, base)
	}
	return strings.HasPrefix(p, base) && p[len(base)] == filepath.Separator
}

// resolve maps name to (real root, path relative to it). The name is made
// absolute against the working directory and cleaned; the clean form must
// lie inside a root (so ".." cannot climb out), and after following every
// symlink the result must still lie inside a root. The operation then acts
// on the returned pair through os.Root, which also refuses an escape that
// appears between this check and the operation.
func (c *confiner) resolve(op, name string) (string, string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", "", &PathError{Op: op, Path: name, Err: ErrInvalid}
	}
	abs := name
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(c.cwd, abs)
	}
	abs = filepath.Clean(abs)
	lexical := ""
	for _, r := range c.roots {
		if within(abs, r.real) {
			lexical = abs
			break
		}
		if within(abs, r.given) {
			lexical = filepath.Join(r.real, strings.TrimPrefix(abs, r.given))
			break
		}
	}
	if lexical == "" {
		return "", "", &PathError{Op: op, Path: name, Err: ErrEscape}
	}
	budget := maxSymlinks
	real, err := followSymlinks(lexical, &budget)
	if err != nil {
		return "", "", &PathError{Op: op, Path: name, Err: err}
	}
	for _, r := range c.roots {
		if within(real, r.real) {
			rel, err := filepath.Rel(r.real, real)
			if err != nil {
				return "", "", &PathError{Op: op, Path: name, Err: err}
			}
			return r.real, rel, nil
		}
	}
	return "", "", &PathError{Op: op, Path: name, Err: ErrEscape}
}

// errTooManyLinks is returned for symlink loops.
var errTooManyLinks = errors.New("too many levels of symbolic links")

// followSymlinks resolves every symlink in the absolute clean path p, one
// component at a time. Components that do not exist are kept as they are,
// so a path to a file about to be created resolves too; a dangling symlink
// is followed to where its target would be.
func followSymlinks(p string, budget *int) (string, error) {
	parts := strings.Split(strings.TrimPrefix(p, string(filepath.Separator)), string(filepath.Separator))
	cur := string(filepath.Separator)
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return filepath.Join(append([]string{next}, parts[i+1:]...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		*budget--
		if *budget < 0 {
			return "", errTooManyLinks
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(cur, target)
		}
		cur, err = followSymlinks(filepath.Clean(target), budget)
		if err != nil {
			return "", err
		}
	}
	return cur, nil
}
