package openaimodel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sseEvent is one server-sent event: the event name (the "event:" field,
// often empty) and its data (the "data:" lines joined with "\n").
type sseEvent struct {
	Name string
	Data []byte
}

// DefaultMaxEventBytes is the largest SSE event the adapters accept when
// Config.MaxEventBytes is zero. Output items carry whole tool arguments and
// encrypted reasoning, so the limit is generous; it exists so that a server
// that never ends a line cannot make the runtime buffer without bound.
const DefaultMaxEventBytes = 16 << 20

// errEventTooLarge is wrapped by sseReader errors for an event past the
// size limit.
var errEventTooLarge = errors.New("event exceeds the size limit")

// sseReader decodes a text/event-stream body (the WHATWG server-sent events
// format): lines end in LF, CR or CRLF; a line starting with ':' is a
// comment; "event:" sets the name; "data:" lines accumulate; a blank line
// dispatches the event. Fields "id" and "retry" and unknown fields are
// ignored. An event still pending at end of input is dispatched too (the
// standard drops it, but servers that close without the final blank line
// are common, and dropping a final response.completed would turn a good
// response into a failure).
type sseReader struct {
	r   *bufio.Reader
	max int

	// pendingCR is set when the previous line ended in CR, so that an LF
	// starting the next read is the second half of a CRLF.
	pendingCR bool
	line      []byte
	name      []byte
	data      []byte
	hasData   bool
	eof       bool
}

func newSSEReader(r io.Reader, max int) *sseReader {
	if max <= 0 {
		max = DefaultMaxEventBytes
	}
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// Next returns the next event. It returns io.EOF after the last event, and
// any read error of the underlying reader as is.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		if s.eof {
			return sseEvent{}, io.EOF
		}
		line, err := s.readLine()
		if err == io.EOF {
			s.eof = true
			if len(line) > 0 {
				s.field(line)
			}
			if s.hasData {
				return s.dispatch(), nil
			}
			return sseEvent{}, io.EOF
		}
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if s.hasData {
				return s.dispatch(), nil
			}
			s.name = s.name[:0]
			continue
		}
		s.field(line)
		if len(s.data)+len(s.name) > s.max {
			return sseEvent{}, fmt.Errorf("%w (%d bytes)", errEventTooLarge, s.max)
		}
	}
}

func (s *sseReader) dispatch() sseEvent {
	ev := sseEvent{Name: string(s.name), Data: bytes.Clone(s.data)}
	s.name, s.data, s.hasData = s.name[:0], s.data[:0], false
	return ev
}

// field applies one non-empty line.
func (s *sseReader) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		s.name = append(s.name[:0], value...)
	case "data":
		if s.hasData {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		s.hasData = true
	}
}

// readLine returns the next line without its terminator. At end of input
// it returns the unterminated rest (possibly empty) with io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return s.line, err
		}
		if s.pendingCR {
			s.pendingCR = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return s.line, nil
		case '\r':
			s.pendingCR = true
			return s.line, nil
		}
		if len(s.line) >= s.max {
			return nil, fmt.Errorf("%w (line of more than %d bytes)", errEventTooLarge, s.max)
		}
		s.line = append(s.line, b)
	}
}
