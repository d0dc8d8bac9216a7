package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

func TestMigrationVersionsUniqueAndContiguous(t *testing.T) {
	seen := map[int]bool{}
	for i, m := range migrations {
		if seen[m.Version] {
			t.Errorf("migration version %d is used twice", m.Version)
		}
		seen[m.Version] = true
		if m.Version != i+1 {
			t.Errorf("migrations[%d].Version = %d, want %d (contiguous from 1)", i, m.Version, i+1)
		}
		if strings.TrimSpace(m.Name) == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d has no name or SQL", m.Version)
		}
	}
}

func TestMigrationsAppliedOnceEach(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	for range 2 { // the second open finds everything applied
		ix, err := OpenIndex(ctx, Config{Home: home})
		if err != nil {
			t.Fatalf("OpenIndex = %v", err)
		}
		var n, max int
		if err := ix.db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || max != latestVersion() {
			t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, max, len(migrations), latestVersion())
		}
		var mode string
		if err := ix.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		ix.Close()
	}
}

func TestNewerSchemaIsRefusedUntouched(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	ix, err := OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, Thread{ID: "01a21136-0000-7000-8000-000000000001", RolloutPath: "/x.jsonl"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.db.Exec(`INSERT INTO schema_migrations(version, name, applied_at_ms) VALUES (?, 'from the future', 0)`, latestVersion()+7); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	path := filepath.Join(home, DBName)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenIndex(ctx, Config{Home: home})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("OpenIndex(newer db) = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the database is newer", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the newer database was modified by a failed open")
	}
	if ents, _ := os.ReadDir(filepath.Join(home, BackupDir)); len(ents) != 0 {
		t.Errorf("a newer database was treated as corrupt: %d backups", len(ents))
	}
}

// writeRollout writes a small legacy rollout for id under home and returns
// its path.
func writeRollout(t *testing.T, home string, id rollout.ThreadID, prompt string, archived bool) string {
	t.Helper()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := rollout.SessionPath(home, created, id)
	if archived {
		p = rollout.ArchivedPath(home, p)
	}
	meta := &rollout.SessionMeta{ID: id, Timestamp: rollout.FormatTimestamp(created), Cwd: "/w", Originator: "test", Source: []byte(`"cli"`)}
	rec, err := rollout.NewRecorder(rollout.RecorderConfig{Path: p, Meta: meta, Clock: func() time.Time { return created }})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := rollout.NewEvent(rollout.UserMessage{Message: prompt})
	if err := rec.Append(rollout.NewMessage(rollout.RoleUser, prompt), ev); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCorruptionRecovery(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	a := rollout.ThreadID("01a21136-0000-7000-8000-00000000000a")
	b := rollout.ThreadID("01a21136-0000-7000-8000-00000000000b")
	writeRollout(t, home, a, "alpha", false)
	writeRollout(t, home, b, "beta", true)
	ix, err := OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	path := filepath.Join(home, DBName)
	garbage := bytes.Repeat([]byte("this is not a database "), 4096)
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	var progress []RebuildProgress
	var logs bytes.Buffer
	s, err := Open(ctx, Config{Home: home, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Progress: func(p RebuildProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatalf("Open(corrupt db) = %v, want recovery", err)
	}
	defer s.Close()
	rec := s.Recovery()
	if rec == nil {
		t.Fatal("Recovery() = nil after opening a corrupt database")
	}
	if rec.DBPath != path || !isCorruption(rec.Cause) || rec.Rebuilt.Threads != 2 {
		t.Errorf("Recovery = %+v, want db %s, a corruption cause, 2 threads", rec, path)
	}
	moved, err := os.ReadFile(filepath.Join(rec.BackupDir, DBName))
	if err != nil || !bytes.Equal(moved, garbage) {
		t.Errorf("backup %s does not hold the corrupt file: %v", rec.BackupDir, err)
	}
	if filepath.Dir(rec.BackupDir) != filepath.Join(home, BackupDir) {
		t.Errorf("BackupDir = %s, want under %s", rec.BackupDir, filepath.Join(home, BackupDir))
	}
	if len(progress) != 2 || progress[1].Done != 2 || progress[1].Total != 2 {
		t.Errorf("progress = %+v, want 2 reports ending 2/2", progress)
	}
	if !strings.Contains(logs.String(), rec.BackupDir) {
		t.Errorf("log does not report the backup folder:\n%s", logs.String())
	}
	for id, archived := range map[rollout.ThreadID]bool{a: false, b: true} {
		th, err := s.Get(ctx, id)
		if err != nil || th.Archived != archived {
			t.Errorf("Get(%s) after recovery = %+v, %v; want archived=%v", id, th, err, archived)
		}
	}
	if err := s.Index().CheckIntegrity(ctx); err != nil {
		t.Errorf("CheckIntegrity after recovery = %v", err)
	}
}

func TestIsCorruption(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("file is not a database (26)"), true},
		{errors.New("database disk image is malformed"), true},
		{ErrCorrupt, true},
		{errors.New("database is locked"), false},
		{errors.New("open /x/sqlite_corrupt_dir: permission denied"), false},
	}
	for _, c := range cases {
		if got := isCorruption(c.err); got != c.want {
			t.Errorf("isCorruption(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestAllocMS(t *testing.T) {
	cases := []struct {
		hwm, candidate, want, wantHWM int64
	}{
		{0, 1000, 1000, 1000}, // new high
		{1_700_001_111_123, 1_700_001_111_123, 1_700_001_111_124, 1_700_001_111_124}, // same ms: +1
		{1_700_001_111_500, 1_700_001_111_000, 1_700_001_111_501, 1_700_001_111_501}, // inside the hot second
		{1_700_001_111_500, 1_700_001_110_000, 1_700_001_110_000, 1_700_001_111_500}, // historical: unchanged
	}
	for _, c := range cases {
		hwm := c.hwm
		if got := allocMS(&hwm, c.candidate); got != c.want || hwm != c.wantHWM {
			t.Errorf("allocMS(hwm %d, %d) = %d (hwm %d), want %d (hwm %d)", c.hwm, c.candidate, got, hwm, c.want, c.wantHWM)
		}
	}
}

func TestRecencyUniqueWithFrozenClock(t *testing.T) {
	ctx := context.Background()
	frozen := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ix, err := OpenIndex(ctx, Config{Home: t.TempDir(), Clock: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ids := []rollout.ThreadID{"01a21136-0000-7000-8000-000000000001", "01a21136-0000-7000-8000-000000000002"}
	for _, id := range ids {
		if err := ix.Upsert(ctx, Thread{ID: id, RolloutPath: "/x"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	var last int64
	for i := range 6 {
		id := ids[i%2]
		if err := ix.TouchRecency(ctx, id); err != nil {
			t.Fatal(err)
		}
		th, err := ix.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ms := th.RecencyAt.UnixMilli()
		if seen[ms] || ms <= last {
			t.Errorf("touch %d: recency %d not unique and increasing (last %d)", i, ms, last)
		}
		seen[ms], last = true, ms
	}
	if err := ix.TouchRecency(ctx, "01a21136-0000-7000-8000-0000000000ff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchRecency(unknown) = %v, want ErrNotFound", err)
	}
}

func TestCursorRoundTripAndGarbage(t *testing.T) {
	c := cursor{sort: SortRecency, ms: 1_795_585_120_104, id: "01a21136-9763-7800-b22b-e3b009215564"}
	got, err := decodeCursor(encodeCursor(c), SortRecency)
	if err != nil || got != c {
		t.Errorf("decodeCursor(encodeCursor(%+v)) = %+v, %v", c, got, err)
	}
	for _, s := range []string{"", "x", encodeCursor(c)[1:], "YzF8cmVjZW5jeXx4fHk"} {
		if _, err := decodeCursor(s, SortRecency); !errors.Is(err, ErrInvalidCursor) || !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("decodeCursor(%q) = %v, want ErrInvalidCursor", s, err)
		}
	}
	if _, err := decodeCursor(encodeCursor(c), SortCreated); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("decodeCursor(recency cursor, created) = %v, want ErrInvalidCursor", err)
	}
}

func TestPendingDeletesFinishOnOpen(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	id := rollout.ThreadID("01a21136-0000-7000-8000-00000000000d")
	p := writeRollout(t, home, id, "doomed", false)
	ix, err := OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash right after the commit point: rows gone, files not.
	if err := ix.deleteRows(ctx, []rollout.ThreadID{id}, []string{p}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("rollout should still exist before reopening: %v", err)
	}
	ix, err = OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rollout after reopen: %v, want removed", err)
	}
	var n int
	if err := ix.db.QueryRow(`SELECT count(*) FROM pending_file_deletes`).Scan(&n); err != nil || n != 0 {
		t.Errorf("pending deletes = %d, %v; want 0", n, err)
	}
	if _, err := ix.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
	}
}

func TestRebuildSkipsBadFilesAndDropsStaleRows(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	good := rollout.ThreadID("01a21136-0000-7000-8000-000000000001")
	writeRollout(t, home, good, "fine", false)
	bad := rollout.SessionPath(home, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "01a21136-0000-7000-8000-000000000002")
	if err := os.WriteFile(bad, []byte("not json\n{\"also\":\"not a rollout\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(bad), "notes.txt"), []byte("ignored"), 0o644)
	ix, err := OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	stale := rollout.ThreadID("01a21136-0000-7000-8000-000000000003")
	if err := ix.Upsert(ctx, Thread{ID: stale, RolloutPath: "/gone.jsonl"}); err != nil {
		t.Fatal(err)
	}
	res, err := ix.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Threads != 1 || res.Removed != 1 || len(res.Skipped) != 1 || res.Skipped[0].Path != bad || res.CorruptLines != 2 {
		t.Errorf("Rebuild = %+v, want 1 thread, 1 removed, %s skipped, 2 corrupt lines", res, bad)
	}
	if _, err := ix.Get(ctx, stale); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale row after Rebuild: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Open(context.Background(), Config{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(context.Background(), CreateOptions{Meta: rollout.SessionMeta{Cwd: "/w"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rollout.NewMessage(rollout.RoleUser, "hi")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // closes the open writer too
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.List(context.Background(), ListOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines after Close = %d, before Open %d", n, before)
	}
}

func TestMoveAsideTakesSidecars(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, DBName)
	other := filepath.Join(home, "other.sqlite")
	for _, p := range []string{db, db + "-wal", db + "-shm", other} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1_700_000_000, 0)
	dir, err := moveAside(home, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, BackupDir, "state-1700000000-0"); dir != want {
		t.Errorf("moveAside dir = %s, want %s", dir, want)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, DBName+suffix))
		if err != nil || string(b) != db+suffix {
			t.Errorf("backup of %s%s: %q, %v", DBName, suffix, b, err)
		}
		if _, err := os.Stat(db + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s%s still in place: %v", db, suffix, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated database moved: %v", err)
	}
	os.WriteFile(db, []byte("again"), 0o644)
	dir2, err := moveAside(home, db, now)
	if err != nil || dir2 == dir {
		t.Errorf("second moveAside in the same second = %s, %v; want a new folder", dir2, err)
	}
	if _, err := moveAside(home, db, now); err == nil {
		t.Errorf("moveAside with nothing to move = nil error, want one")
	}
}

func TestTreeMigrationFromExistingEdges(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	path := filepath.Join(home, DBName)
	db, err := openPool(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:3] {
		if err := applyMigration(ctx, db, m, time.Now); err != nil {
			t.Fatal(err)
		}
	}
	id := func(n int) rollout.ThreadID { return rollout.ThreadID(fmt.Sprintf("01a21136-0000-7000-8000-%012x", n)) }
	// 1 -> 2 -> 3, 1 -> 4, and a detached cycle 8 -> 9 -> 8.
	for _, e := range [][2]int{{1, 2}, {2, 3}, {1, 4}, {8, 9}, {9, 8}} {
		if _, err := db.Exec(`INSERT INTO thread_spawn_edges VALUES (?, ?, 'open')`, string(id(e[0])), string(id(e[1]))); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{1, 2, 3, 4, 8, 9} {
		if _, err := db.Exec(`INSERT INTO threads(id, rollout_path, created_at_ms, updated_at_ms, recency_at_ms) VALUES (?, '/x', ?, ?, ?)`,
			string(id(n)), n, n, n); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	ix, err := OpenIndex(ctx, Config{Home: home})
	if err != nil {
		t.Fatalf("OpenIndex (migrating to 4) = %v", err)
	}
	defer ix.Close()
	cases := []struct {
		root rollout.ThreadID
		want []rollout.ThreadID
	}{
		{id(1), []rollout.ThreadID{id(2), id(3), id(4)}},
		{id(2), []rollout.ThreadID{id(3)}},
		{id(4), nil},
		// A cycle with no root has no place in a tree: the migration
		// leaves its members as lone nodes (the time-sorted CTE query
		// still follows the edges).
		{id(8), nil},
	}
	for _, c := range cases {
		p, err := ix.Descendants(ctx, c.root, Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []rollout.ThreadID
		for _, th := range p.Threads {
			got = append(got, th.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Descendants(%s) after migration = %v, want %v", c.root, got, c.want)
		}
	}
}

// TestStalePathIsRepaired: a crash between an archive's rename and its
// row update (or a copied home) leaves the row pointing at the wrong
// place; the next lookup finds the file and repairs the row.
func TestStalePathIsRepaired(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	id := rollout.ThreadID("01a21136-0000-7000-8000-0000000000aa")
	live := writeRollout(t, home, id, "moved under me", false)
	s, err := Open(ctx, Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	archived := rollout.ArchivedPath(home, live)
	os.MkdirAll(filepath.Dir(archived), 0o755)
	if err := os.Rename(live, archived); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.Get(ctx, id); th.Archived || th.RolloutPath != live {
		t.Fatalf("row before repair = %+v, want the stale live path", th)
	}
	d, err := s.Read(ctx, id)
	if err != nil || len(d.Items) == 0 {
		t.Fatalf("Read(moved thread) = %d items, %v", len(d.Items), err)
	}
	th, err := s.Get(ctx, id)
	if err != nil || !th.Archived || th.RolloutPath != archived {
		t.Errorf("row after Read = %+v, %v; want archived at %s", th, err, archived)
	}
	if err := s.Unarchive(ctx, id); err != nil {
		t.Fatalf("Unarchive = %v", err)
	}
	if th, _ := s.Get(ctx, id); th.Archived || th.RolloutPath != live {
		t.Errorf("row after Unarchive = archived %v path %s, want %s", th.Archived, th.RolloutPath, live)
	}
}
