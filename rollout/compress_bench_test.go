package rollout

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Benchmarks of compression and compressed search, each against the
// zstd command-line tools in the same run (skipped when absent):
//
//	go test -run XXX -bench 'Compress|SearchCompressed' -benchtime 5x ./rollout
//
// The data is realistic rather than the corpus repeated (which zstd would
// shrink 600x through long-range matches): corpus lines with 30% of
// their words replaced by other corpus words and long opaque tokens
// (encrypted reasoning, ids) replaced by fresh random base64, which is how
// real rollouts differ from each other.

var czWord = regexp.MustCompile(`[A-Za-z0-9+/=_-]+`)

type czGenerator struct {
	lines [][]byte
	vocab [][]byte
	rnd   *rand.Rand
}

var (
	czGenOnce sync.Once
	czGen     *czGenerator
	czGenErr  error
)

func czNewGenerator(b *testing.B) *czGenerator {
	czGenOnce.Do(func() {
		g := &czGenerator{rnd: rand.New(rand.NewPCG(1, 2))}
		files, err := filepath.Glob("testdata/corpus/*/sessions/*/*/*/*.jsonl")
		if err != nil || len(files) == 0 {
			czGenErr = fmt.Errorf("corpus: %v (%d files)", err, len(files))
			return
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				czGenErr = err
				return
			}
			for l := range bytes.SplitSeq(data, []byte("\n")) {
				if len(l) == 0 {
					continue
				}
				g.lines = append(g.lines, l)
				for _, w := range czWord.FindAll(l, -1) {
					if len(w) < 20 {
						g.vocab = append(g.vocab, w)
					}
				}
			}
		}
		czGen = g
	})
	if czGenErr != nil {
		b.Fatal(czGenErr)
	}
	return czGen
}

// rollout returns about size bytes of rollout lines; needle, if set, is
// put into one line at random.
func (g *czGenerator) rollout(size int, needle string) []byte {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out []byte
	at := -1
	if needle != "" {
		at = g.rnd.IntN(max(1, size/2))
	}
	for start := g.rnd.IntN(len(g.lines)); len(out) < size; start++ {
		l := g.lines[start%len(g.lines)]
		l = czWord.ReplaceAllFunc(l, func(w []byte) []byte {
			if len(w) >= 40 {
				nw := make([]byte, len(w))
				for i := range nw {
					nw[i] = b64[g.rnd.IntN(64)]
				}
				return nw
			}
			if g.rnd.IntN(100) < 30 {
				return g.vocab[g.rnd.IntN(len(g.vocab))]
			}
			return w
		})
		if at >= 0 && len(out) >= at {
			l = bytes.Replace(l, []byte(`"text":"`), []byte(`"text":"`+needle+` `), 1)
			if bytes.Contains(l, []byte(needle)) {
				at = -1
			}
		}
		out = append(out, l...)
		out = append(out, '\n')
	}
	if at >= 0 { // no text member came along: add a message
		out = append(out, `{"timestamp":"2026-01-02T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"`+needle+`"}]}}`+"\n"...)
	}
	return out
}

