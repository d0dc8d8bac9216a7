package rollout

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Layout of a Codex home (HOME below):
//
//	HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<uuid>.jsonl   live threads
//	HOME/sessions/YYYY/MM/DD/rollout-...-<uuid>.jsonl.zst               cold form
//	HOME/archived_sessions/rollout-...-<uuid>.jsonl[.zst]               archived (flat)
//	HOME/.tmp/                                                          temp files
const (
	SessionsDir  = "sessions"
	ArchivedDir  = "archived_sessions"
	TmpDir       = ".tmp"
	PlainExt     = ".jsonl"
	ZstdExt      = ".zst"
	filePrefix   = "rollout-"
	stampLayout  = "2006-01-02T15-04-05"
	stampLen     = len(stampLayout)
	uuidLen      = 36
	minNameLen   = len(filePrefix) + stampLen + 1 + uuidLen + len(PlainExt)
	fastPathDays = 1 // days either side of a UUIDv7's date probed by FindThread
)

// ErrNotRollout is matched (errors.Is) by ParseFileName for a name that is
// not a rollout file name (including temp files next to rollouts).
var ErrNotRollout = errors.New("rollout: not a rollout file name")

// ErrNotRegular is matched (errors.Is) when an explicit rollout path names a
// directory or another non-regular file.
var ErrNotRegular = errors.New("rollout: not a regular file")

// ErrThreadNotFound is matched (errors.Is) when no rollout exists for a
// thread id.
var ErrThreadNotFound = errors.New("rollout: thread not found")

// FileName returns the rollout file name for a thread created at created:
// rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl. Codex uses the local wall time of
// creation; pass created in the location you want in the name.
func FileName(created time.Time, id ThreadID) string {
	return filePrefix + created.Format(stampLayout) + "-" + string(id) + PlainExt
}

// SessionPath returns the live path of a thread's rollout under home:
// home/sessions/YYYY/MM/DD/FileName(created, id), with the date of created
// in its own location.
func SessionPath(home string, created time.Time, id ThreadID) string {
	return filepath.Join(home, SessionsDir, created.Format("2006"), created.Format("01"), created.Format("02"), FileName(created, id))
}

// ArchivedPath returns the archived path of a rollout file name under home.
func ArchivedPath(home, name string) string {
	return filepath.Join(home, ArchivedDir, filepath.Base(PlainPath(name)))
}

// FileInfo is what a rollout file name says.
type FileInfo struct {
	ID ThreadID
	// Created is the stamp in the name. Codex writes local wall time; it is
	// returned labelled UTC, as Codex reads it.
	Created time.Time
	// Compressed is true for the .jsonl.zst form.
	Compressed bool
}

// ParseFileName parses the base name of a rollout file (plain or .zst).
// Anything else, temp files included, gives an error matching
// ErrNotRollout.
func ParseFileName(name string) (FileInfo, error) {
	name = filepath.Base(name)
	var fi FileInfo
	rest := name
	if s, ok := strings.CutSuffix(rest, ZstdExt); ok {
		rest, fi.Compressed = s, true
	}
	s, ok := strings.CutSuffix(rest, PlainExt)
	if !ok || !strings.HasPrefix(s, filePrefix) || len(rest) < minNameLen {
		return FileInfo{}, fmt.Errorf("%w: %q", ErrNotRollout, name)
	}
	s = s[len(filePrefix):]
	// The stamp has a fixed width; the UUID is everything after it and
	// its separator.
	if len(s) != stampLen+1+uuidLen || s[stampLen] != '-' {
		return FileInfo{}, fmt.Errorf("%w: %q", ErrNotRollout, name)
	}
	id, err := ParseThreadID(s[stampLen+1:])
	if err != nil {
		return FileInfo{}, fmt.Errorf("%w: %q: %w", ErrNotRollout, name, err)
	}
	created, err := time.Parse(stampLayout, s[:stampLen])
	if err != nil {
		return FileInfo{}, fmt.Errorf("%w: %q: %w", ErrNotRollout, name, err)
	}
	fi.ID, fi.Created = id, created
	return fi, nil
}

// PlainPath returns the logical (plain .jsonl) path of a rollout path in
// either form.
func PlainPath(p string) string {
	if s, ok := strings.CutSuffix(p, ZstdExt); ok && strings.HasSuffix(s, PlainExt) {
		return s
	}
	return p
}

