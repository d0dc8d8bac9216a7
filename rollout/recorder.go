package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultBufferSize is the recorder's default group-commit threshold.
const DefaultBufferSize = 256 << 10

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Path is the rollout's path: for NewRecorder, the plain .jsonl path
	// to create (see SessionPath); for ResumeRecorder, the logical or
	// physical path of an existing rollout (a .zst form is materialized
	// first). Required.
	Path string
	// Meta is the thread's session_meta, written as the first line when
	// the file is created (NewRecorder copies it, filling an empty
	// SessionID with ID and an empty Timestamp with the clock). Required by
	// NewRecorder; ResumeRecorder uses it
	// only for an existing but empty file, and otherwise reads the file's.
	Meta *SessionMeta
	// Clock stamps the lines. Nil means time.Now.
	Clock func() time.Time
	// BufferSize is the group-commit threshold: appends are encoded into
	// memory and written with one write(2) once this many bytes are
	// pending (and on Flush). 0 means DefaultBufferSize; a negative value
	// writes on every Append.
	BufferSize int
	// MaxLineSize bounds a line when resume scans the file; 0 means
	// DefaultMaxLineSize.
	MaxLineSize int
	// Observer, if set, is told the encoded size of every item offered to
	// the recorder and whether the persistence policy kept it (for
	// persistence metrics; dropped items are encoded only to be measured).
	Observer PersistObserver
}

// PersistObserver receives persistence measurements from a Recorder, on
// the recorder's goroutine. Implementations must be quick; sampling is
// theirs to do.
type PersistObserver interface {
	// ObservePersist reports one offered item: its line kind, its payload
	// type (response item or event type, "" for other kinds), the size of
	// its encoded line and whether it was kept.
	ObservePersist(kind Kind, payloadType string, bytes int, kept bool)
}

// Recorder appends items to one thread's rollout. It is owned by one
// goroutine (the agent's): its methods must not be called concurrently.
//
// Appends are encoded into a buffer and written in batches (group
// commit); Flush writes what is pending and fsyncs, making everything
// appended so far durable. The file is created lazily, with its
// session_meta first, when there is something to write. While the file is
// open the recorder holds the thread's lock (see TryLock), so a second
// recorder, in this process or another, gets ErrLocked. Close flushes and
// releases the file.
type Recorder struct {
	path   string
	clock  func() time.Time
	bufMax int
	obs    PersistObserver

	meta        *SessionMeta
	mode        HistoryMode
	pendingMeta bool // the session_meta line has not been encoded yet

	f       *os.File
	size    int64 // bytes durably framed in the file (complete lines)
	dirSync bool  // the file was created: fsync its directory on Flush
	buf     []byte

	ordinals  bool   // paginated: lines carry ordinals
	next      uint64 // next ordinal
	exhausted bool   // the last ordinal used was MaxUint64

	closed bool
}

func (cfg RecorderConfig) withDefaults() RecorderConfig {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	return cfg
}

// NewRecorder returns a recorder for a new thread whose rollout will be
// created at cfg.Path. Nothing touches the disk until the first write. It
// fails if a rollout (plain or .zst) already exists at the path, or if the
// meta's history mode is unsupported (ErrUnsupportedHistoryMode).
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	cfg = cfg.withDefaults()
	if cfg.Meta == nil {
		return nil, errors.New("rollout: new recorder: no session meta")
	}
	if !cfg.Meta.ID.Valid() {
		return nil, fmt.Errorf("rollout: new recorder: meta id %q: %w", cfg.Meta.ID, ErrInvalidThreadID)
	}
	if !strings.HasSuffix(cfg.Path, PlainExt) {
		return nil, fmt.Errorf("rollout: new recorder: path %q does not end in %s", cfg.Path, PlainExt)
	}
	mode := cfg.Meta.Mode()
	if !mode.Known() {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedHistoryMode, mode)
	}
	if _, _, err := ResolvePath(cfg.Path); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return nil, fmt.Errorf("rollout: new recorder: %s: %w", cfg.Path, fs.ErrExist)
		}
		return nil, err
	}
	// A copy, with the defaults Codex writes: the caller's value is left
	// alone.
	meta := *cfg.Meta
	if meta.SessionID == "" {
		meta.SessionID = meta.ID
	}
	if meta.Timestamp == "" {
		meta.Timestamp = FormatTimestamp(cfg.Clock())
	}
	return &Recorder{
		path:        cfg.Path,
		clock:       cfg.Clock,
		bufMax:      cfg.BufferSize,
		obs:         cfg.Observer,
		meta:        &meta,
		mode:        mode,
		pendingMeta: true,
		ordinals:    mode == HistoryModePaginated,
	}, nil
}

