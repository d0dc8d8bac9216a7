package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Snippet geometry (Codex's): characters kept before and after the match.
const (
	snippetBefore = 48
	snippetAfter  = 96
)

// userRequestMarker prefixes the real request in Codex's legacy
// user_message events; the snippet shows what follows it.
const userRequestMarker = "## My request for Codex:"

// matcher finds a query in raw rollout lines.
type matcher struct {
	query      string // as given
	queryRunes []rune // lower-cased unless case-sensitive, for snippets
	needle     []byte // JSON-escaped query, lower-cased (ASCII) unless case-sensitive
	fold       bool
	asciiFold  bool // fold with the ASCII fast path
}

func newMatcher(query string, caseSensitive bool) (*matcher, error) {
	if query == "" {
		return nil, ErrEmptyQuery
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Codex (serde) writes < > & raw
	if err := enc.Encode(query); err != nil {
		return nil, err
	}
	esc := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	esc = esc[1 : len(esc)-1]
	m := &matcher{query: query, fold: !caseSensitive}
	m.asciiFold = m.fold && isASCII(esc)
	switch {
	case !m.fold:
		m.needle = esc
	case m.asciiFold:
		m.needle = lowerASCII(bytes.Clone(esc))
	default:
		m.needle = bytes.ToLower(esc)
	}
	m.queryRunes = []rune(query)
	if m.fold {
		for i, r := range m.queryRunes {
			m.queryRunes[i] = unicode.ToLower(r)
		}
	}
	return m, nil
}

// index returns the offset of the needle in line, or -1.
func (m *matcher) index(line []byte) int {
	switch {
	case !m.fold:
		return bytes.Index(line, m.needle)
	case m.asciiFold:
		return indexFoldASCII(line, m.needle)
	default:
		// Lower-casing can change byte lengths: the offset is only a hint
		// for the fallback snippet.
		i := bytes.Index(bytes.ToLower(line), m.needle)
		return min(i, len(line)-1)
	}
}

// scan reads lines from r until a match yields a conversation snippet (or
// to the end), filling res. It reports whether the query occurs.
func (m *matcher) scan(ctx context.Context, r io.Reader, maxLine int, res *SearchResult) (bool, error) {
	ls := newLineScanner(r, maxLine)
	found := false
	for {
		line, lineNo, _, err := ls.next()
		if err == io.EOF {
			return found, nil
		}
		if errors.Is(err, ErrLineTooLong) {
			continue // bounded: an overlong line is not searched
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return false, cerr
			}
			return false, err
		}
		at := m.index(line)
		if at < 0 {
			continue
		}
		if s, ok := m.conversationSnippet(line); ok {
			if !found {
				res.Line = lineNo
			}
			res.Snippet = s
			return true, nil
		}
		if !found {
			found = true
			res.Line = lineNo
			res.Snippet = rawSnippet(line, at, len(m.needle))
		}
	}
}

// conversationSnippet extracts the conversation text of a line (user and
// assistant messages, their legacy event twins, agent messages) and cuts
// a snippet around the query if the text contains it.
func (m *matcher) conversationSnippet(line []byte) (string, bool) {
	text := conversationText(line)
	if text == "" {
		return "", false
	}
	return m.snippet(text)
}

type snippetLine struct {
	Type    string `json:"type"`
	Payload struct {
		Type    string `json:"type"`
		Role    string `json:"role"`
		Message string `json:"message"`
		Content json.RawMessage
	} `json:"payload"`
}

func conversationText(line []byte) string {
	var l snippetLine
	if json.Unmarshal(line, &l) != nil {
		return ""
	}
	p := &l.Payload
	switch {
	case l.Type == string(KindEventMsg) && p.Type == EventUserMessage:
		msg := p.Message
		if _, after, ok := strings.Cut(msg, userRequestMarker); ok {
			msg = after
		}
		return strings.TrimSpace(msg)
	case l.Type == string(KindEventMsg) && p.Type == EventAgentMessage:
		return strings.TrimSpace(p.Message)
	case l.Type == string(KindResponseItem) && (p.Type == ItemMessage && (p.Role == RoleUser || p.Role == RoleAssistant) || p.Type == "agent_message"):
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(p.Content, &parts) != nil {
			return ""
		}
		var texts []string
		for _, c := range parts {
			if (c.Type == PartInputText || c.Type == PartOutputText) && c.Text != "" {
				texts = append(texts, c.Text)
			}
		}
		return strings.Join(texts, " ")
	}
	return ""
}

// snippet cuts text (whitespace collapsed) around the first occurrence
// of the query, counting characters, not bytes.
func (m *matcher) snippet(text string) (string, bool) {
	runes := []rune(strings.Join(strings.Fields(text), " "))
	hay := runes
	if m.fold {
		hay = make([]rune, len(runes))
		for i, r := range runes {
			hay[i] = unicode.ToLower(r)
		}
	}
	at := indexRunes(hay, m.queryRunes)
	if at < 0 {
		return "", false
	}
	from := max(0, at-snippetBefore)
	to := min(len(runes), at+len(m.queryRunes)+snippetAfter)
	s := strings.TrimSpace(string(runes[from:to]))
	if from > 0 {
		s = "... " + s
	}
	if to < len(runes) {
		s += " ..."
	}
	return s, true
}

// rawSnippet cuts a line as written around a match at byte at.
func rawSnippet(line []byte, at, n int) string {
	from := max(0, at-snippetBefore)
	to := min(len(line), at+n+snippetAfter)
	for from > 0 && !utf8.RuneStart(line[from]) {
		from--
	}
	for to < len(line) && !utf8.RuneStart(line[to]) {
		to++
	}
	s := strings.TrimSpace(string(line[from:to]))
	if from > 0 {
		s = "... " + s
	}
	if to < len(line) {
		s += " ..."
	}
	return s
}

func indexRunes(hay, needle []rune) int {
	if len(needle) == 0 {
		return 0
	}
outer:
	for i := 0; i+len(needle) <= len(hay); i++ {
		for j, r := range needle {
			if hay[i+j] != r {
				continue outer
			}
		}
		return i
	}
	return -1
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// indexFoldASCII finds the lower-case ASCII needle in s, ignoring ASCII
// case. It jumps between candidate first bytes with IndexByte, keeping the
// next position of each case so the scan stays linear.
func indexFoldASCII(s, needle []byte) int {
	n := len(needle)
	if n == 0 {
		return 0
	}
	c0 := needle[0]
	u0 := c0
	if 'a' <= c0 && c0 <= 'z' {
		u0 = c0 - 'a' + 'A'
	}
	last := len(s) - n // last possible start
	nextL, nextU := -1, noIndex
	if u0 != c0 {
		nextU = -1
	}
	for i := 0; i <= last; {
		if nextL < i {
			nextL = indexFrom(s[:last+1], c0, i)
		}
		if nextU < i {
			nextU = indexFrom(s[:last+1], u0, i)
		}
		j := min(nextL, nextU)
		if j == noIndex {
			return -1
		}
		if equalFoldASCII(s[j+1:j+n], needle[1:]) {
			return j
		}
		i = j + 1
	}
	return -1
}

// noIndex is "not found" for indexFrom: past every position, so a cached
// miss is never searched again.
const noIndex = int(^uint(0) >> 1)

// indexFrom returns the index of c in s at or after from, or noIndex.
func indexFrom(s []byte, c byte, from int) int {
	if k := bytes.IndexByte(s[from:], c); k >= 0 {
		return from + k
	}
	return noIndex
}

// equalFoldASCII compares s with the lower-case needle ignoring ASCII case.
func equalFoldASCII(s, lower []byte) bool {
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
