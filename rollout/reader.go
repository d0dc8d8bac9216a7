package rollout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/klauspost/compress/zstd"
)

// DefaultMaxLineSize bounds the length of one line a reader accepts.
const DefaultMaxLineSize = 64 << 20

// ErrLineTooLong is matched (errors.Is) by the CorruptError a reader
// reports for a line longer than its maximum.
var ErrLineTooLong = errors.New("rollout: line too long")

// ReadOptions tune a read. The zero value is ready to use.
type ReadOptions struct {
	// MaxLineSize bounds one line; 0 means DefaultMaxLineSize. A longer line
	// is reported as a CorruptError matching ErrLineTooLong and skipped.
	MaxLineSize int
	// DropRaw drops each item's raw line (Item.Raw returns nil), which
	// roughly halves the memory of a loaded history. Leave it false when the
	// items will be re-written (fork, materialize).
	DropRaw bool
}

func (o ReadOptions) maxLine() int {
	if o.MaxLineSize <= 0 {
		return DefaultMaxLineSize
	}
	return o.MaxLineSize
}

// OpenFile opens the physical file of a rollout for reading, given its
// logical or physical path (see ResolvePath), transparently decompressing
// the .zst form. The caller closes the returned reader.
func OpenFile(path string) (io.ReadCloser, string, error) {
	phys, compressed, err := ResolvePath(path)
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(phys)
	if err != nil {
		return nil, "", fmt.Errorf("rollout: open: %w", err)
	}
	// Re-check on the open file: the path may have been swapped.
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("rollout: open: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, "", fmt.Errorf("rollout: open %s: %w", phys, ErrNotRegular)
	}
	if !compressed {
		return f, phys, nil
	}
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("rollout: open %s: %w", phys, err)
	}
	return &zstdFile{zr: zr, f: f}, phys, nil
}

// zstdFile closes both the decoder and the file under it.
type zstdFile struct {
	zr *zstd.Decoder
	f  *os.File
}

func (z *zstdFile) Read(p []byte) (int, error) { return z.zr.Read(p) }

func (z *zstdFile) Close() error {
	z.zr.Close()
	return z.f.Close()
}

// Read streams the items of the rollout at path (logical or physical,
// plain or .zst).
//
// Errors are yielded in sequence with the items: an open or I/O error ends
// the sequence; a line that cannot be decoded is yielded as a
// *CorruptError (Path, 1-based Line) and, if the caller keeps iterating,
// reading continues with the next line. A final line without a newline
// that does not decode is a torn append (a crash mid-write) and is ignored;
// one that does decode is yielded. Blank lines are skipped.
func Read(path string, opts ReadOptions) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		rc, phys, err := OpenFile(path)
		if err != nil {
			yield(Item{}, err)
			return
		}
		defer rc.Close()
		for it, err := range ReadFrom(rc, phys, opts) {
			if !yield(it, err) {
				return
			}
		}
	}
}

// ReadFrom streams the items of a rollout from r, as Read; name is used in
// errors.
func ReadFrom(r io.Reader, name string, opts ReadOptions) iter.Seq2[Item, error] {
	return readFrom(r, name, opts, nil)
}

// readFrom is ReadFrom; with at set, the byte offset of each item's line is
// stored in *at before the item is yielded.
func readFrom(r io.Reader, name string, opts ReadOptions, at *int64) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		ls := newLineScanner(r, opts.maxLine())
		for {
			off := ls.offset
			if at != nil {
				*at = off
			}
			line, lineNo, torn, err := ls.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if errors.Is(err, ErrLineTooLong) {
					if !yield(Item{}, &CorruptError{Path: name, Line: lineNo, Offset: off, Err: err}) {
						return
					}
					continue
				}
				yield(Item{}, fmt.Errorf("rollout: read %s: %w", name, err))
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if !opts.DropRaw {
				line = bytes.Clone(line)
			}
			it, perr := ParseLine(line)
			if perr != nil {
				if torn {
					return // torn final line: ignored
				}
				if !yield(Item{}, &CorruptError{Path: name, Line: lineNo, Offset: off, Err: perr}) {
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

// lineScanner splits a stream into lines without a fixed buffer limit
// below max.
type lineScanner struct {
	br     *bufio.Reader
	max    int
	lineNo int
	offset int64 // of the next line's start
	buf    []byte
}

func newLineScanner(r io.Reader, max int) *lineScanner {
	return &lineScanner{br: bufio.NewReaderSize(r, 256<<10), max: max}
}

// next returns the next line without its newline, its 1-based number, and
// whether it is an unterminated final line. The returned slice is valid
// until the next call. It returns io.EOF at the end, and an error matching
// ErrLineTooLong (after skipping the line) for an overlong line.
func (s *lineScanner) next() (line []byte, lineNo int, torn bool, err error) {
	s.buf = s.buf[:0]
	tooLong := false
	for {
		chunk, err := s.br.ReadSlice('\n')
		s.offset += int64(len(chunk))
		if !tooLong {
			if len(s.buf)+len(chunk) > s.max+1 { // +1: the newline
				tooLong = true
				s.buf = s.buf[:0]
			} else if err == nil && len(s.buf) == 0 {
				// Whole line in the reader's buffer: no copy.
				s.lineNo++
				return chunk[:len(chunk)-1], s.lineNo, false, nil
			} else {
				s.buf = append(s.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			s.lineNo++
			if tooLong {
				return nil, s.lineNo, false, fmt.Errorf("%w (max %d bytes)", ErrLineTooLong, s.max)
			}
			return s.buf[:len(s.buf)-1], s.lineNo, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if tooLong {
				s.lineNo++
				return nil, s.lineNo, true, fmt.Errorf("%w (max %d bytes)", ErrLineTooLong, s.max)
			}
			if len(s.buf) == 0 {
				return nil, s.lineNo, false, io.EOF
			}
			s.lineNo++
			return s.buf, s.lineNo, true, nil
		default:
			return nil, s.lineNo, false, err
		}
	}
}