// ResumeRecorder opens an existing rollout for appending: it materializes
// a .zst form, takes the thread's lock (ErrLocked if another writer has
// it), repairs a torn final line (a line without a newline that does not
// decode is truncated; one that decodes gets its newline), and for a
// paginated thread continues the ordinals after the last valid record. A
// thread whose history mode is unsupported fails with an error matching
// ErrUnsupportedHistoryMode and is left untouched.
func ResumeRecorder(cfg RecorderConfig) (*Recorder, error) {
	cfg = cfg.withDefaults()
	phys, compressed, err := ResolvePath(cfg.Path)
	if err != nil {
		return nil, err
	}
	plain := PlainPath(phys)
	// Fail closed before changing anything on disk.
	meta, metaErr := ReadMeta(phys)
	if metaErr == nil && !meta.Mode().Known() {
		return nil, fmt.Errorf("%w %q (thread %s)", ErrUnsupportedHistoryMode, meta.HistoryMode, meta.ID)
	}
	if compressed {
		if _, err := Materialize(phys); err != nil {
			return nil, err
		}
	}
	f, err := LockPath(plain, os.O_RDWR|os.O_APPEND)
	if err != nil {
		return nil, err
	}
	r := &Recorder{path: plain, clock: cfg.Clock, bufMax: cfg.BufferSize, obs: cfg.Observer, f: f}
	if err := r.openExisting(cfg); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// openExisting repairs the tail and loads the meta and ordinals of the
// locked file.
func (r *Recorder) openExisting(cfg RecorderConfig) error {
	size, err := repairTail(r.f)
	if err != nil {
		return err
	}
	r.size = size
	if size == 0 {
		if cfg.Meta == nil {
			return fmt.Errorf("%w: rollout at %s is empty", ErrNoSessionMeta, r.path)
		}
		r.meta, r.mode, r.pendingMeta = cfg.Meta, cfg.Meta.Mode(), true
		if !r.mode.Known() {
			return fmt.Errorf("%w %q", ErrUnsupportedHistoryMode, r.mode)
		}
		r.ordinals = r.mode == HistoryModePaginated
		return nil
	}
	meta, err := ReadMeta(r.path)
	if err != nil {
		return err
	}
	if !meta.Mode().Known() {
		return fmt.Errorf("%w %q (thread %s)", ErrUnsupportedHistoryMode, meta.HistoryMode, meta.ID)
	}
	r.meta, r.mode = meta, meta.Mode()
	if r.mode != HistoryModePaginated {
		return nil
	}
	r.ordinals = true
	var last *uint64
	for rl, err := range ReverseLines(r.f, size, cfg.MaxLineSize) {
		if err != nil {
			return fmt.Errorf("rollout: resume %s: %w", r.path, err)
		}
		it, perr := ParseLine(rl.Data)
		if perr != nil {
			continue // invalid records are skipped, as Codex does
		}
		if it.Ordinal == nil {
			return fmt.Errorf("rollout: resume %s: last record (offset %d) has no ordinal in a paginated rollout", r.path, rl.Offset)
		}
		last = it.Ordinal
		break
	}
	if last == nil {
		return fmt.Errorf("%w: rollout at %s has no valid record", ErrNoSessionMeta, r.path)
	}
	if *last == math.MaxUint64 {
		r.exhausted = true
	} else {
		r.next = *last + 1
	}
	if s := meta.SubagentHistoryStartOrdinal; s != nil && *s > 0 && *last < *s-1 {
		return fmt.Errorf("rollout: resume %s: rollout is incomplete: last ordinal %d, sub-agent history starts at %d", r.path, *last, *s)
	}
	return nil
}

// repairTail makes the file end at a line boundary: a final line without
// a newline is completed if it decodes and truncated otherwise. It never
// removes a complete line. It returns the resulting size.
func repairTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("rollout: repair tail: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, fmt.Errorf("rollout: repair tail: %w", err)
	}
	if last[0] == '\n' {
		return size, nil
	}
	// Find the start of the unterminated line.
	start := int64(0)
	chunk := make([]byte, reverseChunk)
	for pos := size; pos > 0; {
		n := min(int64(reverseChunk), pos)
		pos -= n
		if _, err := f.ReadAt(chunk[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("rollout: repair tail: %w", err)
		}
		if i := bytes.LastIndexByte(chunk[:n], '\n'); i >= 0 {
			start = pos + int64(i) + 1
			break
		}
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("rollout: repair tail: %w", err)
	}
	if _, perr := ParseLine(tail); perr == nil {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return 0, fmt.Errorf("rollout: repair tail: %w", err)
		}
		size++
	} else {
		if err := f.Truncate(start); err != nil {
			return 0, fmt.Errorf("rollout: repair tail: %w", err)
		}
		size = start
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("rollout: repair tail: %w", err)
	}
	return size, nil
}

