package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

// rootOf returns the one listed thread without a parent.
func rootOf(t *testing.T, threads []jsonThread) rollout.ThreadID {
	t.Helper()
	var roots []rollout.ThreadID
	for _, th := range threads {
		if th.ParentThreadID == "" {
			roots = append(roots, th.ID)
		}
	}
	if len(roots) != 1 {
		t.Fatalf("%d root threads listed, want 1: %+v", len(roots), threads)
	}
	return roots[0]
}

// searchOut is "threads search --json".
type searchOut struct {
	Results []struct {
		ThreadID rollout.ThreadID `json:"thread_id"`
		Thread   *jsonThread      `json:"thread"`
	} `json:"results"`
}

// agentPaths returns the agent paths of the threads.
func agentPaths(threads []jsonThread) map[string]bool {
	m := map[string]bool{}
	for _, th := range threads {
		m[th.AgentPath] = true
	}
	return m
}

// TestRunScenarios runs each example scenario with "troupe run" into a
// fresh home, then looks at what its agents did with the CLI: the threads
// are listed (indexed while they were written, no rebuild), the tree is
// drawn, and a phrase of an agent's answer is found by search.
func TestRunScenarios(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "") // never a network
	tests := []struct {
		scenario string
		runs     int      // long_running stops part-way on its first run
		trace    string   // a line of the trace
		tree     []string // lines of the drawn tree (ids stripped)
		search   string   // a phrase an agent wrote
		agent    string   // the agent whose thread has it
	}{
		{
			scenario: "research_team", runs: 1,
			trace: "[/root/durability] answers: Both are crash-safe.",
			tree: []string{
				`/root  [completed]  "Use both, with JSONL as the source of truth.`,
				`├── /root/durability  [completed, open]  "Both are crash-safe.`,
				`└── /root/performance  [completed, open]  "JSONL appends run near raw disk speed`,
			},
			search: "torn last line is repaired", agent: "/root/durability",
		},
		{
			scenario: "code_review", runs: 1,
			trace: "[/root/fixer] tool run_tests {}",
			tree: []string{
				`/root  [completed]  "Verdict: approve, with the fixer's change.`,
				`└── /root/fixer  [completed, open]  "Allow now caps the refill`,
			},
			// The fixer has the reviewer's request only through the fork of
			// its last turn.
			search: "make sure it is fixed before it lands", agent: "/root/fixer",
		},
		{
			scenario: "long_running", runs: 2,
			trace: "[/root/watcher] wakes: sleep interrupted by new input",
			tree: []string{
				`/root  [completed]  "Build #42 is green.`,
				`└── /root/watcher  [completed, open]  "Build #42 is green: 312 of 312 tests pass`,
			},
			search: "TestResumeAfterCrash passes again in 1.2s", agent: "/root/watcher",
		},
	}
	ids := regexp.MustCompile(`  [0-9a-f]{8}-[0-9a-f-]{27}`)
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			home := t.TempDir()
			var trace string
			for range tt.runs {
				trace += mustRun(t, "--home", home, "run", tt.scenario)
			}
			if !strings.Contains(trace, tt.trace) {
				t.Errorf("trace lacks %q:\n%s", tt.trace, trace)
			}
			list := decode[listOut](t, mustRun(t, "--home", home, "--json", "threads", "list"))
			root := rootOf(t, list.Threads)
			if got := agentPaths(list.Threads); len(got) != len(tt.tree) {
				t.Errorf("threads list: agents %v, want %d threads", got, len(tt.tree))
			}
			tree := ids.ReplaceAllString(mustRun(t, "--home", home, "threads", "tree", string(root)), "")
			for _, want := range tt.tree {
				if !strings.Contains(tree, want) {
					t.Errorf("threads tree lacks %q:\n%s", want, tree)
				}
			}
			hits := decode[searchOut](t, mustRun(t, "--home", home, "--json", "threads", "search", tt.search))
			found := false
			for _, h := range hits.Results {
				if h.Thread != nil && h.Thread.AgentPath == tt.agent {
					found = true
				}
			}
			if !found {
				t.Errorf("threads search %q: no hit in %s's thread: %+v", tt.search, tt.agent, hits.Results)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	home := t.TempDir()
	for _, args := range [][]string{
		{"--home", home, "run"},
		{"--home", home, "run", "nope"},
		{"--home", home, "run", "research_team", "--crash"},
	} {
		if r := troupe(t, args...); r.code != exitUsage {
			t.Errorf("troupe %q: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
	}
	t.Setenv("OPENAI_API_KEY", "k")
	t.Setenv("TROUPE_API", "carrier-pigeon")
	if r := troupe(t, "--home", home, "run", "research_team"); r.code != exitUsage || !strings.Contains(r.stderr, "TROUPE_API") {
		t.Errorf("bad TROUPE_API: exit %d, stderr %q; want usage error", r.code, r.stderr)
	}
}

func TestRunJSON(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	home := t.TempDir()
	r := troupe(t, "--home", home, "--json", "run", "research_team")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := decode[struct {
		Home string           `json:"home"`
		Root rollout.ThreadID `json:"root"`
	}](t, r.stdout)
	if res.Home != home || res.Root == "" || !strings.Contains(r.stderr, "[/root] answers:") {
		t.Errorf("--json run: %+v, stderr:\n%s", res, r.stderr)
	}
}
