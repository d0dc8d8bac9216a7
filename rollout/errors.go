package rollout

import (
	"errors"
	"fmt"
)

// ErrUnsupportedHistoryMode is matched (errors.Is) when a thread's history
// mode is not one this build knows: its metadata can be read, but its full
// history cannot be read, resumed or appended to (fail closed).
var ErrUnsupportedHistoryMode = errors.New("rollout: unsupported history mode")

// CorruptError reports a line of a rollout that could not be decoded.
// Line is 1-based, or 0 when unknown (a backward scan does not count
// lines); Offset is the byte offset of the line's start in the
// (decompressed) stream, or -1 when unknown. It unwraps to the decode error
// (which matches ErrMalformedLine, or ErrLineTooLong).
type CorruptError struct {
	Path   string
	Line   int
	Offset int64
	Err    error
}

// Error implements error.
func (e *CorruptError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("rollout: %s: line at offset %d: %v", e.Path, e.Offset, e.Err)
	}
	return fmt.Sprintf("rollout: %s:%d: %v", e.Path, e.Line, e.Err)
}

// ErrNoSessionMeta is matched (errors.Is) when a rollout has no
// session_meta where one is required (empty file, or history before it).
var ErrNoSessionMeta = errors.New("rollout: no session metadata")

// ErrLocked is matched (errors.Is) when a rollout is already open for
// writing by another recorder (in this or another process).
var ErrLocked = errors.New("rollout: rollout is locked by another writer")

// ErrClosed is matched (errors.Is) by recorder calls after Close.
var ErrClosed = errors.New("rollout: recorder closed")

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }
