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
// Line is 1-based. It unwraps to the decode error (which matches
// ErrMalformedLine, or ErrLineTooLong).
type CorruptError struct {
	Path string
	Line int
	Err  error
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("rollout: %s:%d: %v", e.Path, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }
