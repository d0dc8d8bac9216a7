package sqlitestore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// ItemRecord is one projected history item of a thread, for paginated
// reads: a completed turn item (item_completed snapshot) of a paginated
// thread, or a response item (and the legacy item_completed kinds) of a
// legacy thread. Items are in rollout order; a later snapshot of the same
// item id in the same turn replaces the earlier one in place, and a
// rollback removes the rolled-back turns' items.
type ItemRecord struct {
	Seq    int64
	TurnID string
	ItemID string
	// Type is the TurnItem type (UserMessage, AgentMessage, ...) of an
	// item_completed snapshot, or the response item type (message,
	// function_call, ...).
	Type string
	// Ordinal is the rollout ordinal of the line (paginated threads).
	Ordinal *uint64
	// Offset is the byte offset of the line in the rollout.
	Offset    int64
	CreatedAt time.Time
	// JSON is the item: the TurnItem object, or the response item payload.
	JSON json.RawMessage
}

// ItemPage is one page of projected items; Next is the cursor of the
// following page, "" at the end.
type ItemPage struct {
	Items []ItemRecord
	Next  string
}

// projState is a thread's projection checkpoint.
type projState struct {
	offset  int64
	nextSeq int64
	turn    string
	turns   []string
}

func (ix *Index) loadProjState(ctx context.Context, x execer, id rollout.ThreadID) (projState, error) {
	var st projState
	var turns string
	err := x.QueryRowContext(ctx, `SELECT next_byte_offset, next_seq, turn_id, turns FROM thread_projection WHERE thread_id = ?`, string(id)).
		Scan(&st.offset, &st.nextSeq, &st.turn, &turns)
	if errors.Is(err, sql.ErrNoRows) {
		return projState{}, nil
	}
	if err != nil {
		return projState{}, err
	}
	if err := json.Unmarshal([]byte(turns), &st.turns); err != nil {
		return projState{}, fmt.Errorf("projection state of %s: %w", id, err)
	}
	return st, nil
}

// projLine is one complete line of the unprojected suffix.
type projLine struct {
	offset int64
	data   []byte
}

// readSuffix reads the complete lines of the rollout at path from byte
// offset on (in the decompressed stream for a .zst form). A final line
// without its newline is left for later. It reports reset when the file is
// shorter than offset (it was replaced): projection must start over.
func readSuffix(path string, offset int64) (lines []projLine, end int64, reset bool, err error) {
	rc, _, err := rollout.OpenFile(path)
	if err != nil {
		return nil, 0, false, err
	}
	defer rc.Close()
	if f, ok := rc.(*os.File); ok {
		st, err := f.Stat()
		if err != nil {
			return nil, 0, false, err
		}
		if st.Size() < offset {
			return nil, 0, true, nil
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, 0, false, err
		}
	} else if n, err := io.CopyN(io.Discard, rc, offset); err != nil {
		if errors.Is(err, io.EOF) && n < offset {
			return nil, 0, true, nil
		}
		return nil, 0, false, err
	}
	br := bufio.NewReaderSize(rc, 256<<10)
	end = offset
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return lines, end, false, nil // an unterminated tail waits
		}
		if err != nil {
			return nil, 0, false, err
		}
		lines = append(lines, projLine{offset: end, data: line})
		end += int64(len(line))
		if len(lines) >= 4096 {
			return lines, end, false, nil // bounded batches
		}
	}
}

// project brings thread id's projected items up to date with its rollout
// at path, reducing only the lines after the checkpoint. It returns the
// number of lines consumed. Concurrent projectors are safe: the checkpoint
// is re-checked inside the write transaction.
func (ix *Index) project(ctx context.Context, id rollout.ThreadID, path string) (int, error) {
	total := 0
	start := int64(-1) // subagent_history_start_ordinal, read once
	for {
		st, err := ix.loadProjState(ctx, ix.db, id)
		if err != nil {
			return total, err
		}
		lines, end, reset, err := readSuffix(path, st.offset)
		if err != nil {
			return total, err
		}
		if reset {
			for _, q := range []string{`DELETE FROM thread_items WHERE thread_id = ?`, `DELETE FROM thread_projection WHERE thread_id = ?`} {
				if _, err := ix.db.ExecContext(ctx, q, string(id)); err != nil {
					return total, err
				}
			}
			continue
		}
		if len(lines) == 0 {
			return total, nil
		}
		if start < 0 {
			start = 0
			if m, err := rollout.ReadMeta(path); err == nil && m.SubagentHistoryStartOrdinal != nil {
				start = int64(*m.SubagentHistoryStartOrdinal)
			}
		}
		if err := ix.applyProjection(ctx, id, st.offset, end, lines, start); err != nil {
			return total, err
		}
		total += len(lines)
	}
}

