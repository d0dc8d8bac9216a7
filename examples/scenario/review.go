package scenario

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/environment"
)

const reviewerInstructions = `You review Go changes. The change is in the checkout of the "review" environment; PATCH.diff shows it.
Follow the go-review skill of the review kit (read its SKILL.md with read_file first). Use read_file and edit_file for files and run_tests to run the tests.
When a fix is small, do not make it yourself: spawn a worker with spawn_agent (task_name "fixer", agent_type "fixer", fork_turns "1": your current turn, so it sees the request), then call wait_agent until its answer arrives, run run_tests again, and give your verdict.`

const fixerInstructions = `You fix what the reviewer found, in the checkout of the "review" environment. Follow the table-tests skill of the review kit (read its SKILL.md with read_file first). Change files with edit_file, run run_tests, and answer in at most three lines: what you changed and whether the tests pass.`

const reviewRequest = "Review the change in PATCH.diff (ratelimit: refill tokens over time) and make sure it is fixed before it lands."

// The checkout the review environment provides when it starts: a small Go
// module with the change under review already applied, and the review kit
// (a capability root of skills and one tool).
var checkoutFiles = map[string]string{
	"go.mod": "module example.com/ratelimit\n\ngo 1.22\n",
	"ratelimit/limiter.go": `// Package ratelimit is a token bucket.
package ratelimit

import "time"

// Limiter allows bursts of up to burst events and rate events per second
// on average.
type Limiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// New returns a limiter whose bucket is full at now.
func New(rate, burst float64, now time.Time) *Limiter {
	return &Limiter{rate: rate, burst: burst, tokens: burst, last: now}
}

// Allow reports whether an event may happen at now, and takes a token if so.
func (l *Limiter) Allow(now time.Time) bool {
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
`,
	"ratelimit/limiter_test.go": `package ratelimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name string
		idle time.Duration // before the events
		n    int           // events at once
		want int           // allowed
	}{
		{"full bucket", 0, 5, 3},
		{"refilled after one second", time.Second, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(2, 3, t0)
			now := t0.Add(tt.idle)
			got := 0
			for range tt.n {
				if l.Allow(now) {
					got++
				}
			}
			if got != tt.want {
				t.Errorf("%d events after %v idle: %d allowed, want %d", tt.n, tt.idle, got, tt.want)
			}
		})
	}
}
`,
	"PATCH.diff": `ratelimit: refill tokens over time

--- a/ratelimit/limiter.go
+++ b/ratelimit/limiter.go
@@ func (l *Limiter) Allow(now time.Time) bool {
+	l.tokens += now.Sub(l.last).Seconds() * l.rate
+	l.last = now
 	if l.tokens < 1 {
 		return false
 	}
--- a/ratelimit/limiter_test.go
+++ b/ratelimit/limiter_test.go
@@ func TestAllow(t *testing.T) {
 		{"full bucket", 0, 5, 3},
+		{"refilled after one second", time.Second, 5, 3},
 	}
`,
	".review-kit/skills/go-review/SKILL.md": `---
name: go-review
description: Review a Go change - read the diff, run the tests, look for edge cases, get small fixes made
---
1. Read PATCH.diff and the files it touches.
2. Run run_tests. A failing test is a finding; quote it.
3. For each changed function, think about the boundaries: zero, negative, very large, a long time passing.
4. A small fix goes to a worker forked with your last turn (spawn_agent fork_turns "1"); wait for it, then run run_tests yourself.
5. Report: the verdict first, then each finding with its fix.
`,
	".review-kit/skills/table-tests/SKILL.md": `---
name: table-tests
description: Add a regression row to a Go table test
---
1. Find the test's table (a slice of structs named tests).
2. Add one row per bug, named after the situation that broke ("long idle"), with inputs that fail before the fix.
3. Run run_tests: the new row must pass with the fix.
`,
	".review-kit/tools.json": `{"tools": [{
  "name": "run_tests",
  "description": "Run the Go tests of the checkout (go test ./...).",
  "command": ["bin/run-tests"],
  "timeout_ms": 300000
}]}
`,
	".review-kit/bin/run-tests": `#!/bin/sh
# run_tests: go test over the checkout. Durations are left out so that
# the output says only what passed and what failed.
cat >/dev/null
cd "$(dirname "$0")/../.." || exit 1
out=$(GOWORK=off GOFLAGS=-mod=mod go test -count=1 ./... 2>&1)
status=$?
printf '%s\n' "$out" | sed -e 's/ ([0-9.]*s)$//' -e 's/[[:space:]][0-9.]*s$//'
exit $status
`,
}

