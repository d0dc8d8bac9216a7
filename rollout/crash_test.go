package rollout_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-run/troupe/rollout"
)

// crashChildEnv names the rollout a crash-test child process appends to.
const crashChildEnv = "TROUPE_CRASH_ROLLOUT"

// TestKillDuringAppend kills (SIGKILL) a process appending to a paginated
// rollout at random points, eight times, each run resuming the rollout the
// previous one left. Afterwards every line of the file decodes, the
// messages are exactly 0…n-1 with no gap or duplicate, every message a
// process acknowledged (reported after Flush returned) is there, and the
// ordinals are 0…len-1 in order (SPEC §8: kill -9 loses no acknowledged
// data and leaves every rollout readable).
func TestKillDuringAppend(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	id := rollout.ThreadID("01930000-0000-7000-8000-00000000c0de")
	path := filepath.Join(t.TempDir(), "rollout-2026-11-25T09-00-00-"+string(id)+".jsonl")
	rng := rand.New(rand.NewPCG(7, 11))
	acked := -1
	for round := range 8 {
		last := runAndKill(t, path, 1+rng.IntN(40), time.Duration(rng.IntN(3000))*time.Microsecond)
		t.Logf("round %d: last acknowledged message %d", round, last)
		if last > acked {
			acked = last
		}
	}

	var texts []string
	var ordinals []uint64
	for it, err := range rollout.Read(path, rollout.ReadOptions{}) {
		if err != nil {
			t.Fatalf("Read after the crashes: %v", err)
		}
		if it.Ordinal != nil {
			ordinals = append(ordinals, *it.Ordinal)
		}
		if r, ok := it.Payload.(*rollout.ResponseItem); ok {
			texts = append(texts, r.Text())
		}
	}
	for i, o := range ordinals {
		if o != uint64(i) {
			t.Fatalf("ordinal %d is %d, want %d (ordinals %v…)", i, o, i, ordinals[:min(len(ordinals), i+2)])
		}
	}
	for i, text := range texts {
		if n := messageNumber(text); n != i {
			t.Fatalf("message %d is %q (number %d), want number %d: a gap or a duplicate", i, text[:min(len(text), 20)], n, i)
		}
	}
	if len(texts) <= acked {
		t.Fatalf("the rollout holds %d messages, but message %d was acknowledged", len(texts), acked)
	}
}

// runAndKill starts a child appending to path, kills it once it has
// acknowledged acks batches and a further delay has passed, and returns the
// number of the last message it acknowledged (-1 for none).
func runAndKill(t *testing.T, path string, acks int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringAppend$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last, seen := -1, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack "))
		if err != nil {
			continue // the test framework's own output
		}
		last = n
		if seen++; seen == acks {
			break
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	// Acknowledgements written before the kill landed still count.
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "ack ")); err == nil {
			last = n
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL (did it fail?)", err)
	}
	return last
}

// crashChild appends batches of numbered messages (some large, so a kill
// can land inside a write) to the rollout at path, resuming it when it
// exists, and prints "ack N" after each Flush: message N and all before
// it are durable. It runs until killed.
func crashChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	id, err := rollout.ParseFileName(path)
	if err != nil {
		fail(err)
	}
	var rec *rollout.Recorder
	next := 0
	if _, statErr := os.Stat(path); statErr == nil {
		rec, err = rollout.ResumeRecorder(rollout.RecorderConfig{Path: path})
		if err != nil {
			fail(err)
		}
		for it, err := range rollout.Read(path, rollout.ReadOptions{}) {
			if err != nil {
				fail(fmt.Errorf("read after resume: %w", err))
			}
			if r, ok := it.Payload.(*rollout.ResponseItem); ok {
				next = messageNumber(r.Text()) + 1
			}
		}
	} else {
		meta := &rollout.SessionMeta{ID: id.ID, Cwd: "/work", HistoryMode: rollout.HistoryModePaginated}
		rec, err = rollout.NewRecorder(rollout.RecorderConfig{Path: path, Meta: meta, BufferSize: 4096})
		if err != nil {
			fail(err)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	ctx := context.Background()
	for {
		for range 1 + rng.IntN(5) {
			pad := strings.Repeat("x", rng.IntN(64<<10))
			if err := rec.Append(rollout.NewMessage(rollout.RoleUser, fmt.Sprintf("msg-%d %s", next, pad))); err != nil {
				fail(err)
			}
			next++
		}
		if err := rec.Flush(ctx); err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", next-1)
	}
}

// messageNumber parses the N of "msg-N …", or returns -1.
func messageNumber(text string) int {
	num, _, _ := strings.Cut(strings.TrimPrefix(text, "msg-"), " ")
	n, err := strconv.Atoi(num)
	if err != nil || !strings.HasPrefix(text, "msg-") {
		return -1
	}
	return n
}
