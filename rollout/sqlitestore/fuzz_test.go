package sqlitestore

import "testing"

// FuzzDecodeCursor: cursors come from clients; any string must either
// decode to a cursor that re-encodes identically or fail with
// ErrInvalidCursor, never panic.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(cursor{sort: SortCreated, ms: 1, id: "01a21136-0000-7000-8000-000000000001"}))
	f.Add(encodeCursor(cursor{sort: SortTree, id: "0000000100000002"}))
	f.Add("garbage")
	f.Add(encodeItemCursor(7))
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []SortKey{SortCreated, SortUpdated, SortRecency, SortTree} {
			c, err := decodeCursor(s, k)
			if err != nil {
				continue
			}
			if c.sort != k {
				t.Fatalf("decodeCursor(%q, %s) gave sort %s", s, k, c.sort)
			}
			if _, err := decodeCursor(encodeCursor(c), k); err != nil {
				t.Fatalf("re-encoded cursor of %q does not decode: %v", s, err)
			}
		}
		if n, err := decodeItemCursor(s); err == nil && n < 0 {
			t.Fatalf("decodeItemCursor(%q) = %d", s, n)
		}
	})
}
