package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

// corpus is the copy of the Codex 0.169 corpus homes that sqlitestore
// tests with (the source is ../shared/corpus beside the repository).
const corpus = "../../rollout/sqlitestore/testdata/codex-0.169"

// The multiagent scenario's tree: root → worker → checker, root → slowpoke.
const (
	maRoot     = "01a21136-9763-7800-b22b-e3b009215564"
	maWorker   = "01a21136-98a7-79e1-87ba-b428789bef15"
	maChecker  = "01a21136-994f-7d71-b5da-49d548309e18"
	maSlowpoke = "01a21136-9945-7643-97a3-cbee24a1beb8"
)

// corpusHome copies a corpus scenario's Codex home into a temp dir (the
// corpus itself is never written) and returns it.
func corpusHome(t *testing.T, scenario string) string {
	t.Helper()
	src := filepath.Join(corpus, scenario, "codex_home")
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("corpus not available: %v", err)
	}
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

type result struct {
	code           int
	stdout, stderr string
}

func troupe(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := troupe(t, args...)
	if r.code != exitOK {
		t.Fatalf("troupe %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

type listOut struct {
	Threads []jsonThread `json:"threads"`
	Next    string       `json:"next"`
}

// TestCorpusListsEveryThread lists every Codex thread of every corpus
// scenario with the parent its session_meta names.
func TestCorpusListsEveryThread(t *testing.T) {
	scenarios, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatalf("corpus not available: %v", err)
	}
	n := 0
	for _, sc := range scenarios {
		if !sc.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(corpus, sc.Name(), "codex_home")); err != nil {
			continue
		}
		n++
		t.Run(sc.Name(), func(t *testing.T) {
			home := corpusHome(t, sc.Name())
			want := map[rollout.ThreadID]rollout.ThreadID{} // id → parent
			files, _ := filepath.Glob(filepath.Join(home, "sessions", "*", "*", "*", "rollout-*.jsonl"))
			for _, f := range files {
				for it, err := range rollout.Read(f, rollout.ReadOptions{}) {
					if err != nil {
						t.Fatal(err)
					}
					meta, ok := it.Payload.(*rollout.SessionMeta)
					if !ok {
						t.Fatalf("%s does not start with session_meta", f)
					}
					want[meta.ID] = meta.ParentThreadID
					break
				}
			}
			if len(want) == 0 {
				t.Fatal("no rollouts in the scenario")
			}
			got := decode[listOut](t, mustRun(t, "--home", home, "--json", "threads", "list", "--limit", "1000"))
			if got.Next != "" {
				t.Errorf("one page of 1000 should hold every thread, got a next cursor")
			}
			seen := map[rollout.ThreadID]rollout.ThreadID{}
			for _, th := range got.Threads {
				seen[th.ID] = th.ParentThreadID
			}
			for id, parent := range want {
				p, ok := seen[id]
				switch {
				case !ok:
					t.Errorf("thread %s is not listed", id)
				case p != parent:
					t.Errorf("thread %s: parent %q, want %q", id, p, parent)
				}
			}
			if len(seen) != len(want) {
				t.Errorf("listed %d threads, want %d", len(seen), len(want))
			}
		})
	}
	if n == 0 {
		t.Fatal("no corpus scenarios found")
	}
}

func TestTreeDrawsSpawnTree(t *testing.T) {
	home := corpusHome(t, "multiagent")
	got := mustRun(t, "--home", home, "threads", "tree", maRoot)
	want := strings.Join([]string{
		`/root  ` + maRoot + `  [completed]  "Root done after resume: worker also said 4+4=8."`,
		`├── /root/slowpoke  ` + maSlowpoke + `  [interrupted, open]`,
		`└── /root/worker  ` + maWorker + `  [completed, open]  "Worker second followup result: 4+4=8"`,
		`    └── /root/worker/checker  ` + maChecker + `  [completed, open]  "Checker result: confirmed, 2+2=4."`,
	}, "\n") + "\n"
	if got != want {
		t.Errorf("threads tree:\n%s\nwant:\n%s", got, want)
	}

	type node struct {
		Thread     jsonThread `json:"thread"`
		EdgeStatus string     `json:"edge_status"`
		Children   []node     `json:"children"`
	}
	root := decode[node](t, mustRun(t, "--home", home, "--json", "threads", "tree", maRoot))
	if root.Thread.ID != maRoot || len(root.Children) != 2 {
		t.Fatalf("json tree root = %s with %d children, want %s with 2", root.Thread.ID, len(root.Children), maRoot)
	}
	worker := root.Children[1]
	if worker.Thread.AgentPath != "/root/worker" || worker.EdgeStatus != "open" || len(worker.Children) != 1 ||
		worker.Children[0].Thread.ID != maChecker {
		t.Errorf("json tree worker = %+v", worker)
	}
}

func TestListFilters(t *testing.T) {
	home := corpusHome(t, "multiagent")
	ids := func(args ...string) []string {
		out := decode[listOut](t, mustRun(t, append([]string{"--home", home, "--json", "threads", "list"}, args...)...))
		var s []string
		for _, th := range out.Threads {
			s = append(s, string(th.ID))
		}
		slices.Sort(s)
		return s
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	if got, want := ids("--parent", maRoot), sorted(maWorker, maSlowpoke); !slices.Equal(got, want) {
		t.Errorf("--parent root = %v, want %v", got, want)
	}
	if got, want := ids("--ancestor", maRoot), sorted(maWorker, maSlowpoke, maChecker); !slices.Equal(got, want) {
		t.Errorf("--ancestor root = %v, want %v", got, want)
	}
	// Paging with a cursor visits every thread once.
	var all []string
	args := []string{"--home", home, "--json", "threads", "list", "--limit", "1", "--sort", "updated"}
	for cursor := ""; ; {
		a := args
		if cursor != "" {
			a = append(slices.Clone(args), "--cursor", cursor)
		}
		out := decode[listOut](t, mustRun(t, a...))
		for _, th := range out.Threads {
			all = append(all, string(th.ID))
		}
		if out.Next == "" {
			break
		}
		cursor = out.Next
		if len(all) > 10 {
			t.Fatal("paging does not end")
		}
	}
	if got, want := sorted(all...), sorted(maRoot, maWorker, maSlowpoke, maChecker); !slices.Equal(got, want) {
		t.Errorf("paged = %v, want %v", got, want)
	}
}

func TestShowTurns(t *testing.T) {
	home := corpusHome(t, "multiagent")
	out := mustRun(t, "--home", home, "threads", "show", maWorker, "--turns")
	for _, want := range []string{
		"agent path:    /root/worker",
		"turns:         3",
		"SubAgentActivity     started /root/worker/checker",
		"AgentMessage         Worker result: 2+2=4 (checked by checker).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("threads show --turns lacks %q:\n%s", want, out)
		}
	}
	type showOut struct {
		State struct {
			Turns  int    `json:"turns"`
			Status string `json:"status"`
		} `json:"state"`
		Turns []struct {
			Status string            `json:"status"`
			Items  []json.RawMessage `json:"items"`
		} `json:"turns"`
	}
	j := decode[showOut](t, mustRun(t, "--home", home, "--json", "threads", "show", maSlowpoke, "--turns"))
	if j.State.Status != "interrupted" || len(j.Turns) != j.State.Turns || j.Turns[len(j.Turns)-1].Status != "interrupted" {
		t.Errorf("slowpoke state = %+v with %d turns, want its last turn interrupted", j.State, len(j.Turns))
	}
}

func TestSearchPlainAndCompressed(t *testing.T) {
	home := corpusHome(t, "multiagent")
	type searchOut struct {
		Results []struct {
			ThreadID   rollout.ThreadID `json:"thread_id"`
			Compressed bool             `json:"compressed"`
			Snippet    string           `json:"snippet"`
			Thread     *jsonThread      `json:"thread"`
		} `json:"results"`
	}
	find := func() searchOut {
		return decode[searchOut](t, mustRun(t, "--home", home, "--json", "threads", "search", "CONFIRMED, 2+2"))
	}
	check := func(out searchOut, compressed bool) {
		t.Helper()
		var hit bool
		for _, r := range out.Results {
			if r.ThreadID == maChecker {
				hit = true
				if r.Compressed != compressed || r.Thread == nil || r.Thread.AgentPath != "/root/worker/checker" ||
					!strings.Contains(r.Snippet, "confirmed, 2+2=4") {
					t.Errorf("checker hit = %+v (compressed %v wanted)", r, compressed)
				}
			}
		}
		if !hit {
			t.Errorf("search found %+v, not the checker's answer", out.Results)
		}
	}
	check(find(), false)

	out := mustRun(t, "--home", home, "compress", "--older-than", "0s")
	if !strings.Contains(out, "compressed 4 of 4 rollouts") {
		t.Errorf("compress said %q", out)
	}
	zst, _ := filepath.Glob(filepath.Join(home, "sessions", "*", "*", "*", "*.jsonl.zst"))
	plain, _ := filepath.Glob(filepath.Join(home, "sessions", "*", "*", "*", "*.jsonl"))
	if len(zst) != 4 || len(plain) != 0 {
		t.Fatalf("after compress: %d .zst and %d plain files, want 4 and 0", len(zst), len(plain))
	}
	check(find(), true)
	// The tree still reads the compressed rollouts.
	if tree := mustRun(t, "--home", home, "threads", "tree", maRoot); !strings.Contains(tree, "Checker result: confirmed") {
		t.Errorf("tree over compressed rollouts:\n%s", tree)
	}
}

func TestCompressDryRunChangesNothing(t *testing.T) {
	home := corpusHome(t, "simple")
	before, _ := filepath.Glob(filepath.Join(home, "sessions", "*", "*", "*", "*"))
	out := mustRun(t, "--home", home, "compress", "--dry-run", "--older-than", "0s")
	if !strings.Contains(out, "would compress 1 of 1 rollouts") {
		t.Errorf("dry run said %q", out)
	}
	after, _ := filepath.Glob(filepath.Join(home, "sessions", "*", "*", "*", "*"))
	if !slices.Equal(before, after) {
		t.Errorf("dry run changed files: %v → %v", before, after)
	}
	// Fresh files are not cold under the default threshold.
	if out := mustRun(t, "--home", home, "compress"); !strings.Contains(out, "compressed 0 of 1") {
		t.Errorf("default compress of a fresh file said %q", out)
	}
}

func TestArchiveUnarchiveDelete(t *testing.T) {
	home := corpusHome(t, "multiagent")
	mustRun(t, "--home", home, "threads", "archive", maRoot)
	archived := decode[listOut](t, mustRun(t, "--home", home, "--json", "threads", "list", "--archived"))
	if len(archived.Threads) != 4 {
		t.Errorf("archiving the root archived %d threads, want the whole tree (4)", len(archived.Threads))
	}
	mustRun(t, "--home", home, "threads", "unarchive", maRoot)
	out := decode[map[string][]string](t, mustRun(t, "--home", home, "--json", "threads", "delete", maRoot))
	if got := out["deleted"]; len(got) != 4 {
		t.Errorf("delete of the root deleted %v, want the 4 threads of the tree", got)
	}
	left := decode[listOut](t, mustRun(t, "--home", home, "--json", "threads", "list"))
	leftArchived := decode[listOut](t, mustRun(t, "--home", home, "--json", "threads", "list", "--archived"))
	if len(left.Threads)+len(leftArchived.Threads) != 0 {
		t.Errorf("after delete: %d live and %d archived threads left", len(left.Threads), len(leftArchived.Threads))
	}
	if r := troupe(t, "--home", home, "threads", "show", maRoot); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("show of a deleted thread: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestIndexRebuild(t *testing.T) {
	home := corpusHome(t, "multiagent")
	type rebuildOut struct {
		Index   string `json:"index"`
		Threads int    `json:"threads"`
	}
	out := decode[rebuildOut](t, mustRun(t, "--home", home, "--json", "index", "rebuild"))
	if out.Threads != 4 || out.Index != filepath.Join(home, "state.sqlite") {
		t.Errorf("index rebuild = %+v, want 4 threads in %s", out, filepath.Join(home, "state.sqlite"))
	}
	// Codex's own database is never written.
	orig, err := os.ReadFile(filepath.Join(corpus, "multiagent", "codex_home", "state_5.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.ReadFile(filepath.Join(home, "state_5.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, now) {
		t.Error("index rebuild modified Codex's state_5.sqlite")
	}
}

func TestBadInput(t *testing.T) {
	home := corpusHome(t, "simple")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", []string{"--home", home}, exitUsage, "no command given"},
		{"unknown command", []string{"--home", home, "frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"--home", home, "threads", "frob"}, exitUsage, `unknown subcommand "frob"`},
		{"unknown flag", []string{"--home", home, "threads", "list", "--bogus"}, exitUsage, "bogus"},
		{"missing id", []string{"--home", home, "threads", "tree"}, exitUsage, "needs a thread ID"},
		{"invalid id", []string{"--home", home, "threads", "show", "not-a-uuid"}, exitUsage, `invalid thread id "not-a-uuid"`},
		{"both filters", []string{"--home", home, "threads", "list", "--parent", maRoot, "--ancestor", maRoot}, exitUsage, "mutually exclusive"},
		{"bad sort", []string{"--home", home, "threads", "list", "--sort", "size"}, exitUsage, "--sort"},
		{"bad cursor", []string{"--home", home, "threads", "list", "--cursor", "garbage!"}, exitUsage, "cursor"},
		{"missing home", []string{"--home", filepath.Join(home, "nope"), "threads", "list"}, exitError, "does not exist"},
		{"unknown id", []string{"--home", home, "threads", "show", maRoot}, exitError, "not found"},
		{"empty search", []string{"--home", home, "threads", "search", " "}, exitUsage, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := troupe(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("troupe %v: exit %d, stderr %q; want exit %d with %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(home, "nope")); err == nil {
		t.Error("a command on a missing home created it")
	}
}

func TestCorruptDatabaseRecovered(t *testing.T) {
	home := corpusHome(t, "multiagent")
	mustRun(t, "--home", home, "threads", "list")
	db := filepath.Join(home, "state.sqlite")
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	if err := os.WriteFile(db, bytes.Repeat([]byte("not a database "), 512), 0o644); err != nil {
		t.Fatal(err)
	}
	r := troupe(t, "--home", home, "--json", "threads", "list")
	if r.code != exitOK {
		t.Fatalf("list over a corrupt index: exit %d, stderr %s", r.code, r.stderr)
	}
	if got := decode[listOut](t, r.stdout); len(got.Threads) != 4 {
		t.Errorf("after recovery listed %d threads, want 4", len(got.Threads))
	}
	if !strings.Contains(r.stderr, "was corrupt") || !strings.Contains(r.stderr, db) {
		t.Errorf("recovery not reported with the database path: %q", r.stderr)
	}
	backups, _ := filepath.Glob(filepath.Join(home, "db-backups", "*", "state.sqlite"))
	if len(backups) != 1 {
		t.Fatalf("backups = %v, want the corrupt database moved aside once", backups)
	}
	if !strings.Contains(r.stderr, filepath.Dir(backups[0])) {
		t.Errorf("stderr %q does not name the backup folder %s", r.stderr, filepath.Dir(backups[0]))
	}
}

func TestHelp(t *testing.T) {
	r := troupe(t, "help")
	if r.code != exitOK || !strings.Contains(r.stdout, "threads list") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
}