// Path returns the plain path of the rollout.
func (r *Recorder) Path() string { return r.path }

// Meta returns the thread's canonical session_meta. The caller must not
// modify it.
func (r *Recorder) Meta() *SessionMeta { return r.meta }

// Mode returns the thread's history mode.
func (r *Recorder) Mode() HistoryMode { return r.mode }

// Created reports whether the rollout file exists (it is created lazily).
func (r *Recorder) Created() bool { return r.f != nil }

// NextOrdinal returns the ordinal the next record will get, and false for
// a legacy thread (no ordinals).
func (r *Recorder) NextOrdinal() (uint64, bool) { return r.next, r.ordinals }

// Append stamps payloads with the clock and appends those the persistence
// policy keeps for the thread's mode (see ShouldPersist). The call is all
// or nothing: if one payload cannot be encoded, none is appended. Appended
// items are durable only after Flush.
func (r *Recorder) Append(payloads ...Payload) error {
	items := make([]Item, len(payloads))
	now := r.clock()
	for i, p := range payloads {
		items[i] = Item{Timestamp: now, Payload: p}
	}
	return r.AppendItems(items...)
}

// AppendItems appends items with their own timestamps and metadata (a
// zero Timestamp is stamped with the clock). Ordinals are the recorder's:
// an item's Ordinal is ignored. An item that carries its raw line (read
// from another rollout) is copied byte-identical, except for the ordinal
// of a paginated thread. Like Append, it filters by the persistence
// policy and is all or nothing.
func (r *Recorder) AppendItems(items ...Item) error {
	if r.closed {
		return ErrClosed
	}
	if r.buf == nil {
		// Room for a typical batch, so the first appends do not regrow.
		r.buf = make([]byte, 0, min(max(r.bufMax, 4<<10), 64<<10))
	}
	oldLen, oldNext, oldExhausted, oldPending := len(r.buf), r.next, r.exhausted, r.pendingMeta
	rollback := func(err error) error {
		r.buf, r.next, r.exhausted, r.pendingMeta = r.buf[:oldLen], oldNext, oldExhausted, oldPending
		return err
	}
	for _, it := range items {
		if !ShouldPersist(it.Payload, r.mode) {
			r.observe(it, false, 0)
			continue
		}
		if it.Timestamp.IsZero() {
			it.Timestamp = r.clock()
		}
		if r.pendingMeta {
			mi := Item{Timestamp: it.Timestamp, Payload: r.meta}
			before := len(r.buf)
			if err := r.encode(mi); err != nil {
				return rollback(err)
			}
			r.pendingMeta = false
			r.observe(mi, true, len(r.buf)-before)
		}
		before := len(r.buf)
		if err := r.encode(it); err != nil {
			return rollback(err)
		}
		r.observe(it, true, len(r.buf)-before)
	}
	if r.bufMax < 0 || len(r.buf) >= r.bufMax {
		return r.write()
	}
	return nil
}

// observe reports an offered item to the observer, if any. n is the size
// of its line when already encoded.
func (r *Recorder) observe(it Item, kept bool, n int) {
	if r.obs == nil || it.Payload == nil {
		return
	}
	if !kept {
		if it.raw != nil {
			n = len(it.raw) + 1
		} else if b, err := AppendLine(nil, it); err == nil {
			n = len(b)
		}
	}
	typ := ""
	switch p := it.Payload.(type) {
	case *ResponseItem:
		typ = p.Type
	case *EventMsg:
		typ = p.Type
	}
	r.obs.ObservePersist(it.Payload.Kind(), typ, n, kept)
}

// encode appends one line to the buffer, assigning its ordinal.
func (r *Recorder) encode(it Item) error {
	if r.ordinals {
		if r.exhausted {
			return fmt.Errorf("rollout: append to %s: ordinal overflow", r.path)
		}
		n := r.next
		it.Ordinal = &n
		if r.next == math.MaxUint64 {
			r.exhausted = true
		} else {
			r.next++
		}
	} else {
		it.Ordinal = nil
	}
	if raw := it.raw; raw != nil {
		if !r.ordinals {
			r.buf = append(append(r.buf, raw...), '\n')
			return nil
		}
		if b, ok := rewriteOrdinal(r.buf, raw, *it.Ordinal); ok {
			r.buf = append(b, '\n')
			return nil
		}
	}
	b, err := AppendLine(r.buf, it)
	if err != nil {
		return fmt.Errorf("rollout: append to %s: %w", r.path, err)
	}
	r.buf = b
	return nil
}