// checkout is the review environment: a local directory that is filled
// (checked out) only when the environment starts, which the registry does
// lazily, when a step of an agent first needs it.
type checkout struct {
	*environment.Local
	dir string
}

var _ environment.Starter = (*checkout)(nil)

// Start checks out the change: it writes the module and the review kit.
func (c *checkout) Start(ctx context.Context) error {
	for name, content := range checkoutFiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(c.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.Contains(name, "/bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
	}
	return nil
}

// fileTools are read_file and edit_file over the environment of h, which
// they wait for (so a call made while it starts waits for the checkout).
func fileTools(h *environment.Handle) []capability.Tool {
	env := func(ctx context.Context) (environment.Environment, error) {
		if err := h.Wait(ctx); err != nil {
			return nil, err
		}
		return h.Environment(), nil
	}
	read := capability.Func{
		S: capability.Spec{
			Name:         "read_file",
			Description:  "Read a file of the review environment (a path relative to the checkout).",
			Parameters:   json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"additionalProperties":false}`),
			ParallelSafe: true,
		},
		Fn: func(ctx context.Context, call capability.Call) (capability.Output, error) {
			var a struct {
				Path string `json:"path"`
			}
			if err := json.Unmarshal(call.Arguments, &a); err != nil {
				return capability.ErrorOutput("bad arguments: %v", err), nil
			}
			e, err := env(ctx)
			if err != nil {
				return capability.Output{}, err
			}
			b, err := e.ReadFile(ctx, a.Path)
			if err != nil {
				return capability.ErrorOutput("%v", err), nil
			}
			return capability.Output{Text: string(b)}, nil
		},
	}
	edit := capability.Func{
		S: capability.Spec{
			Name:        "edit_file",
			Description: "Replace the one occurrence of old by new in a file of the review environment.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"old":{"type":"string"},"new":{"type":"string"}},"required":["path","old","new"],"additionalProperties":false}`),
		},
		Fn: func(ctx context.Context, call capability.Call) (capability.Output, error) {
			var a struct{ Path, Old, New string }
			if err := json.Unmarshal(call.Arguments, &a); err != nil {
				return capability.ErrorOutput("bad arguments: %v", err), nil
			}
			e, err := env(ctx)
			if err != nil {
				return capability.Output{}, err
			}
			b, err := e.ReadFile(ctx, a.Path)
			if err != nil {
				return capability.ErrorOutput("%v", err), nil
			}
			switch n := strings.Count(string(b), a.Old); {
			case a.Old == "":
				return capability.ErrorOutput("old is empty"), nil
			case n != 1:
				return capability.ErrorOutput("old occurs %d times in %s; it must occur once", n, a.Path), nil
			}
			if err := e.WriteFile(ctx, a.Path, []byte(strings.Replace(string(b), a.Old, a.New, 1)), 0o644); err != nil {
				return capability.ErrorOutput("%v", err), nil
			}
			return capability.Output{Text: "edited " + a.Path}, nil
		},
	}
	return []capability.Tool{read, edit}
}

func codeReview() *Scenario {
	return &Scenario{
		Name:    "code_review",
		Summary: "a reviewer uses a capability root of skills in an environment that starts lazily, and forks a fixer with its last turns",
		run:     runCodeReview,
	}
}

