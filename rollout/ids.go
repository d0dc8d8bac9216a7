package rollout

import (
	"errors"
	"fmt"
)

// ThreadID identifies a thread: a UUID in canonical form (lowercase hex,
// 8-4-4-4-12). It is also the UUID in a rollout's file name. The zero value
// means "no thread".
type ThreadID string

// ErrInvalidThreadID is matched (errors.Is) by every error ParseThreadID
// returns.
var ErrInvalidThreadID = errors.New("rollout: invalid thread id")

// ParseThreadID validates s as a UUID (any hex case) and returns it in
// canonical lowercase form.
func ParseThreadID(s string) (ThreadID, error) {
	if len(s) != 36 {
		return "", fmt.Errorf("%w %q: want 36 characters (8-4-4-4-12 hex), got %d", ErrInvalidThreadID, s, len(s))
	}
	b := []byte(s)
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", fmt.Errorf("%w %q: want '-' at offset %d", ErrInvalidThreadID, s, i)
			}
			continue
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", fmt.Errorf("%w %q: non-hex character at offset %d", ErrInvalidThreadID, s, i)
		}
	}
	return ThreadID(b), nil
}

// String returns the id as stored.
func (id ThreadID) String() string { return string(id) }

// Valid reports whether id is a canonical lowercase UUID.
func (id ThreadID) Valid() bool {
	p, err := ParseThreadID(string(id))
	return err == nil && p == id
}
