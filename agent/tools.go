package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/rollout"
)

// ItemReporter is implemented by tools that report their own turn items
// (the built-in sleep tool, the multi-agent tools of package control) with
// Agent.StartItem and Agent.CompleteItem. The agent emits no
// DynamicToolCall item for their calls.
type ItemReporter interface {
	ReportsItems() bool
}

// StartItem emits ItemStarted for an item of a running turn. Tools that
// implement ItemReporter call it; it is safe for concurrent use.
func (a *Agent) StartItem(turnID string, item TurnItem, at time.Time) {
	a.startItem(turnID, item, at)
}

// CompleteItem persists a completed item (per the history mode's policy)
// and emits ItemCompleted. Safe for concurrent use.
func (a *Agent) CompleteItem(turnID string, item TurnItem, startedAt, completedAt time.Time) {
	a.completeItem(turnID, item, startedAt, completedAt)
}

// Now returns the agent's clock reading (Config.Now).
func (a *Agent) Now() time.Time { return a.cfg.Now() }

// startTool starts the tool of a recorded call in its own goroutine.
// Parallel-safe tools share the agent's tool lock; others hold it alone.
func (a *Agent) startTool(ctx context.Context, t *turn, tools *capability.Set, call rollout.ResponseItem) *toolRun {
	t.toolCalls++
	r := &toolRun{call: call, startedAt: a.cfg.Now(), done: make(chan struct{})}
	args := call.Arguments
	if call.Type == rollout.ItemCustomToolCall {
		// A custom tool's input is free text; give it to the tool as a JSON
		// string so the argument contract stays "valid JSON".
		b, _ := json.Marshal(call.Input)
		args = string(b)
	}
	tool, spec, _, ok := tools.Lookup(call.Name)
	if ok {
		r.tool = tool
		if rep, isRep := tool.(ItemReporter); isRep && rep.ReportsItems() {
			r.reported = true
		}
	}
	if sh, isShell := r.tool.(*capability.Shell); isShell {
		if argv, dir, valid := sh.ShellCommand([]byte(args)); valid {
			r.shell = &CommandExecution{ID: call.CallID, Command: argv, Cwd: dir, Status: StatusInProgress}
			r.reported = true
			a.startItem(t.id, &CommandExecution{ID: call.CallID, Command: argv, Cwd: dir, Status: StatusInProgress}, r.startedAt)
		}
	}
	if !r.reported {
		a.startItem(t.id, &DynamicToolCall{ID: call.CallID, Tool: call.Name, Arguments: jsonOrString(args), Status: StatusInProgress}, r.startedAt)
	}
	c := capability.Call{
		ID:        call.CallID,
		Name:      call.Name,
		Arguments: json.RawMessage(args),
		ThreadID:  string(a.cfg.ThreadID),
		TurnID:    t.id,
		NewInput:  t.newInput(),
	}
	a.tools.Add(1)
	go func() {
		defer a.tools.Done()
		defer close(r.done)
		if ok && spec.ParallelSafe {
			a.toolLock.RLock()
			defer a.toolLock.RUnlock()
		} else {
			a.toolLock.Lock()
			defer a.toolLock.Unlock()
		}
		if ctx.Err() != nil {
			r.err = context.Cause(ctx)
			return
		}
		r.out, r.err = tools.Invoke(ctx, c)
	}()
	return r
}

