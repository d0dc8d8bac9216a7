package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// DBName is the file name of troupe's index inside a home. It is not
// Codex's state_5.sqlite: troupe never writes Codex's database.
const DBName = "state.sqlite"

// BackupDir is the folder (inside the home) that corrupt databases are
// moved to.
const BackupDir = "db-backups"

// ErrSchemaTooNew is matched (errors.Is) when the database was migrated by
// a newer build than this one. Nothing in the file is changed.
var ErrSchemaTooNew = errors.New("sqlitestore: database schema is newer than this build")

// ErrCorrupt is matched (errors.Is) by errors that SQLite reports as
// corruption (SQLITE_CORRUPT, SQLITE_NOTADB).
var ErrCorrupt = errors.New("sqlitestore: database is corrupt")

const (
	sqliteCorrupt = 11
	sqliteNotADB  = 26
)

// isCorruption reports whether err is a SQLite corruption error.
func isCorruption(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrCorrupt) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteCorrupt, sqliteNotADB:
			return true
		}
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"database disk image is malformed", "database schema is malformed",
		"file is not a database", "database is corrupt"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// dsn builds a modernc DSN for path with the given pragmas.
func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// probeVersion opens path with a connection that changes nothing and
// returns the highest applied migration (0 for a new or empty database).
// It fails with ErrSchemaTooNew if that is above what this build knows.
func probeVersion(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", dsn(path, "busy_timeout(5000)"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: read schema version: %w", path, err)
	}
	if latest := latestVersion(); int(v.Int64) > latest {
		return int(v.Int64), fmt.Errorf("%w: %s is at version %d, this build knows up to %d (open it with a newer troupe)", ErrSchemaTooNew, path, v.Int64, latest)
	}
	return int(v.Int64), nil
}

func latestVersion() int { return migrations[len(migrations)-1].Version }

// openPool opens the connection pool used by the index: WAL, NORMAL sync,
// busy timeout, immediate write transactions.
func openPool(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, "busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(OFF)"))
	if err != nil {
		return nil, err
	}
	// WAL lets readers run beside the one writer; a handful of
	// connections is plenty for one process.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	return db, nil
}

// migrate applies the migrations above the database's version, each in a
// transaction with its schema_migrations row.
func migrate(ctx context.Context, db *sql.DB, now func() time.Time) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version       INTEGER PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    applied_at_ms INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var cur sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	if int(cur.Int64) > latestVersion() {
		return fmt.Errorf("%w: version %d, this build knows up to %d", ErrSchemaTooNew, cur.Int64, latestVersion())
	}
	for _, m := range migrations {
		if m.Version <= int(cur.Int64) {
			continue
		}
		if err := applyMigration(ctx, db, m, now); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: migration %d (%s): %w", m.Version, m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("sqlitestore: migration %d (%s): %w", m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at_ms) VALUES (?, ?, ?)`,
		m.Version, m.Name, now().UnixMilli()); err != nil {
		return fmt.Errorf("sqlitestore: migration %d (%s): %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: migration %d (%s): %w", m.Version, m.Name, err)
	}
	return nil
}

// checkIntegrity runs SQLite's quick_check and turns a bad result into an
// error matching ErrCorrupt.
func checkIntegrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = problems[:5]
		}
		return fmt.Errorf("%w: quick_check: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// moveAside moves the database file and its -wal/-shm sidecars into a new
// folder home/db-backups/state-<unix secs>-<n>/ and returns that folder.
func moveAside(home, dbPath string, now time.Time) (string, error) {
	base := filepath.Join(home, BackupDir)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("sqlitestore: back up corrupt database: %w", err)
	}
	var dir string
	for n := 0; ; n++ {
		dir = filepath.Join(base, "state-"+strconv.FormatInt(now.Unix(), 10)+"-"+strconv.Itoa(n))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || n > 1000 {
			return "", fmt.Errorf("sqlitestore: back up corrupt database: %w", err)
		}
	}
	moved := 0
	for _, suffix := range []string{"", "-wal", "-shm"} {
		src := dbPath + suffix
		err := os.Rename(src, filepath.Join(dir, filepath.Base(src)))
		switch {
		case err == nil:
			moved++
		case errors.Is(err, os.ErrNotExist):
		default:
			return dir, fmt.Errorf("sqlitestore: back up corrupt database: %w", err)
		}
	}
	if moved == 0 {
		os.Remove(dir)
		return "", fmt.Errorf("sqlitestore: back up corrupt database: nothing to move at %s", dbPath)
	}
	return dir, nil
}