// cpuTime is this process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompress compresses one 16 MiB rollout with CompressFile
// (compress, verify, fsync, install) and, in the same iterations, with
// `zstd -3` (compress only, no verify, no fsync). It reports both speeds
// and the ratio of speeds (wall and CPU time) and of compression ratios.
func BenchmarkCompress(b *testing.B) {
	g := czNewGenerator(b)
	data := g.rollout(16<<20, "")
	dir := b.TempDir()
	p := filepath.Join(dir, FileName(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "0194a1b2-0000-7000-8000-0000000000b0"))
	cliOut := filepath.Join(dir, "cli.zst")
	zstdCmd, cliErr := exec.LookPath("zstd")
	if cliErr != nil {
		b.Logf("zstd command not found: no baseline (%v)", cliErr)
	}
	var ours, oursCPU, cli, cliCPU, encodeOnly time.Duration
	var oursSize, cliSize int64
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
		os.Remove(p + ZstdExt)
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		res, err := CompressFile(context.Background(), p, CompressOptions{})
		ours += time.Since(t0)
		oursCPU += cpuTime() - c0
		if err != nil || res.Outcome != OutcomeCompressed {
			b.Fatalf("CompressFile = %+v, %v", res, err)
		}
		oursSize = res.CompressedBytes
		b.StopTimer()
		// The encoder alone, as the zstd command does it.
		t0 = time.Now()
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(2<<20))
		var buf bytes.Buffer
		enc.Reset(&buf)
		enc.Write(data)
		enc.Close()
		encodeOnly += time.Since(t0)
		if zstdCmd != "" {
			cmd := exec.Command(zstdCmd, "-3", "-q", "-f", p+"", "-o", cliOut)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("zstd: %v\n%s", err, out)
			}
			cli += time.Since(t0)
			cliCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			st, err := os.Stat(cliOut)
			if err != nil {
				b.Fatal(err)
			}
			cliSize = st.Size()
		}
		b.StartTimer()
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(mb/ours.Seconds(), "troupe_MB/s")
	b.ReportMetric(mb/encodeOnly.Seconds(), "encode_MB/s")
	b.ReportMetric(float64(len(data))/float64(oursSize), "troupe_ratio")
	if zstdCmd == "" {
		return
	}
	b.ReportMetric(mb/cli.Seconds(), "zstd_MB/s")
	b.ReportMetric(float64(len(data))/float64(cliSize), "zstd_ratio")
	b.ReportMetric(cli.Seconds()/ours.Seconds(), "speed_vs_zstd")
	b.ReportMetric(cli.Seconds()/encodeOnly.Seconds(), "encode_speed_vs_zstd")
	b.ReportMetric(cliCPU.Seconds()/oursCPU.Seconds(), "cpu_speed_vs_zstd")
}

// BenchmarkSearchCompressed searches 1000 compressed rollouts (about
// 64 KiB each; one in ten contains the query) with Search and, in the same
// run with `zstdgrep -l -i -F` (once: it takes minutes), and reports the
// ratio of the average times.
func BenchmarkSearchCompressed(b *testing.B) {
	g := czNewGenerator(b)
	home := b.TempDir()
	day := filepath.Join(home, SessionsDir, "2026", "01", "02")
	if err := os.MkdirAll(day, 0o755); err != nil {
		b.Fatal(err)
	}
	const files = 1000
	const needle = "Zanzibar Quokka"
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	var paths []string
	var total int64
	for i := range files {
		q := ""
		if i%10 == 0 {
			q = needle
		}
		data := g.rollout(64<<10, q)
		total += int64(len(data))
		id := ThreadID(fmt.Sprintf("0194a1b2-0000-7000-8000-%012d", i))
		p := filepath.Join(day, FileName(time.Date(2026, 1, 2, 0, 0, i%60, 0, time.UTC), id)+ZstdExt)
		if err := os.WriteFile(p, enc.EncodeAll(data, nil), 0o600); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	zgrep, zerr := exec.LookPath("zstdgrep")
	if zerr != nil {
		b.Logf("zstdgrep not found: no baseline (%v)", zerr)
	}
	var ours, theirs time.Duration
	theirsRuns := 0
	b.SetBytes(total)
	for b.Loop() {
		t0 := time.Now()
		page, err := Search(context.Background(), home, SearchOptions{Query: strings.ToLower(needle), Limit: MaxSearchLimit})
		ours += time.Since(t0)
		if err != nil || len(page.Results) != files/10 || len(page.Errors) != 0 {
			b.Fatalf("Search = %d results, %v errors, %v; want %d", len(page.Results), page.Errors, err, files/10)
		}
		if zgrep == "" || theirsRuns > 0 {
			continue // zstdgrep is slow: once is enough for its average
		}
		b.StopTimer()
		cmd := exec.Command(zgrep, append([]string{"-l", "-i", "-F", "--", strings.ToLower(needle)}, paths...)...)
		t0 = time.Now()
		out, _ := cmd.Output() // exit 1 means no match; the count is checked
		theirs += time.Since(t0)
		theirsRuns++
		if n := strings.Count(string(out), "\n"); n != files/10 {
			b.Fatalf("zstdgrep listed %d files, want %d", n, files/10)
		}
		b.StartTimer()
	}
	oursPer := ours.Seconds() / float64(b.N)
	b.ReportMetric(float64(total)/1e6/oursPer, "troupe_MB/s")
	if theirsRuns > 0 {
		theirsPer := theirs.Seconds() / float64(theirsRuns)
		b.ReportMetric(float64(total)/1e6/theirsPer, "zstdgrep_MB/s")
		b.ReportMetric(theirsPer/oursPer, "speed_vs_zstdgrep")
	}
}
