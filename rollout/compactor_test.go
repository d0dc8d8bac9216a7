package rollout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// compactorHome lays out a home with one cold and one fresh rollout in
// sessions/ and in archived_sessions/, relative to now.
type compactorHome struct {
	home                        string
	activeCold, activeFresh     string
	archivedCold, archivedFresh string
	content                     map[string][]byte
}

func newCompactorHome(t *testing.T, now time.Time) *compactorHome {
	t.Helper()
	files := corpusFiles(t)
	if len(files) < 4 {
		t.Fatalf("need 4 corpus rollouts, have %d", len(files))
	}
	h := &compactorHome{home: t.TempDir(), content: map[string][]byte{}}
	day := filepath.Join(h.home, SessionsDir, "2026", "11", "25")
	arch := filepath.Join(h.home, ArchivedDir)
	cold, fresh := now.Add(-8*24*time.Hour), now.Add(-6*24*time.Hour)
	h.activeCold = czCopy(t, files[0], day, 0o600, cold)
	h.activeFresh = czCopy(t, files[1], day, 0o600, fresh)
	h.archivedCold = czCopy(t, files[2], arch, 0o644, cold)
	h.archivedFresh = czCopy(t, files[3], arch, 0o600, fresh)
	for _, p := range []string{h.activeCold, h.activeFresh, h.archivedCold, h.archivedFresh} {
		b, _ := os.ReadFile(p)
		h.content[p] = b
	}
	return h
}

// checkForms checks which form each rollout is in, and its content.
func (h *compactorHome) checkForms(t *testing.T, compressed ...string) {
	t.Helper()
	for p, want := range h.content {
		_, isZst, err := ResolvePath(p)
		if err != nil {
			t.Errorf("ResolvePath(%s): %v", filepath.Base(p), err)
			continue
		}
		wantZst := false
		for _, c := range compressed {
			wantZst = wantZst || c == p
		}
		if isZst != wantZst {
			t.Errorf("%s compressed = %v, want %v", filepath.Base(p), isZst, wantZst)
		}
		if got := czRead(t, p); !bytes.Equal(got, want) {
			t.Errorf("%s content changed", filepath.Base(p))
		}
	}
}

// checkNoGoroutineLeak waits briefly for the goroutine count to settle
// back to before.
func checkNoGoroutineLeak(t *testing.T, before int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Errorf("goroutines: %d after, %d before\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
}

func TestCompactorColdAndFresh(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	tm := newTestMeter(t)
	var order []string
	c, err := NewCompactor(CompactorConfig{
		Home: h.home, Clock: func() time.Time { return now }, MaxInFlight: 1, MeterProvider: tm.provider,
		Progress: func(r FileResult) { order = append(order, r.Path) },
	})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkNoGoroutineLeak(t, before)
	if rep.Status != RunCompleted || rep.Scanned != 4 || rep.Compressed != 2 || rep.Skipped != 2 || rep.Failed != 0 {
		t.Errorf("report = %+v, want completed, 4 scanned, 2 compressed, 2 skipped", rep)
	}
	h.checkForms(t, h.activeCold, h.archivedCold)
	// archived_sessions/ first.
	if len(order) != 4 || !strings.Contains(order[0], ArchivedDir) || !strings.Contains(order[1], ArchivedDir) || strings.Contains(order[2], ArchivedDir) {
		t.Errorf("order = %v, want archived_sessions first", order)
	}
	if st, err := os.Stat(h.archivedCold + ZstdExt); err != nil || st.Mode().Perm() != 0o644 || !st.ModTime().Equal(now.Add(-8*24*time.Hour)) {
		t.Errorf("archived .zst: %v, %v", st, err)
	}
	wantSrc := int64(len(h.content[h.activeCold]) + len(h.content[h.archivedCold]))
	if rep.SourceBytes != wantSrc || rep.CompressedBytes <= 0 || rep.CompressedBytes >= wantSrc {
		t.Errorf("report bytes %d -> %d, want %d -> less", rep.SourceBytes, rep.CompressedBytes, wantSrc)
	}
	counters := []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{MetricCompressionRun, []attribute.KeyValue{attribute.String("status", "started")}, 1},
		{MetricCompressionRun, []attribute.KeyValue{attribute.String("status", "completed")}, 1},
		{MetricCompressionRunDuration, []attribute.KeyValue{attribute.String("status", "completed")}, 1},
		{MetricCompressionFile, []attribute.KeyValue{attribute.String("outcome", "scanned")}, 4},
		{MetricCompressionFile, []attribute.KeyValue{attribute.String("outcome", "compressed")}, 2},
		{MetricCompressionFile, []attribute.KeyValue{attribute.String("outcome", "skipped"), attribute.String("reason", ReasonNotCold)}, 2},
		{MetricCompressionFileDuration, []attribute.KeyValue{attribute.String("outcome", "compressed")}, 2},
		{MetricCompressionSourceBytes, nil, 2},
		{MetricCompressionCompressedBytes, nil, 2},
		{MetricCompressionRatio, nil, 2},
	}
	for _, c := range counters {
		if got, _ := tm.collect(t, c.name, c.attrs...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, got, c.want)
		}
	}
	if _, sum := tm.collect(t, MetricCompressionSourceBytes); int64(sum) != wantSrc {
		t.Errorf("source bytes sum = %v, want %d", sum, wantSrc)
	}
	if _, sum := tm.collect(t, MetricCompressionRatio); sum <= 0 || sum >= 2*10000 {
		t.Errorf("ratio sum = %v bp over 2 files, want in (0, 20000)", sum)
	}
}