// applyProjection reduces lines (from byte offset from up to end) into the
// projection. Records below the sub-agent history start ordinal (the
// prefix a forked sub-agent copied from its parent) only advance the
// checkpoint, as in Codex.
func (ix *Index) applyProjection(ctx context.Context, id rollout.ThreadID, from, end int64, lines []projLine, startOrdinal int64) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := ix.loadProjState(ctx, tx, id)
	if err != nil {
		return err
	}
	if st.offset != from {
		return nil // another projector got here first; the caller re-reads
	}
	var mode rollout.HistoryMode
	if err := tx.QueryRowContext(ctx, `SELECT history_mode FROM threads WHERE id = ?`, string(id)).Scan(&mode); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	for _, ln := range lines {
		if len(bytes.TrimSpace(ln.data)) == 0 {
			continue
		}
		it, err := rollout.ParseLine(ln.data)
		if err != nil {
			continue // a corrupt line in the middle is skipped, as on read
		}
		if m, ok := it.Payload.(*rollout.SessionMeta); ok && mode == "" {
			mode = m.Mode()
		}
		if it.Ordinal != nil && int64(*it.Ordinal) < startOrdinal {
			continue
		}
		if err := st.applyItem(ctx, tx, id, mode.Normalize(), it, ln.offset); err != nil {
			return err
		}
	}
	turns, _ := json.Marshal(st.turns)
	if _, err := tx.ExecContext(ctx, `INSERT INTO thread_projection(thread_id, next_byte_offset, next_seq, turn_id, turns)
VALUES (?,?,?,?,?) ON CONFLICT(thread_id) DO UPDATE SET next_byte_offset = excluded.next_byte_offset,
 next_seq = excluded.next_seq, turn_id = excluded.turn_id, turns = excluded.turns`,
		string(id), end, st.nextSeq, st.turn, string(turns)); err != nil {
		return err
	}
	return tx.Commit()
}

