package rollout

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// A small validating JSON scanner. encoding/json validates its whole input
// before decoding and again for every nested value that has its own
// UnmarshalJSON, so decoding a rollout line through it scanned the text
// several times; this scanner finds member and element boundaries in one
// validating pass, and the typed decoders (decodeObject) only hand the
// leaves they cannot decode directly to encoding/json.

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

var errSyntax = errors.New("invalid JSON")

func syntaxErr(b []byte, i int, what string) error {
	if i >= len(b) {
		return fmt.Errorf("%w: unexpected end of input (%s)", errSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d (%s)", errSyntax, b[i], i, what)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanValue validates the JSON value starting at b[i] (no leading space)
// and returns the index just past it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxErr(b, i, "value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w: nested too deeply", errSyntax)
		}
		return scanObject(b, i, depth+1, nil)
	case c == '[':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w: nested too deeply", errSyntax)
		}
		return scanArray(b, i, depth+1, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	default:
		return i, syntaxErr(b, i, "value")
	}
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(b, i, "literal")
	}
	return i + len(lit), nil
}

// scanString validates the string starting at the quote b[i] and returns
// the index past its closing quote and whether it holds escapes or bytes
// that need more than a copy to decode (escapes, invalid UTF-8).
func scanString(b []byte, i int) (end int, complex bool, err error) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, complex, nil
		case c == '\\':
			complex = true
			if i+1 >= len(b) {
				return i, complex, syntaxErr(b, i+1, "escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 {
					return i, complex, syntaxErr(b, len(b), "\\u escape")
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, complex, syntaxErr(b, i, "\\u escape")
					}
				}
				i += 6
			default:
				return i, complex, syntaxErr(b, i+1, "escape")
			}
		case c < 0x20:
			return i, complex, syntaxErr(b, i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				complex = true
			}
			i += size
		}
	}
	return i, complex, syntaxErr(b, i, "string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return start, syntaxErr(b, i, "number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return start, syntaxErr(b, i, "number fraction")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return start, syntaxErr(b, i, "number exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i, nil
}

// memberFunc receives one object member: the raw key (between its quotes,
// still escaped when keyEscaped) and the raw value.
type memberFunc func(key []byte, keyEscaped bool, val []byte) error

// scanObject validates the object starting at b[i] == '{', calling fn (if
// non-nil) for each member, and returns the index past it.
func scanObject(b []byte, i, depth int, fn memberFunc) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(b, i, "object key")
		}
		kend, kesc, err := scanString(b, i)
		if err != nil {
			return i, err
		}
		key := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(b, i, "colon")
		}
		i = skipSpace(b, i+1)
		vstart := i
		if i, err = scanValue(b, i, depth); err != nil {
			return i, err
		}
		if fn != nil {
			if err := fn(key, kesc, b[vstart:i]); err != nil {
				return i, err
			}
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		return i, syntaxErr(b, i, "comma or }")
	}
}

// scanArray validates the array starting at b[i] == '[', calling fn (if
// non-nil) for each element, and returns the index past it.
func scanArray(b []byte, i, depth int, fn func(elem []byte) error) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		start := i
		var err error
		if i, err = scanValue(b, i, depth); err != nil {
			return i, err
		}
		if fn != nil {
			if err := fn(b[start:i]); err != nil {
				return i, err
			}
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		return i, syntaxErr(b, i, "comma or ]")
	}
}

// eachMember validates that data is exactly one JSON object (surrounding
// space allowed) and calls fn for each member.
func eachMember(data []byte, fn memberFunc) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return fmt.Errorf("%w: want an object", errSyntax)
	}
	end, err := scanObject(data, i, 1, fn)
	if err != nil {
		return err
	}
	if skipSpace(data, end) != len(data) {
		return syntaxErr(data, skipSpace(data, end), "after object")
	}
	return nil
}

// eachElement validates that data is exactly one JSON array and calls fn
// for each element.
func eachElement(data []byte, fn func(elem []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return fmt.Errorf("%w: want an array", errSyntax)
	}
	end, err := scanArray(data, i, 1, fn)
	if err != nil {
		return err
	}
	if skipSpace(data, end) != len(data) {
		return syntaxErr(data, skipSpace(data, end), "after array")
	}
	return nil
}

// validJSON reports whether data is exactly one JSON value.
func validJSON(data []byte) bool {
	i := skipSpace(data, 0)
	end, err := scanValue(data, i, 0)
	return err == nil && skipSpace(data, end) == len(data)
}
