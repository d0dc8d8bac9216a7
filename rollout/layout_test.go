package rollout

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseFileName(t *testing.T) {
	id := ThreadID("01a21136-7150-7b40-aa2d-b145aff8eca1")
	tests := []struct {
		name       string
		ok         bool
		compressed bool
	}{
		{"rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl", true, false},
		{"rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl.zst", true, true},
		{"rollout-2026-11-25T05-38-30-01A21136-7150-7B40-AA2D-B145AFF8ECA1.jsonl", true, false},
		{"rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl.zst.compress.1.0.tmp", false, false},
		{"rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl.decompress.12.1.tmp", false, false},
		{"rollout-2026-11-25T05-38-30-not-a-uuid.jsonl", false, false},
		{"rollout-2026-13-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl", false, false},
		{"session-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl", false, false},
		{"rollout-2026-11-25T05-38-3-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl", false, false},
		{"rollout-compress-XXXXXX.tmp", false, false},
	}
	for _, tt := range tests {
		fi, err := ParseFileName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ParseFileName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrNotRollout) {
				t.Errorf("ParseFileName(%q) = %v, want ErrNotRollout", tt.name, err)
			}
			continue
		}
		want := time.Date(2026, 11, 25, 5, 38, 30, 0, time.UTC)
		if fi.ID != id || !fi.Created.Equal(want) || fi.Compressed != tt.compressed {
			t.Errorf("ParseFileName(%q) = %+v", tt.name, fi)
		}
	}
	created := time.Date(2026, 11, 25, 5, 38, 30, 0, time.UTC)
	if got := FileName(created, id); got != tests[0].name {
		t.Errorf("FileName = %q, want %q", got, tests[0].name)
	}
	if got, want := SessionPath("/h", created, id), "/h/sessions/2026/11/25/"+tests[0].name; got != want {
		t.Errorf("SessionPath = %q, want %q", got, want)
	}
	if got := PlainPath("/a/" + tests[1].name); got != "/a/"+tests[0].name {
		t.Errorf("PlainPath = %q", got)
	}
}

func TestFindThread(t *testing.T) {
	home := t.TempDir()
	// A UUIDv7 id whose date directory matches: fast path.
	v7 := ThreadID("01a21136-7150-7b40-aa2d-b145aff8eca1")
	created, _ := uuidV7Time(v7)
	p := SessionPath(home, created, v7)
	mustWrite(t, p)
	// A non-v7 id in an unrelated date directory: scan fallback.
	v4 := ThreadID("3f1c2a90-1b2c-4d5e-8f90-123456789abc")
	p4 := SessionPath(home, time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC), v4)
	mustWrite(t, p4+ZstdExt)
	mustWrite(t, p4+ZstdExt+".compress.1.0.tmp")
	// An archived one.
	va := ThreadID("0194a1b2-0000-7000-8000-000000000001")
	pa := ArchivedPath(home, FileName(time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC), va))
	mustWrite(t, pa)

	tests := []struct {
		id       ThreadID
		archived bool
		want     string
		err      error
	}{
		{v7, false, p, nil},
		{v4, false, p4 + ZstdExt, nil},
		{va, false, "", ErrThreadNotFound},
		{va, true, pa, nil},
		{"not-a-uuid", true, "", ErrInvalidThreadID},
	}
	for _, tt := range tests {
		got, err := FindThread(home, tt.id, tt.archived)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("FindThread(%s, %v) = %q, %v; want %q, %v", tt.id, tt.archived, got, err, tt.want, tt.err)
		}
	}
	// Plain is preferred over .zst.
	mustWrite(t, p4)
	if got, _ := FindThread(home, v4, false); got != p4 {
		t.Errorf("FindThread with both forms = %q, want %q", got, p4)
	}
}

func mustWrite(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseFileName(f *testing.F) {
	f.Add("rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl")
	f.Add("rollout-2026-11-25T05-38-30-01a21136-7150-7b40-aa2d-b145aff8eca1.jsonl.zst")
	f.Add("rollout-x.jsonl.decompress.1.2.tmp")
	f.Fuzz(func(t *testing.T, name string) {
		fi, err := ParseFileName(name)
		if err != nil {
			if !errors.Is(err, ErrNotRollout) {
				t.Fatalf("ParseFileName(%q) = %v, want ErrNotRollout", name, err)
			}
			return
		}
		if !fi.ID.Valid() {
			t.Fatalf("ParseFileName(%q) id %q not canonical", name, fi.ID)
		}
		// The canonical name of what was parsed parses to the same.
		again, err := ParseFileName(FileName(fi.Created, fi.ID))
		if err != nil || again.ID != fi.ID || !again.Created.Equal(fi.Created) {
			t.Fatalf("ParseFileName(FileName(%+v)) = %+v, %v", fi, again, err)
		}
	})
}
