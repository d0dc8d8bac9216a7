package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TimeLayout is the timestamp format of rollout lines: UTC with
// milliseconds, as Codex writes it.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Item is one rollout line: when it was written, its ordinal (paginated
// threads only), its payload and the optional line-level metadata.
type Item struct {
	Timestamp time.Time
	// Ordinal is the record's position in a paginated thread; nil (and not
	// written) for legacy threads.
	Ordinal *uint64
	Payload Payload
	// Metadata is the optional line-level "metadata" object, verbatim.
	Metadata json.RawMessage

	// raw is the line as read (without its newline), kept so that forks and
	// materialization re-write it byte-identical; nil for items built in
	// memory.
	raw []byte
}

// Kind returns the kind of it's payload, or "" when it has none.
func (it Item) Kind() Kind {
	if it.Payload == nil {
		return ""
	}
	return it.Payload.Kind()
}

// Raw returns the line it was decoded from, without its newline, or nil
// for an item built in memory (or read with raw lines dropped). The caller
// must not modify it.
func (it Item) Raw() []byte { return it.raw }

// WithoutRaw returns it with its raw line dropped, so that holding the item
// does not hold the line's bytes.
func (it Item) WithoutRaw() Item {
	it.raw = nil
	return it
}

// ErrMalformedLine is matched (errors.Is) by every error ParseLine returns
// for bad input.
var ErrMalformedLine = errors.New("rollout: malformed line")

// ParseLine decodes one rollout line (with or without its trailing
// newline). Known kinds get their typed payload; any other kind becomes
// *Unknown. The returned item keeps line as its raw bytes (see Item.Raw):
// the caller must not modify line afterwards.
func ParseLine(line []byte) (Item, error) {
	line = bytes.TrimRight(line, "\r\n")
	var (
		ts, kind          string
		ordinal           *uint64
		payload, metadata []byte
	)
	err := eachMember(line, func(key []byte, _ bool, val []byte) error {
		switch string(key) {
		case "timestamp":
			if val[0] != '"' {
				return errors.New("timestamp is not a string")
			}
			s, err := decodeString(val)
			ts = s
			return err
		case "type":
			if val[0] != '"' {
				return errors.New("type is not a string")
			}
			s, err := decodeString(val)
			kind = s
			return err
		case "ordinal":
			if val[0] == 'n' {
				ordinal = nil
				return nil
			}
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return fmt.Errorf("ordinal %s: not a u64", val)
			}
			ordinal = &n
		case "payload":
			payload = val
		case "metadata":
			metadata = val
		}
		return nil
	})
	if err != nil {
		return Item{}, fmt.Errorf("%w: %w", ErrMalformedLine, err)
	}
	if kind == "" {
		return Item{}, fmt.Errorf("%w: no \"type\"", ErrMalformedLine)
	}
	if isJSONNull(payload) {
		return Item{}, fmt.Errorf("%w: %s line has no payload", ErrMalformedLine, kind)
	}
	t, err := parseTimestamp(ts)
	if err != nil {
		return Item{}, fmt.Errorf("%w: %s line: %w", ErrMalformedLine, kind, err)
	}
	p, err := decodePayload(Kind(kind), payload)
	if err != nil {
		return Item{}, fmt.Errorf("%w: %s payload: %w", ErrMalformedLine, kind, err)
	}
	it := Item{Timestamp: t, Ordinal: ordinal, Payload: p, raw: line}
	if !isJSONNull(metadata) {
		it.Metadata = bytes.Clone(metadata)
	}
	return it, nil
}

// decodePayload decodes raw (validated) as the payload of a line of kind k.
func decodePayload(k Kind, raw []byte) (Payload, error) {
	var p interface {
		Payload
		json.Unmarshaler
	}
	switch k {
	case KindSessionMeta:
		p = new(SessionMeta)
	case KindResponseItem:
		p = new(ResponseItem)
	case KindEventMsg:
		p = new(EventMsg)
	case KindTurnContext:
		p = new(TurnContext)
	case KindCompacted:
		p = new(Compacted)
	case KindWorldState:
		p = new(WorldState)
	case KindInterAgentMetadata:
		p = new(InterAgentMetadata)
	case KindInterAgentCommunication:
		p = new(InterAgentCommunication)
	case KindTokenUsageRecord:
		p = new(TokenUsageRecord)
	default:
		return &Unknown{Type: k, Raw: bytes.Clone(raw)}, nil
	}
	if raw[0] != '{' {
		return nil, errors.New("payload is not an object")
	}
	if err := p.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return p, nil
}

// parseTimestamp reads a line timestamp: the fixed Codex layout on the fast
// path, any RFC 3339 time otherwise.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("no timestamp")
	}
	if t, ok := parseFixedTimestamp(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return t.UTC(), nil
}

// parseFixedTimestamp parses exactly "YYYY-MM-DDThh:mm:ss.mmmZ".
func parseFixedTimestamp(s string) (time.Time, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) (int, bool) {
		n, err := strconv.Atoi(s[a:b])
		return n, err == nil && s[a] != '+' && s[a] != '-'
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(14, 16)
	se, ok6 := num(17, 19)
	ms, ok7 := num(20, 23)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, ms*int(time.Millisecond), time.UTC)
	if t.Day() != d { // e.g. Feb 30 normalized away
		return time.Time{}, false
	}
	return t, true
}

// FormatTimestamp formats t as a line timestamp (UTC, milliseconds).
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimeLayout) }

// MarshalLine encodes it as one rollout line, without a trailing newline:
// {"timestamp":...,"ordinal":...,"type":...,"payload":...,"metadata":...},
// with ordinal omitted when nil and metadata when empty. It always encodes
// the fields (never returns Raw); use Raw to copy a line unchanged.
func MarshalLine(it Item) ([]byte, error) {
	b, err := appendLine(nil, it)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendLine appends the encoding of it (as MarshalLine) and a newline to
// dst.
func AppendLine(dst []byte, it Item) ([]byte, error) {
	b, err := appendLine(dst, it)
	if err != nil {
		return dst, err
	}
	return append(b, '\n'), nil
}

func appendLine(dst []byte, it Item) ([]byte, error) {
	if it.Payload == nil {
		return dst, errors.New("rollout: marshal line: nil payload")
	}
	kind := it.Payload.Kind()
	if kind == "" {
		return dst, errors.New("rollout: marshal line: payload has no kind")
	}
	start := len(dst)
	dst = append(dst, `{"timestamp":"`...)
	dst = it.Timestamp.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, '"')
	if it.Ordinal != nil {
		dst = append(dst, `,"ordinal":`...)
		dst = appendUint(dst, *it.Ordinal)
	}
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(kind))
	dst = append(dst, `,"payload":`...)
	pstart := len(dst)
	var err error
	if a, ok := it.Payload.(jsonAppender); ok {
		dst, err = a.appendJSON(dst)
	} else {
		var payload []byte
		payload, err = marshalJSON(it.Payload)
		dst = append(dst, payload...)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("rollout: marshal %s payload: %w", kind, err)
	}
	if len(dst) == pstart || dst[pstart] != '{' {
		return dst[:start], fmt.Errorf("rollout: marshal %s payload: not a JSON object", kind)
	}
	if !isJSONNull(it.Metadata) {
		dst = append(dst, `,"metadata":`...)
		dst = appendCompactJSON(dst, it.Metadata, &err)
		if err != nil {
			return dst[:start], fmt.Errorf("rollout: marshal %s metadata: %w", kind, err)
		}
	}
	return append(dst, '}'), nil
}
