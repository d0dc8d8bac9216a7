package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/rollout"
)

const longRunningUsage = `The first run starts a coordinator (/root) and a watcher (/root/watcher) that
checks the nightly build and sleeps until mail arrives. The coordinator relays
news; the watcher wakes, looks, and goes back to sleep. Then the run stops while
the watcher sleeps, as if the machine went down:

  - by default it shuts down cleanly, as Ctrl-C does (the watcher's turn is
    recorded as interrupted);
  - with --crash it exits at once without closing anything, like kill -9 (the
    watcher's turn is left open in its rollout; resume closes it as
    interrupted).

Run the same command again (same --home): it resumes the tree from the home,
the watcher is given the next build to check and reports, and the run ends.
A third run starts over. You may also press Ctrl-C at any time; the next run
resumes whatever was saved (offline, a run stopped before its stop point
starts over, since the script cannot continue from an arbitrary point).`

const coordinatorInstructions = `You coordinate a watcher for the nightly build.
- When asked to start watching, spawn one agent with spawn_agent: task_name "watcher", agent_type "watcher", fork_turns "none", telling it to check the build and then sleep until mail arrives. Then tell the user it is running; do not wait for it.
- When the user relays news about a build and the watcher's turn is still running (it sleeps), pass the news on with send_message (mail wakes it), and tell the user; do not wait.
- After a restart, or when the user asks for a report, give the watcher a new task with followup_task, call wait_agent until its answer arrives as mail, and tell the user what it found.`

const watcherInstructions = `You watch the nightly build. Use check_build to look at a build (without a number: the latest).
When there is nothing to report yet, call sleep with duration_ms 3600000 to wait: mail from the coordinator wakes you. When you get news, check the build it names, say in one line what you found, and sleep again. When given a task that asks for a report, answer it in at most three lines.`

// marker is what the first run leaves in the home for the next one.
type marker struct {
	Root rollout.ThreadID `json:"root"`
	// Stopped is set when the run reached its stop point (the watcher
	// asleep after the news); an offline script continues only from there.
	Stopped bool `json:"stopped"`
	Online  bool `json:"online"`
}

func markerPath(home string) string {
	return filepath.Join(home, "examples", "long_running.json")
}

func readMarker(home string) (*marker, error) {
	b, err := os.ReadFile(markerPath(home))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it or run with --fresh)", markerPath(home), err)
	}
	return &m, nil
}