// applyItem reduces one rollout item into the projection.
func (st *projState) applyItem(ctx context.Context, tx *sql.Tx, id rollout.ThreadID, mode rollout.HistoryMode, it rollout.Item, off int64) error {
	switch p := it.Payload.(type) {
	case *rollout.EventMsg:
		switch rollout.CanonicalEventType(p.Type) {
		case rollout.EventTurnStarted:
			st.startTurn(p.TurnID)
		case rollout.EventThreadRolledBack:
			var rb rollout.ThreadRolledBack
			if p.Decode(&rb) == nil {
				return st.rollback(ctx, tx, id, int(rb.NumTurns))
			}
		case rollout.EventItemCompleted:
			var ic rollout.ItemCompleted
			if p.Decode(&ic) != nil {
				return nil
			}
			typ, itemID, _ := ic.ItemHeader()
			turn := ic.TurnID
			if turn == "" {
				turn = st.turn
			}
			return st.upsertItem(ctx, tx, id, turn, itemID, typ, it, off, ic.Item)
		}
	case *rollout.ResponseItem:
		if mode == rollout.HistoryModePaginated {
			return nil // the item_completed snapshots are the history
		}
		turn := p.TurnID()
		if turn == "" {
			if p.IsUserMessage() && st.turn == "" {
				st.startTurn("implicit-" + strconv.Itoa(len(st.turns)+1))
			}
			turn = st.turn
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return st.upsertItem(ctx, tx, id, turn, p.ID, p.Type, it, off, raw)
	}
	return nil
}

func (st *projState) startTurn(turn string) {
	st.turn = turn
	for _, t := range st.turns {
		if t == turn {
			return
		}
	}
	st.turns = append(st.turns, turn)
}

// rollback drops the items of the last n turns.
func (st *projState) rollback(ctx context.Context, tx *sql.Tx, id rollout.ThreadID, n int) error {
	n = min(n, len(st.turns))
	for _, turn := range st.turns[len(st.turns)-n:] {
		if _, err := tx.ExecContext(ctx, `DELETE FROM thread_items WHERE thread_id = ? AND turn_id = ?`, string(id), turn); err != nil {
			return err
		}
	}
	st.turns = st.turns[:len(st.turns)-n]
	st.turn = ""
	return nil
}

// upsertItem inserts an item, or replaces the earlier snapshot of the same
// item id in the same turn (keeping its place).
func (st *projState) upsertItem(ctx context.Context, tx *sql.Tx, id rollout.ThreadID, turn, itemID, typ string, it rollout.Item, off int64, raw json.RawMessage) error {
	var ord any
	if it.Ordinal != nil {
		ord = int64(*it.Ordinal)
	}
	if itemID != "" {
		res, err := tx.ExecContext(ctx, `UPDATE thread_items SET item_json = ?, item_type = ? WHERE thread_id = ? AND turn_id = ? AND item_id = ?`,
			string(raw), typ, string(id), turn, itemID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO thread_items(thread_id, seq, turn_id, item_id, item_type, ordinal, byte_offset, created_at_ms, item_json)
VALUES (?,?,?,?,?,?,?,?,?)`, string(id), st.nextSeq, turn, itemID, typ, ord, off, it.Timestamp.UnixMilli(), string(raw))
	st.nextSeq++
	return err
}

func encodeItemCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("i1|" + strconv.FormatInt(seq, 10)))
}

func decodeItemCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := bytes.CutPrefix(b, []byte("i1|")); ok {
			if n, err := strconv.ParseInt(string(rest), 10, 64); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%w %q: not an item cursor of this store", ErrInvalidCursor, s)
}

// Items returns one page of thread id's projected items, oldest first,
// first catching the projection up with the rollout (only the new suffix
// is reduced). Page.Sort is ignored. A thread whose history mode this
// build does not know fails with rollout.ErrUnsupportedHistoryMode.
func (s *Store) Items(ctx context.Context, id rollout.ThreadID, page Page) (ItemPage, error) {
	if err := s.checkOpen(); err != nil {
		return ItemPage{}, err
	}
	if err := checkID(id); err != nil {
		return ItemPage{}, err
	}
	limit, err := page.limit()
	if err != nil {
		return ItemPage{}, err
	}
	after := int64(-1)
	if page.Cursor != "" {
		if after, err = decodeItemCursor(page.Cursor); err != nil {
			return ItemPage{}, err
		}
	}
	phys, _, err := s.locate(ctx, id)
	if err != nil {
		return ItemPage{}, err
	}
	if row, err := s.ix.Get(ctx, id); err == nil && !row.HistoryMode.Known() {
		return ItemPage{}, fmt.Errorf("%w %q (thread %s)", rollout.ErrUnsupportedHistoryMode, row.HistoryMode, id)
	} else if errors.Is(err, ErrNotFound) {
		if _, err := s.indexFile(ctx, phys); err != nil {
			return ItemPage{}, err
		}
	}
	if _, err := s.ix.project(ctx, id, phys); err != nil {
		return ItemPage{}, fmt.Errorf("sqlitestore: project items of %s: %w", id, err)
	}
	rows, err := s.ix.db.QueryContext(ctx, `SELECT seq, turn_id, item_id, item_type, ordinal, byte_offset, created_at_ms, item_json
FROM thread_items WHERE thread_id = ? AND seq > ? ORDER BY seq LIMIT ?`, string(id), after, limit+1)
	if err != nil {
		return ItemPage{}, fmt.Errorf("sqlitestore: items of %s: %w", id, err)
	}
	defer rows.Close()
	var out ItemPage
	for rows.Next() {
		var r ItemRecord
		var ord sql.NullInt64
		var created int64
		var js string
		if err := rows.Scan(&r.Seq, &r.TurnID, &r.ItemID, &r.Type, &ord, &r.Offset, &created, &js); err != nil {
			return ItemPage{}, fmt.Errorf("sqlitestore: items of %s: %w", id, err)
		}
		if ord.Valid {
			o := uint64(ord.Int64)
			r.Ordinal = &o
		}
		r.CreatedAt, r.JSON = time.UnixMilli(created).UTC(), json.RawMessage(js)
		out.Items = append(out.Items, r)
	}
	if err := rows.Err(); err != nil {
		return ItemPage{}, fmt.Errorf("sqlitestore: items of %s: %w", id, err)
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		out.Next = encodeItemCursor(out.Items[limit-1].Seq)
	}
	return out, nil
}
