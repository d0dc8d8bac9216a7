package rollout

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
)

// reverseChunk is how much a backward scan reads at a time.
const reverseChunk = 8 << 10

// RawLine is one line found by a backward scan.
type RawLine struct {
	// Offset is the byte offset of the line's first byte.
	Offset int64
	// Data is the line without its newline. It is only valid until the
	// iteration continues.
	Data []byte
	// Terminated is false for a final line with no newline (a torn append,
	// or a writer that does not end lines).
	Terminated bool
}

// ReverseLines yields the non-blank lines of r[0:size] from last to first,
// reading backwards in 8 KiB chunks, so finding the tail of a large file
// reads only the tail. A line longer than maxLine (0: DefaultMaxLineSize)
// ends the scan with an error matching ErrLineTooLong.
func ReverseLines(r io.ReaderAt, size int64, maxLine int) iter.Seq2[RawLine, error] {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineSize
	}
	return func(yield func(RawLine, error) bool) {
		pos := size
		// pending holds the bytes between pos and the first newline after
		// it: the end of a line whose start has not been read yet.
		var pending []byte
		terminated := false
		first := true
		chunk := make([]byte, reverseChunk)
		for pos > 0 {
			n := int64(reverseChunk)
			if pos < n {
				n = pos
			}
			pos -= n
			if _, err := r.ReadAt(chunk[:n], pos); err != nil && !errors.Is(err, io.EOF) {
				yield(RawLine{}, fmt.Errorf("rollout: reverse scan: %w", err))
				return
			}
			buf := append(chunk[:n:n], pending...)
			if first {
				first = false
				if len(buf) > 0 && buf[len(buf)-1] == '\n' {
					buf = buf[:len(buf)-1]
					terminated = true
				}
			}
			for {
				i := bytes.LastIndexByte(buf, '\n')
				if i < 0 {
					break
				}
				line := buf[i+1:]
				if len(bytes.TrimSpace(line)) > 0 {
					if !yield(RawLine{Offset: pos + int64(i) + 1, Data: line, Terminated: terminated}, nil) {
						return
					}
				}
				terminated = true
				buf = buf[:i]
			}
			if len(buf) > maxLine {
				yield(RawLine{}, fmt.Errorf("%w (max %d bytes) ending at offset %d", ErrLineTooLong, maxLine, pos+int64(len(buf))))
				return
			}
			// Keep the unfinished line; copy, as chunk is reused.
			pending = append(pending[:0:0], buf...)
		}
		if len(bytes.TrimSpace(pending)) > 0 {
			yield(RawLine{Offset: 0, Data: pending, Terminated: terminated}, nil)
		}
	}
}

// ReadBackward yields the items of the rollout at path from last to first.
// For a plain file it reads only as much of the tail as the caller
// consumes; a .zst file is decompressed forward first (its items are held
// in memory). Undecodable lines are yielded as *CorruptError (Line 0,
// Offset set) and the scan goes on; an unterminated final line that does
// not decode (torn append) is skipped.
func ReadBackward(path string, opts ReadOptions) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		phys, compressed, err := ResolvePath(path)
		if err != nil {
			yield(Item{}, err)
			return
		}
		if compressed {
			var items []Item
			var errs []error
			for it, err := range Read(phys, opts) {
				items = append(items, it)
				errs = append(errs, err)
			}
			for i := len(items) - 1; i >= 0; i-- {
				if !yield(items[i], errs[i]) {
					return
				}
			}
			return
		}
		f, err := os.Open(phys)
		if err != nil {
			yield(Item{}, fmt.Errorf("rollout: open: %w", err))
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			yield(Item{}, fmt.Errorf("rollout: open: %w", err))
			return
		}
		for rl, err := range ReverseLines(f, st.Size(), opts.maxLine()) {
			if err != nil {
				yield(Item{}, &CorruptError{Path: phys, Offset: -1, Err: err})
				return
			}
			it, perr := ParseLine(bytes.Clone(rl.Data))
			if perr != nil {
				if !rl.Terminated {
					continue
				}
				if !yield(Item{}, &CorruptError{Path: phys, Offset: rl.Offset, Err: perr}) {
					return
				}
				continue
			}
			if opts.DropRaw {
				it.raw = nil
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

// ReadMeta returns the first session_meta of the rollout at path, reading
// only the head of the file. Blank and undecodable lines and events before
// it are skipped; history (a response_item or inter-agent item) before it,
// or no session_meta at all, is an error matching ErrNoSessionMeta. It
// succeeds whatever the history mode: metadata stays readable even when
// the mode is unsupported.
func ReadMeta(path string) (*SessionMeta, error) {
	for it, err := range Read(path, ReadOptions{DropRaw: true}) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				continue
			}
			return nil, err
		}
		switch p := it.Payload.(type) {
		case *SessionMeta:
			return p, nil
		case *ResponseItem, *InterAgentCommunication, *Compacted:
			return nil, fmt.Errorf("%w: rollout at %s does not start with session metadata", ErrNoSessionMeta, path)
		}
	}
	return nil, fmt.Errorf("%w: rollout at %s is empty", ErrNoSessionMeta, path)
}

// Tail is what the end of a rollout says, read by ReadTail.
type Tail struct {
	// Meta is the canonical (first) session_meta.
	Meta *SessionMeta
	// TurnContext is the latest turn_context, nil if none.
	TurnContext *TurnContext
	// LastOrdinal is the ordinal of the last valid record, nil if it has
	// none.
	LastOrdinal *uint64
	// LastTurn holds the items of the last turn in file order, from its
	// task_started event (included) to the end; for a file without explicit
	// turn boundaries, from the last user message.
	LastTurn []Item
}

// ReadTail reads the head session_meta and scans the plain rollout at path
// backwards only as far as needed for the latest turn_context and the last
// turn. Corrupt lines in the scanned part are skipped.
func ReadTail(path string) (*Tail, error) {
	meta, err := ReadMeta(path)
	if err != nil {
		return nil, err
	}
	t := &Tail{Meta: meta}
	var rev []Item // the last turn, backwards
	turnDone, explicit, sawBody, seenAny := false, false, false, false
	for it, err := range ReadBackward(path, ReadOptions{}) {
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				continue
			}
			return nil, err
		}
		if !seenAny {
			seenAny = true
			t.LastOrdinal = it.Ordinal
		}
		if tc, ok := it.Payload.(*TurnContext); ok && t.TurnContext == nil {
			t.TurnContext = tc
		}
		if !turnDone {
			switch p := it.Payload.(type) {
			case *SessionMeta:
				turnDone = true
			case *EventMsg:
				switch {
				case p.Is(EventTurnStarted):
					rev = append(rev, it)
					turnDone, explicit = true, true
				case (p.Is(EventTurnComplete) || p.Is(EventTurnAborted)) && sawBody:
					turnDone = true // the previous turn's end
				default:
					rev = append(rev, it)
					if !p.Is(EventTurnComplete) && !p.Is(EventTurnAborted) {
						sawBody = true
					}
				}
			default:
				rev = append(rev, it)
				sawBody = true
			}
		}
		if turnDone && t.TurnContext != nil {
			break
		}
	}
	slices.Reverse(rev)
	if !explicit {
		// Implicit turns start at a user message.
		for i := len(rev) - 1; i >= 0; i-- {
			if r, ok := rev[i].Payload.(*ResponseItem); ok && r.IsUserMessage() {
				rev = rev[i:]
				break
			}
		}
	}
	t.LastTurn = rev
	return t, nil
}