// jsonOrString returns s as raw JSON when it is valid JSON, else as a JSON
// string, so a DynamicToolCall item always marshals.
func jsonOrString(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// finishTools records the outputs of the step's calls in call order. A call
// whose tool has not finished gets the "aborted" output when the turn was
// interrupted or the attempt failed (cut); otherwise it is waited for.
func (a *Agent) finishTools(t *turn, runs []*toolRun, cut bool) {
	// Cancelled tools get a short grace to return (and report their items)
	// before they are recorded as aborted, like Codex's wait for a task.
	var grace *time.Timer
	expired := false
	waitGrace := func(done <-chan struct{}) bool {
		if !expired {
			if grace == nil {
				grace = time.NewTimer(abortGrace)
			}
			select {
			case <-done:
				return true
			case <-grace.C:
				expired = true
			}
		}
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for _, r := range runs {
		finished := true
		if cut || t.interrupted() {
			finished = waitGrace(r.done)
		} else {
			select {
			case <-r.done:
			case <-t.ctx.Done():
				finished = waitGrace(r.done)
			}
		}
		now := a.cfg.Now()
		aborted := abortedOutput(now.Sub(r.startedAt))
		if !t.interrupted() {
			// Cut because the response stream failed, not by the user.
			aborted = fmt.Sprintf("aborted after %.1fs: the model's response failed before the call finished", now.Sub(r.startedAt).Seconds())
		}
		var out capability.Output
		switch {
		case !finished:
			out = capability.Output{Text: aborted, IsError: true}
		case r.err != nil && (t.interrupted() || ctxErr(r.err)):
			out = capability.Output{Text: aborted, IsError: true}
		case r.err != nil:
			out = capability.ErrorOutput("tool %q failed: %v", r.call.Name, r.err)
		default:
			out = r.out
		}
		outType, _ := isCall(&r.call)
		a.record(t.id, rollout.ResponseItem{Type: outType, CallID: r.call.CallID, Output: rollout.ToolOutput{Text: out.Text}})
		if r.shell != nil {
			item := r.shell
			item.Status, item.DurationMs = StatusFailed, now.Sub(r.startedAt).Milliseconds()
			if d, ok := out.Detail.(*capability.ShellResult); ok {
				code := d.ExitCode
				item.ExitCode, item.AggregatedOutput, item.DurationMs = &code, d.Output, d.Duration.Milliseconds()
				if code == 0 && !d.TimedOut {
					item.Status = StatusCompleted
				}
			} else {
				item.AggregatedOutput = out.Text
			}
			a.completeItem(t.id, item, r.startedAt, now)
		}
		if !r.reported {
			status, ok := StatusCompleted, !out.IsError
			if out.IsError {
				status = StatusFailed
			}
			args := r.call.Arguments
			if r.call.Type == rollout.ItemCustomToolCall {
				args = r.call.Input
			}
			a.completeItem(t.id, &DynamicToolCall{ID: r.call.CallID, Tool: r.call.Name, Arguments: jsonOrString(args), Status: status, Output: out.Text, Success: &ok}, r.startedAt, now)
		}
	}
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errInterrupted) || errors.Is(err, ErrClosed)
}

// abortGrace is how long cancelled tools get to return before they are
// recorded as aborted.
const abortGrace = 100 * time.Millisecond

// SleepToolName is the name of the built-in sleep tool.
const SleepToolName = "sleep"

// MaxSleepMs is the longest sleep the sleep tool accepts (one hour).
const MaxSleepMs = 3_600_000

var sleepSpec = capability.Spec{
	Name:        SleepToolName,
	Description: "Wait for up to duration_ms milliseconds. Wakes early when new input (a user message or mail from another agent) arrives. Returns the elapsed wall time and why it woke.",
	Parameters: json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{"duration_ms":{"type":"integer","minimum":1,"maximum":%d,"description":"How long to sleep, in milliseconds (1 to %d)."}},"required":["duration_ms"],"additionalProperties":false}`,
		MaxSleepMs, MaxSleepMs)),
	ParallelSafe: true,
}

// sleepTool is the built-in sleep tool (SPEC-agent 3.6).
type sleepTool struct{ a *Agent }

var (
	_ capability.Tool = (*sleepTool)(nil)
	_ ItemReporter    = (*sleepTool)(nil)
)

func (*sleepTool) Spec() capability.Spec { return sleepSpec }

func (*sleepTool) ReportsItems() bool { return true }

// Sleep wake reasons, as the output and the Sleep item state them.
const (
	WokeCompleted   = "completed"
	WokeNewInput    = "interrupted by new input"
	WokeInterrupted = "aborted"
)

func (s *sleepTool) Call(ctx context.Context, call capability.Call) (capability.Output, error) {
	var args struct {
		DurationMs int64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(call.Arguments, &args); err != nil {
		return capability.ErrorOutput("invalid arguments: %v", err), nil
	}
	if args.DurationMs < 1 || args.DurationMs > MaxSleepMs {
		return capability.ErrorOutput("invalid arguments: duration_ms must be between 1 and %d, got %d", MaxSleepMs, args.DurationMs), nil
	}
	a := s.a
	item := &Sleep{ID: call.ID, RequestedMs: args.DurationMs}
	start := a.cfg.Now()
	a.startItem(call.TurnID, &Sleep{ID: call.ID, RequestedMs: args.DurationMs}, start)
	timer := time.NewTimer(time.Duration(args.DurationMs) * time.Millisecond)
	defer timer.Stop()
	var err error
	select {
	case <-timer.C:
		item.Woke = WokeCompleted
	case <-call.NewInput:
		item.Woke = WokeNewInput
	case <-ctx.Done():
		item.Woke = WokeInterrupted
		err = context.Cause(ctx)
	}
	end := a.cfg.Now()
	elapsed := end.Sub(start)
	item.ElapsedMs = elapsed.Milliseconds()
	a.completeItem(call.TurnID, item, start, end)
	if err != nil {
		return capability.Output{}, err
	}
	text := "Sleep completed."
	if item.Woke == WokeNewInput {
		text = "Sleep interrupted by new input."
	}
	return capability.Output{Text: fmt.Sprintf("Wall time: %.4f seconds\n%s", elapsed.Seconds(), text)}, nil
}