// CompressedPath returns the .jsonl.zst sibling of a rollout path.
func CompressedPath(p string) string { return PlainPath(p) + ZstdExt }

// ResolvePath finds the physical file of a rollout given its logical or
// physical path: the plain file if it is a regular file, else the .zst
// sibling. It returns an error matching fs.ErrNotExist when neither exists,
// and one matching ErrNotRegular when the path names a directory or another
// non-regular file.
func ResolvePath(p string) (physical string, compressed bool, err error) {
	plain := PlainPath(p)
	for _, cand := range []string{plain, plain + ZstdExt} {
		st, err := os.Stat(cand)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("rollout: resolve %s: %w", p, err)
		}
		if !st.Mode().IsRegular() {
			return "", false, &fs.PathError{Op: "resolve rollout", Path: cand, Err: ErrNotRegular}
		}
		return cand, cand != plain, nil
	}
	return "", false, &fs.PathError{Op: "resolve rollout", Path: p, Err: fs.ErrNotExist}
}

// FindThread returns the physical path of thread id's rollout under home:
// in sessions/ first, then (if includeArchived) in archived_sessions/. For
// a UUIDv7 id it first probes the day directories around the id's embedded
// creation time (the fast path: no directory scan); otherwise, or on a
// miss, it scans sessions/ for a file named after the id. The plain form is
// preferred over .zst. It returns an error matching ErrThreadNotFound when
// there is none.
func FindThread(home string, id ThreadID, includeArchived bool) (string, error) {
	if !id.Valid() {
		return "", fmt.Errorf("rollout: find thread: %w", ErrInvalidThreadID)
	}
	if ts, ok := uuidV7Time(id); ok {
		for d := -fastPathDays; d <= fastPathDays; d++ {
			day := ts.AddDate(0, 0, d)
			dir := filepath.Join(home, SessionsDir, day.Format("2006"), day.Format("01"), day.Format("02"))
			if p, ok, err := findInDir(dir, id); err != nil || ok {
				return p, err
			}
		}
	}
	p, ok, err := scanSessions(filepath.Join(home, SessionsDir), id)
	if err != nil || ok {
		return p, err
	}
	if includeArchived {
		if p, ok, err := findInDir(filepath.Join(home, ArchivedDir), id); err != nil || ok {
			return p, err
		}
	}
	return "", fmt.Errorf("%w: %s", ErrThreadNotFound, id)
}

// findInDir looks for id's rollout among the entries of dir.
func findInDir(dir string, id ThreadID) (string, bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("rollout: find thread %s: %w", id, err)
	}
	suffix := "-" + string(id) + PlainExt
	var zst string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, filePrefix) {
			continue
		}
		if strings.HasSuffix(n, suffix) {
			if _, err := ParseFileName(n); err == nil {
				return filepath.Join(dir, n), true, nil
			}
		}
		if strings.HasSuffix(n, suffix+ZstdExt) && zst == "" {
			if _, err := ParseFileName(n); err == nil {
				zst = filepath.Join(dir, n)
			}
		}
	}
	return zst, zst != "", nil
}

// scanSessions walks sessions/YYYY/MM/DD, newest first, for id's rollout.
func scanSessions(root string, id ThreadID) (string, bool, error) {
	years, err := sortedSubdirs(root)
	if err != nil {
		return "", false, err
	}
	for _, y := range years {
		months, err := sortedSubdirs(y)
		if err != nil {
			return "", false, err
		}
		for _, m := range months {
			days, err := sortedSubdirs(m)
			if err != nil {
				return "", false, err
			}
			for _, d := range days {
				if p, ok, err := findInDir(d, id); err != nil || ok {
					return p, ok, err
				}
			}
		}
	}
	return "", false, nil
}

// sortedSubdirs lists the subdirectories of dir, newest (largest name)
// first; a missing dir has none.
func sortedSubdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollout: scan %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Reverse(out) // ReadDir sorts by name
	return out, nil
}

// uuidV7Time returns the creation time embedded in a version-7 UUID.
func uuidV7Time(id ThreadID) (time.Time, bool) {
	s := string(id)
	if len(s) != uuidLen || s[14] != '7' {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13])
	if err != nil {
		return time.Time{}, false
	}
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	return time.UnixMilli(ms), true
}