func reviewScript() []Step {
	return []Step{
		{"/root", modeltest.Respond(
			modeltest.Reasoning("A review: start with the review kit's go-review skill."),
			modeltest.Call("read_file", `{"path":".review-kit/skills/go-review/SKILL.md"}`))},
		{"/root", modeltest.Call("read_file", `{"path":"PATCH.diff"}`)},
		{"/root", modeltest.Call("run_tests", `{}`)},
		{"/root", modeltest.Respond(
			modeltest.Commentary("The refill is not capped at the burst size: after a long idle period the limiter allows an unbounded burst. The fix is small; a fixer forked with my last turns can make it."),
			modeltest.Call("spawn_agent", `{"task_name":"fixer","agent_type":"fixer","fork_turns":"1","message":"Cap the refill at l.burst in Allow (ratelimit/limiter.go), add a \"long idle\" row to TestAllow, and run run_tests."}`))},
		{"/root", modeltest.Call("wait_agent", `{"timeout_ms":600000}`)},
		{"/root/fixer", modeltest.Call("read_file", `{"path":".review-kit/skills/table-tests/SKILL.md"}`)},
		{"/root/fixer", modeltest.Call("edit_file", `{"path":"ratelimit/limiter.go","old":"l.tokens += now.Sub(l.last).Seconds() * l.rate","new":"l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)"}`)},
		{"/root/fixer", modeltest.Call("edit_file", `{"path":"ratelimit/limiter_test.go","old":"\t\t{\"refilled after one second\", time.Second, 5, 3},\n","new":"\t\t{\"refilled after one second\", time.Second, 5, 3},\n\t\t{\"long idle\", time.Hour, 10, 3},\n"}`)},
		{"/root/fixer", modeltest.Call("run_tests", `{}`)},
		{"/root/fixer", modeltest.Text("Allow now caps the refill: tokens = min(burst, tokens + elapsed*rate). TestAllow has a \"long idle\" row (an hour idle, 10 events, 3 allowed). run_tests passes.")},
		{"/root", modeltest.Call("run_tests", `{}`)},
		{"/root", modeltest.Text("Verdict: approve, with the fixer's change.\n" +
			"- Bug: Allow did not cap the refill at the burst size, so after a long idle period the limiter allowed an unbounded burst (TestAllow/refilled_after_one_second failed).\n" +
			"- Fix (by /root/fixer): tokens = min(burst, tokens + elapsed*rate), with a \"long idle\" regression row.\n" +
			"- Tests: run_tests passes.")},
	}
}

func runCodeReview(e *env) error {
	dir := filepath.Join(e.opts.Home, "examples", "code_review", "checkout")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Capability roots are confined after symlinks (a temp dir may be
	// one), so the root's path must be the real one.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return runReviewIn(e, real)
}

func runReviewIn(e *env, dir string) error {
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		return err
	}
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: e.opts.Logger})
	// The registry outlives the runtime: close the runtime (idempotent;
	// Run's cleanup closes it again) before the registry, on every path.
	defer func() {
		if e.rt != nil {
			e.rt.Close()
		}
		reg.Close()
	}()
	h, err := reg.Register(environment.Registration{ID: "review", Env: &checkout{Local: local, dir: dir}, Lazy: true})
	if err != nil {
		return err
	}
	roots, err := control.CapabilityRoots(capability.EnvironmentRoot("review-kit", "review", filepath.Join(dir, ".review-kit")))
	if err != nil {
		return err
	}
	cfg := control.Config{
		Environments: reg,
		Roles: map[string]control.Role{
			"fixer": {Description: "Makes a small fix the reviewer found, with a regression test.", Instructions: fixerInstructions},
		},
	}
	if err := e.open(cfg, reviewScript()...); err != nil {
		return err
	}
	e.note("-- environment %q is registered lazily: %s (nothing is checked out yet)", h.ID(), h.State())
	root, err := e.start(control.ThreadOptions{
		Instructions:            reviewerInstructions,
		Tools:                   fileTools(h),
		Environments:            []environment.Selection{{EnvironmentID: "review"}},
		SelectedCapabilityRoots: roots,
	})
	if err != nil {
		return err
	}
	if _, err := e.turn(root, reviewRequest); err != nil {
		return err
	}
	if err := e.settle(); err != nil {
		return err
	}
	e.note("-- environment %q is %s: it started when the reviewer's first step needed it", h.ID(), h.State())
	return e.rt.Close()
}