func TestCompactorMarker(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	clock := now
	tm := newTestMeter(t)
	cfg := CompactorConfig{Home: h.home, Clock: func() time.Time { return clock }, MeterProvider: tm.provider}
	run := func(cfg CompactorConfig) RunReport {
		t.Helper()
		c, err := NewCompactor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(cfg); rep.Status != RunCompleted || rep.Compressed != 2 {
		t.Fatalf("first run = %+v", rep)
	}
	marker := filepath.Join(h.home, TmpDir, CompressionMarker)
	if b, err := os.ReadFile(marker); err != nil || !strings.Contains(string(b), "completed_at=") {
		t.Fatalf("marker after a completed run = %q, %v", b, err)
	}
	// Within the window: throttled, even though a file became cold.
	clock = now.Add(time.Hour)
	if err := os.Chtimes(h.activeFresh, now.Add(-30*24*time.Hour), now.Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rep := run(cfg); rep.Status != RunSkippedDuplicate || rep.Scanned != 0 {
		t.Errorf("run within the window = %+v, want skipped_duplicate", rep)
	}
	if got, _ := tm.collect(t, MetricCompressionRun, attribute.String("status", "skipped_duplicate")); got != 1 {
		t.Errorf("skipped_duplicate runs = %d, want 1", got)
	}
	// A manual run may ignore the throttle of a completed run...
	manual := cfg
	manual.IgnoreThrottle = true
	if rep := run(manual); rep.Status != RunCompleted || rep.Compressed != 1 {
		t.Errorf("manual run = %+v, want completed with 1 compressed", rep)
	}
	// ...but never a run in progress, stale or not.
	f, err := LockPath(marker, os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	clock = now.Add(48 * time.Hour)
	if rep := run(manual); rep.Status != RunSkippedDuplicate {
		t.Errorf("run while another holds the marker = %+v, want skipped_duplicate", rep)
	}
	f.Close()
	// A crashed run's marker (no completion) blocks within the window...
	if err := os.WriteFile(marker, []byte("pid=1 started_at=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(marker, clock, clock)
	clock = clock.Add(5 * time.Hour)
	if rep := run(manual); rep.Status != RunSkippedDuplicate {
		t.Errorf("run over a fresh crashed marker = %+v, want skipped_duplicate", rep)
	}
	// ...and is reclaimed once stale.
	clock = clock.Add(2 * time.Hour)
	if rep := run(cfg); rep.Status != RunCompleted {
		t.Errorf("run over a stale marker = %+v, want completed", rep)
	}
	if st, err := os.Stat(marker); err != nil || !st.ModTime().Equal(clock) {
		t.Errorf("reclaimed marker mtime = %v, %v, want %v", st, err, clock)
	}
}

func TestCompactorCleansStaleTemps(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	dir := filepath.Dir(h.activeCold)
	stale := []string{filepath.Join(dir, "rollout-compress-123.tmp"), filepath.Join(h.home, ArchivedDir, filepath.Base(h.archivedCold)+".decompress.1.1.tmp")}
	fresh := filepath.Join(dir, "rollout-compress-456.tmp")
	for _, p := range append(stale, fresh) {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range stale {
		os.Chtimes(p, now.Add(-7*time.Hour), now.Add(-7*time.Hour))
	}
	os.Chtimes(fresh, now.Add(-time.Hour), now.Add(-time.Hour))
	c, err := NewCompactor(CompactorConfig{Home: h.home, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Run(context.Background())
	if err != nil || rep.TempsRemoved != 2 {
		t.Fatalf("Run = %+v, %v, want 2 temps removed", rep, err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale temp %s: %v, want removed", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp: %v, want kept", err)
	}
}

func TestCompactorLiveAndCorrupt(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	// A live writer holds the active cold rollout.
	r, err := ResumeRecorder(RecorderConfig{Path: h.activeCold})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	old := now.Add(-8 * 24 * time.Hour)
	os.Chtimes(h.activeCold, old, old)
	// A corrupt .zst-only rollout is left alone (and not counted).
	corrupt := filepath.Join(filepath.Dir(h.activeCold), FileName(now, "0194a1b2-0000-7000-8000-0000000000cc")+ZstdExt)
	if err := os.WriteFile(corrupt, []byte("not zstd at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm := newTestMeter(t)
	c, err := NewCompactor(CompactorConfig{Home: h.home, Clock: func() time.Time { return now }, MeterProvider: tm.provider})
	if err != nil {
		t.Fatal(err)
	}
	// Every file's output is damaged: verification must catch it.
	c.corrupt = func(w io.Writer) io.Writer { return &corruptingWriter{w: w} }
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].Path != h.archivedCold || !errors.Is(rep.Failures[0].Err, ErrVerify) {
		t.Errorf("failures = %+v, want the archived cold file with ErrVerify", rep.Failures)
	}
	if got, _ := tm.collect(t, MetricCompressionFile, attribute.String("outcome", "skipped"), attribute.String("reason", ReasonLive)); got != 1 {
		t.Errorf("skipped live = %d, want 1", got)
	}
	if got, _ := tm.collect(t, MetricCompressionFile, attribute.String("outcome", "failed")); got != 1 {
		t.Errorf("failed = %d, want 1", got)
	}
	h.checkForms(t) // nothing compressed, every plain file intact
	if b, err := os.ReadFile(corrupt); err != nil || string(b) != "not zstd at all" {
		t.Errorf("corrupt .zst = %q, %v, want left in place", b, err)
	}
	for _, d := range []string{filepath.Dir(h.activeCold), filepath.Join(h.home, ArchivedDir)} {
		for _, n := range czNames(t, d) {
			if strings.HasSuffix(n, ".tmp") {
				t.Errorf("temp file left: %s", n)
			}
		}
	}
}

func TestCompactorCancel(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := 0
	c, err := NewCompactor(CompactorConfig{Home: h.home, Clock: func() time.Time { return now }, MaxInFlight: 1,
		Progress: func(FileResult) {
			mu.Lock()
			defer mu.Unlock()
			seen++
			cancel() // cancel once the first file is done
		}})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	rep, err := c.Run(ctx)
	if !errors.Is(err, context.Canceled) || rep.Status != RunFailed {
		t.Fatalf("Run = %+v, %v, want failed with context.Canceled", rep, err)
	}
	checkNoGoroutineLeak(t, before)
	if rep.Scanned >= 4 {
		t.Errorf("scanned %d files after cancellation, want fewer than 4", rep.Scanned)
	}
	if _, err := os.Stat(filepath.Join(h.home, TmpDir, CompressionMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker after a cancelled run: %v, want removed", err)
	}
	for p, want := range h.content {
		if got := czRead(t, p); !bytes.Equal(got, want) {
			t.Errorf("%s content changed", filepath.Base(p))
		}
	}
}

func TestCompactorDryRun(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	h := newCompactorHome(t, now)
	c, err := NewCompactor(CompactorConfig{Home: h.home, Clock: func() time.Time { return now }, DryRun: true, ColdAfter: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Run(context.Background())
	if err != nil || rep.WouldCompress != 4 || rep.Compressed != 0 {
		t.Fatalf("dry run = %+v, %v, want 4 would_compress", rep, err)
	}
	h.checkForms(t)
	if _, err := os.Stat(filepath.Join(h.home, TmpDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run made %s: %v", TmpDir, err)
	}
	if _, err := NewCompactor(CompactorConfig{}); err == nil {
		t.Errorf("NewCompactor without a home = nil error")
	}
}