// rewriteOrdinal appends raw to dst with its ordinal set to n, keeping
// every other byte, when raw has Codex's envelope layout
// ({"timestamp":"<24 bytes>",["ordinal":N,]"type":...).
func rewriteOrdinal(dst, raw []byte, n uint64) ([]byte, bool) {
	const pre = `{"timestamp":"`
	end := len(pre) + len(TimeLayout) // index of the closing quote
	if len(raw) <= end+1 || !bytes.HasPrefix(raw, []byte(pre)) || raw[end] != '"' {
		return dst, false
	}
	rest := raw[end+1:]
	if r2, ok := bytes.CutPrefix(rest, []byte(`,"ordinal":`)); ok {
		i := 0
		for i < len(r2) && r2[i] >= '0' && r2[i] <= '9' {
			i++
		}
		if i == 0 || !bytes.HasPrefix(r2[i:], []byte(`,"type":`)) {
			return dst, false
		}
		rest = r2[i:]
	} else if !bytes.HasPrefix(rest, []byte(`,"type":`)) {
		return dst, false
	}
	dst = append(dst, raw[:end+1]...)
	dst = append(dst, `,"ordinal":`...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, rest...), true
}

// write creates the file if needed and writes the buffer in one call. On
// failure the buffer is kept (a later Flush retries) and any partial write
// is cut off, so the file never holds a partial line of ours.
func (r *Recorder) write() error {
	if len(r.buf) == 0 {
		return nil
	}
	if r.f == nil {
		if err := r.create(); err != nil {
			return err
		}
	}
	n, err := r.f.Write(r.buf)
	if err != nil {
		if n > 0 {
			if terr := r.f.Truncate(r.size); terr != nil {
				return fmt.Errorf("rollout: write %s: %w (and cutting the partial write failed: %v)", r.path, err, terr)
			}
		}
		return fmt.Errorf("rollout: write %s: %w", r.path, err)
	}
	r.size += int64(n)
	r.buf = r.buf[:0]
	return nil
}

// create makes the rollout file (and its directories) and locks it.
func (r *Recorder) create() error {
	dir := filepath.Dir(r.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rollout: create %s: %w", r.path, err)
	}
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("rollout: create %s: %w", r.path, err)
	}
	if err := TryLock(f); err != nil {
		f.Close()
		return err
	}
	r.f, r.size, r.dirSync = f, 0, true
	return nil
}

// Persist makes the thread's file exist now, with its session_meta, even
// if nothing else was appended (Codex's persist), and flushes.
func (r *Recorder) Persist(ctx context.Context) error {
	if r.closed {
		return ErrClosed
	}
	if r.pendingMeta {
		oldLen, oldNext, oldExhausted := len(r.buf), r.next, r.exhausted
		if err := r.encode(Item{Timestamp: r.clock(), Payload: r.meta}); err != nil {
			r.buf, r.next, r.exhausted = r.buf[:oldLen], oldNext, oldExhausted
			return err
		}
		r.pendingMeta = false
	}
	return r.Flush(ctx)
}

// Flush writes everything appended so far and fsyncs the file (and, the
// first time after creating it, its directory), so that it survives a
// crash. A thread with nothing appended yet creates no file.
func (r *Recorder) Flush(ctx context.Context) error {
	if r.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.write(); err != nil {
		return err
	}
	if r.f == nil {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("rollout: sync %s: %w", r.path, err)
	}
	if r.dirSync {
		if err := syncDir(filepath.Dir(r.path)); err != nil {
			return fmt.Errorf("rollout: sync dir of %s: %w", r.path, err)
		}
		r.dirSync = false
	}
	return nil
}

// Close flushes and closes the file, releasing the thread's lock. It is
// idempotent. If the final flush fails the file is still closed and the
// error returned: what was not written is lost.
func (r *Recorder) Close() error {
	if r.closed {
		return nil
	}
	err := r.Flush(context.Background())
	r.closed = true
	if r.f != nil {
		if cerr := r.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("rollout: close %s: %w", r.path, cerr)
		}
		r.f = nil
	}
	return err
}