// writeMarker replaces the marker atomically.
func writeMarker(home string, m marker) error {
	p := markerPath(home)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// builds is what check_build knows in each phase: the latest build, and
// each build's status.
type builds struct {
	latest int
	status map[int]string
}

var (
	buildsBefore = builds{latest: 41, status: map[int]string{
		40: "build #40: passed, 312 of 312 tests",
		41: "build #41: failed, 311 of 312 tests passed; TestResumeAfterCrash timed out after 30s",
	}}
	buildsAfter = builds{latest: 42, status: map[int]string{
		40: "build #40: passed, 312 of 312 tests",
		41: "build #41: failed, 311 of 312 tests passed; TestResumeAfterCrash timed out after 30s",
		42: "build #42: passed, 312 of 312 tests (TestResumeAfterCrash: 1.2s)",
	}}
)

// checkBuild is the watcher's tool.
func checkBuild(b builds, running bool) capability.Tool {
	return capability.Func{
		S: capability.Spec{
			Name:         "check_build",
			Description:  "Look at a nightly build: its status and failing tests. Without a number, the latest build.",
			Parameters:   json.RawMessage(`{"type":"object","properties":{"number":{"type":"integer","description":"the build number"}},"additionalProperties":false}`),
			ParallelSafe: true,
		},
		Fn: func(_ context.Context, call capability.Call) (capability.Output, error) {
			var a struct {
				Number int `json:"number"`
			}
			if err := json.Unmarshal(call.Arguments, &a); err != nil {
				return capability.ErrorOutput("bad arguments: %v", err), nil
			}
			if a.Number == 0 {
				a.Number = b.latest
				if running {
					return capability.Output{Text: fmt.Sprintf("build #%d: running, 180 of 312 tests done", a.Number)}, nil
				}
			}
			s, ok := b.status[a.Number]
			if !ok {
				return capability.ErrorOutput("no build #%d (the latest is #%d)", a.Number, b.latest), nil
			}
			return capability.Output{Text: s}, nil
		},
	}
}

func longRunning() *Scenario {
	return &Scenario{
		Name:    "long_running",
		Summary: "a watcher sleeps waiting for mail, is interrupted by a restart of the program, and resumes",
		Usage:   longRunningUsage,
		run:     runLongRunning,
	}
}

// Offline scripts. Every id is explicit, so the second run's ids never
// repeat the first run's in the resumed histories.
func call(id, name, args string) *modeltest.Script { return modeltest.CallID(id, name, args) }

func say(id, phase, text string) *modeltest.Script {
	it := rollout.NewMessage(rollout.RoleAssistant, text)
	it.ID, it.Phase = id, phase
	return modeltest.Item(*it)
}

const hour = `{"duration_ms":3600000}`

func longRunScript1() []Step {
	return []Step{
		{"/root", call("call_lr_spawn", "spawn_agent", `{"task_name":"watcher","agent_type":"watcher","fork_turns":"none","message":"Watch the nightly build: check it now, then sleep until mail arrives. When news comes, check the build it names."}`)},
		{"/root", say("msg_lr_started", rollout.PhaseFinalAnswer, "The watcher is running at /root/watcher; it sleeps until I pass it news.")},
		{"/root/watcher", call("call_lr_check", "check_build", `{}`)},
		{"/root/watcher", modeltest.Respond(
			say("msg_lr_sleep1", rollout.PhaseCommentary, "Build #41 is still running. Sleeping until there is news."),
			call("call_lr_sleep1", "sleep", hour))},
		{"/root", call("call_lr_send", "send_message", `{"target":"watcher","message":"CI says build #41 failed. Which test broke?"}`)},
		{"/root", say("msg_lr_relayed", rollout.PhaseFinalAnswer, "Passed the news on to the watcher.")},
		{"/root/watcher", call("call_lr_check41", "check_build", `{"number":41}`)},
		{"/root/watcher", modeltest.Respond(
			say("msg_lr_sleep2", rollout.PhaseCommentary, "#41 failed: TestResumeAfterCrash timed out. Sleeping until the next build."),
			call("call_lr_sleep2", "sleep", hour))},
	}
}

func longRunScript2() []Step {
	return []Step{
		{"/root", call("call_lr_followup", "followup_task", `{"target":"watcher","message":"Build #42 finished. Check it and report whether TestResumeAfterCrash passes now."}`)},
		{"/root", call("call_lr_wait", "wait_agent", `{"timeout_ms":600000}`)},
		{"/root/watcher", call("call_lr_check42", "check_build", `{"number":42}`)},
		{"/root/watcher", say("msg_lr_report", rollout.PhaseFinalAnswer, "Build #42 is green: 312 of 312 tests pass, and TestResumeAfterCrash passes again in 1.2s. The #41 failure was a timeout that did not recur.")},
		{"/root", say("msg_lr_done", rollout.PhaseFinalAnswer, "Build #42 is green. The watcher confirms TestResumeAfterCrash passes again; #41 was a one-off timeout.")},
	}
}

func longRunConfig() control.Config {
	return control.Config{Roles: map[string]control.Role{
		"watcher": {Description: "Watches the nightly build, sleeping until mail arrives.", Instructions: watcherInstructions},
	}}
}

func runLongRunning(e *env) error {
	m, err := readMarker(e.opts.Home)
	if err != nil {
		return err
	}
	switch {
	case m == nil, e.opts.Fresh:
		return longRunFirst(e)
	case m.Online != e.online():
		e.note("-- the unfinished run in the home used the other model (scripted or real); starting over")
		return longRunFirst(e)
	case !m.Stopped && !e.online():
		e.note("-- the previous run stopped before its stop point; the offline script starts over")
		return longRunFirst(e)
	}
	return longRunResume(e, m)
}

// longRunFirst is the first run: start, relay news, stop while the watcher
// sleeps.
func longRunFirst(e *env) error {
	if err := e.open(longRunConfig(), longRunScript1()...); err != nil {
		return err
	}
	root, err := e.start(control.ThreadOptions{Instructions: coordinatorInstructions,
		Tools: []capability.Tool{checkBuild(buildsBefore, true)}})
	if err != nil {
		return err
	}
	if err := writeMarker(e.opts.Home, marker{Root: root.ID(), Online: e.online()}); err != nil {
		return err
	}
	e.note("-- first run: start the watcher")
	if _, err := e.turn(root, "Start watching the nightly build."); err != nil {
		return err
	}
	if err := e.waitAsleep("/root/watcher", 4); err != nil {
		return err
	}
	e.note("-- news arrives while the watcher sleeps")
	if _, err := e.turn(root, "CI reports that nightly build #41 failed. Pass it on to the watcher."); err != nil {
		return err
	}
	if err := e.waitAsleep("/root/watcher", 8); err != nil {
		return err
	}
	if err := writeMarker(e.opts.Home, marker{Root: root.ID(), Stopped: true, Online: e.online()}); err != nil {
		return err
	}
	e.res.Stopped = true
	if e.opts.Crash != nil {
		e.note("-- stop: the program dies while the watcher sleeps (--crash: nothing is closed)")
		e.trace.mu.Lock() // nothing more reaches the output
		e.opts.Crash()
		e.trace.mu.Unlock()
		return errors.New("scenario: Options.Crash returned")
	}
	e.note("-- stop: the program shuts down while the watcher sleeps (as Ctrl-C does)")
	return nil
}

// longRunResume is the second run: resume the tree and finish.
func longRunResume(e *env, m *marker) error {
	if err := e.open(longRunConfig(), longRunScript2()...); err != nil {
		return err
	}
	tools := []capability.Tool{checkBuild(buildsAfter, false)}
	root, err := e.rt.Resume(e.ctx, m.Root, control.ThreadOptions{Instructions: coordinatorInstructions, Tools: tools})
	if err != nil {
		return fmt.Errorf("resume the run left in %s: %w (run with --fresh to start over)", markerPath(e.opts.Home), err)
	}
	if err := e.follow(root); err != nil {
		return err
	}
	e.note("-- second run: resumed the tree from the home")
	infos, err := e.rt.Tree(root.ID())
	if err != nil {
		return err
	}
	for _, in := range infos {
		e.note("   %s: %s", in.Path, in.Status.Kind)
	}
	if _, err := e.turn(root, "We restarted the service. Nightly build #42 just finished: have the watcher check it and tell me."); err != nil {
		return err
	}
	if err := e.settle(); err != nil {
		return err
	}
	return os.Remove(markerPath(e.opts.Home))
}

// waitAsleep waits until the agent at path sleeps (or its turn ended):
// offline, until the first steps scripted steps settled; online, until
// its next sleep or turn end, for at most five minutes.
func (e *env) waitAsleep(path string, steps int) error {
	if e.seq != nil {
		return e.seq.WaitSteps(e.ctx, steps)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Minute)
	defer cancel()
	err := e.trace.waitFor(ctx, func(p string, ev agent.Event) bool {
		if p != path {
			return false
		}
		switch x := ev.(type) {
		case *agent.ItemStarted:
			_, ok := x.Item.(*agent.Sleep)
			return ok
		case *agent.TurnComplete, *agent.TurnAborted:
			return true
		}
		return false
	})
	if errors.Is(err, context.DeadlineExceeded) {
		e.note("-- %s did not go to sleep within 5 minutes; going on", path)
		return nil
	}
	return err
}

// note prints a line of the program's own.
func (e *env) note(format string, args ...any) {
	if e.trace != nil {
		e.trace.Note(format, args...)
		return
	}
	fmt.Fprintf(e.opts.Out, format+"\n", args...)
}
