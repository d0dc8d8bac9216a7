package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/rollout"
)

// Trace prints a readable live trace of the events of one or more trees:
// turns, messages, tool calls, mail between agents and sleeps, each line
// prefixed with the agent's path.
//
// A Trace made by NewTrace prints events as they arrive. One that a
// Sequencer drives (NewSequencer) prints deterministically: see Sequencer.
//
// Follow starts a goroutine per subscription; Close waits for them, so
// call it after the subscriptions end (control.Runtime.Close ends them).
type Trace struct {
	out io.Writer
	seq bool // driven by a Sequencer

	wg sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change (Sequencer waits on it)
	paths   map[rollout.ThreadID]string
	buf     map[rollout.ThreadID][]agent.Event // held events (sequenced mode)
	fg      rollout.ThreadID                   // the thread whose events print (sequenced mode)
	cur     *settle                            // what fg's current response waits for
	calls   map[string]string                  // call id → tool name
	done    map[string]bool                    // call ids whose reported tool succeeded
	err     error                              // first write error

	waiters []*eventWaiter

	order  []string // sequenced mode: the agent of each scripted step
	served int      // steps served so far
}

// settle tracks the effects of one scripted response, so the Sequencer
// serves the next one only after all of them are printed.
type settle struct {
	thread   rollout.ThreadID
	turn     string          // the turn of the request
	calls    map[string]bool // call id → its effect was seen
	streamed bool            // the response stream ended
	turnEnd  bool            // the turn ended
}

func (s *settle) done() bool {
	if !s.streamed {
		return s.turnEnd
	}
	if s.turnEnd {
		return true
	}
	if len(s.calls) == 0 {
		return false // a final answer: settled by the turn's end
	}
	for _, seen := range s.calls {
		if !seen {
			return false
		}
	}
	return true
}

// NewTrace returns a trace that prints every event as it arrives.
func NewTrace(out io.Writer) *Trace {
	return &Trace{
		out:     out,
		changed: make(chan struct{}),
		paths:   map[rollout.ThreadID]string{},
		buf:     map[rollout.ThreadID][]agent.Event{},
		calls:   map[string]string{},
		done:    map[string]bool{},
	}
}

// Name records the agent path of a thread (the root's, before its first
// event; the Trace learns children's paths from the spawns it sees).
func (t *Trace) Name(id rollout.ThreadID, path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.paths[id] = path
}

// Follow prints the events of sub until it is closed.
func (t *Trace) Follow(sub *control.Subscription) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for ev := range sub.C() {
			t.handle(ev)
		}
	}()
}

// Note prints a line of the program's own (a phase, the restored tree).
func (t *Trace) Note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeLine(fmt.Sprintf(format, args...))
}

// Close waits until every followed subscription has ended, then prints
// the events still held (sequenced mode), agents in path order. It returns
// the first error writing the trace.
func (t *Trace) Close() error {
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]rollout.ThreadID, 0, len(t.buf))
	for id := range t.buf {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b rollout.ThreadID) int { return strings.Compare(t.pathOf(a), t.pathOf(b)) })
	for _, id := range ids {
		for _, ev := range t.buf[id] {
			t.print(ev)
		}
		delete(t.buf, id)
	}
	return t.err
}

// eventWaiter is a waitFor call.
type eventWaiter struct {
	match func(path string, ev agent.Event) bool
	ch    chan struct{}
}

// waitFor waits until an event that match accepts arrives (from now on).
func (t *Trace) waitFor(ctx context.Context, match func(path string, ev agent.Event) bool) error {
	w := &eventWaiter{match: match, ch: make(chan struct{})}
	t.mu.Lock()
	t.waiters = append(t.waiters, w)
	t.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		t.waiters = slices.DeleteFunc(t.waiters, func(x *eventWaiter) bool { return x == w })
		t.mu.Unlock()
		return context.Cause(ctx)
	}
}

// notify wakes whoever waits for a change. Called with t.mu held.
func (t *Trace) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *Trace) handle(ev agent.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.learn(ev)
	id := ev.Header().ThreadID
	kept := t.waiters[:0]
	for _, w := range t.waiters {
		if w.match(t.pathOf(id), ev) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	t.waiters = kept
	if t.seq && (id != t.fg || t.cur == nil) {
		t.buf[id] = append(t.buf[id], ev)
		return
	}
	t.print(ev)
	t.check(ev)
}

// learn records what later lines need, whether the event prints now or
// later: children's paths and which calls succeeded.
func (t *Trace) learn(ev agent.Event) {
	switch e := ev.(type) {
	case *agent.ItemCompleted:
		if a, ok := e.Item.(*agent.SubAgentActivity); ok {
			if a.AgentThreadID != "" && a.AgentPath != "" {
				t.paths[rollout.ThreadID(a.AgentThreadID)] = a.AgentPath
			}
			t.done[a.ID] = true
		}
	case *agent.RawResponseItem:
		if e.Item.Type == rollout.ItemFunctionCall || e.Item.Type == rollout.ItemCustomToolCall {
			t.calls[e.Item.CallID] = e.Item.Name
		}
	}
}

// check updates the current response's settle state with an event of the
// foreground thread.
func (t *Trace) check(ev agent.Event) {
	s := t.cur
	if s == nil || ev.Header().ThreadID != s.thread {
		return
	}
	switch e := ev.(type) {
	case *agent.TurnComplete, *agent.TurnAborted:
		if e.Header().TurnID == s.turn {
			s.turnEnd = true
		}
	case *agent.RawResponseItem:
		if e.Item.Type == rollout.ItemFunctionCallOutput || e.Item.Type == rollout.ItemCustomToolCallOutput {
			if _, ok := s.calls[e.Item.CallID]; ok {
				s.calls[e.Item.CallID] = true
			}
		}
	case *agent.ItemStarted:
		// A blocking call (wait_agent, sleep) has its effect once started:
		// what ends it comes from another agent.
		switch it := e.Item.(type) {
		case *agent.Sleep:
			if _, ok := s.calls[it.ID]; ok {
				s.calls[it.ID] = true
			}
		case *agent.DynamicToolCall:
			if _, ok := s.calls[it.ID]; ok && it.Tool == "wait_agent" {
				s.calls[it.ID] = true
			}
		}
	}
	t.settleCheck()
}

// settleCheck ends the foreground once its response settled.
func (t *Trace) settleCheck() {
	if t.cur != nil && t.cur.done() {
		t.cur = nil
		t.fg = ""
		t.notify()
	}
}

func (t *Trace) pathOf(id rollout.ThreadID) string {
	if p, ok := t.paths[id]; ok {
		return p
	}
	return string(id)
}

func (t *Trace) writeLine(s string) {
	if t.err != nil {
		return
	}
	if _, err := io.WriteString(t.out, s+"\n"); err != nil {
		t.err = err
	}
}

// line prints one line for an agent; continuation lines of a multi-line
// text are indented under it.
func (t *Trace) line(id rollout.ThreadID, format string, args ...any) {
	prefix := "[" + t.pathOf(id) + "] "
	text := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	lines := strings.Split(text, "\n")
	t.writeLine(prefix + lines[0])
	pad := strings.Repeat(" ", len(prefix)+2)
	for _, l := range lines[1:] {
		t.writeLine(strings.TrimRight(pad+l, " "))
	}
}

// maTools are the multi-agent tools: their calls print as intents, their
// outcomes as activity.
var maTools = map[string]bool{
	"spawn_agent": true, "send_message": true, "followup_task": true,
	"interrupt_agent": true, "close_agent": true, "list_agents": true, "wait_agent": true,
}

// reported are the multi-agent tools that report a SubAgentActivity on
// success (and nothing else).
var reported = map[string]bool{"spawn_agent": true, "send_message": true, "followup_task": true, "interrupt_agent": true}

func (t *Trace) print(ev agent.Event) {
	id := ev.Header().ThreadID
	switch e := ev.(type) {
	case *agent.TurnStarted:
		t.line(id, "turn started")
	case *agent.TurnComplete:
		if e.Error != nil {
			t.line(id, "turn failed: %s", e.Error.Message)
			return
		}
		t.line(id, "turn completed")
	case *agent.TurnAborted:
		t.line(id, "turn aborted (%s)", e.Reason)
	case *agent.ItemStarted:
		switch it := e.Item.(type) {
		case *agent.Sleep:
			t.line(id, "sleeps for up to %s (mail wakes it)", time.Duration(it.RequestedMs)*time.Millisecond)
		case *agent.DynamicToolCall:
			if it.Tool == "wait_agent" {
				t.line(id, "waits for mail")
			}
		}
	case *agent.ItemCompleted:
		t.printItem(id, e.Item)
	case *agent.RawResponseItem:
		t.printRaw(id, &e.Item)
	case *agent.StreamError:
		t.line(id, "model stream failed, retrying: %s", e.Message)
	case *agent.Warning:
		t.line(id, "warning: %s", e.Message)
	}
}

func (t *Trace) printItem(id rollout.ThreadID, item agent.TurnItem) {
	switch it := item.(type) {
	case *agent.UserMessage:
		t.line(id, "user: %s", it.Text())
	case *agent.AgentMessage:
		if it.Phase == rollout.PhaseCommentary {
			t.line(id, "says: %s", it.Text())
			return
		}
		t.line(id, "answers: %s", it.Text())
	case *agent.Reasoning:
		if s := strings.Join(it.SummaryText, " "); s != "" {
			t.line(id, "thinks: %s", s)
		}
	case *agent.Sleep:
		t.line(id, "wakes: sleep %s", it.Woke)
	case *agent.SubAgentActivity:
		switch it.Kind {
		case "started":
			t.line(id, "  -> started %s", it.AgentPath)
		case "interacted":
			t.line(id, "  -> delivered to %s", it.AgentPath)
		case "interrupted":
			t.line(id, "  -> interrupted %s", it.AgentPath)
		default:
			t.line(id, "  -> %s %s", it.Kind, it.AgentPath)
		}
	case *agent.DynamicToolCall:
		switch it.Tool {
		case "wait_agent":
			var r struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(it.Output), &r) == nil && r.Message != "" {
				t.line(id, "wait over: %s", r.Message)
				return
			}
			t.line(id, "wait over: %s", it.Output)
		case "list_agents", "close_agent":
			t.line(id, "%s -> %s", it.Tool, clip(it.Output, 8))
		default:
			status := ""
			if it.Status == agent.StatusFailed {
				status = " (failed)"
			}
			t.line(id, "tool %s %s%s\n%s", it.Tool, compactJSON(it.Arguments), status, arrow(clip(it.Output, 8)))
		}
	case *agent.CommandExecution:
		code := "?"
		if it.ExitCode != nil {
			code = fmt.Sprint(*it.ExitCode)
		}
		t.line(id, "$ %s (exit %s)\n%s", strings.Join(it.Command, " "), code, arrow(clip(it.AggregatedOutput, 8)))
	case *agent.ContextCompaction:
		t.line(id, "compacts its context")
	}
}

func (t *Trace) printRaw(id rollout.ThreadID, it *rollout.ResponseItem) {
	switch it.Type {
	case rollout.ItemAgentMessage:
		kind, payload := mailText(it)
		t.line(id, "mail from %s (%s): %s", it.Author, kind, payload)
	case rollout.ItemFunctionCall:
		if !maTools[it.Name] || it.Name == "wait_agent" {
			return
		}
		var a struct {
			TaskName  string `json:"task_name"`
			Message   string `json:"message"`
			Target    string `json:"target"`
			ForkTurns string `json:"fork_turns"`
			AgentType string `json:"agent_type"`
		}
		_ = json.Unmarshal([]byte(it.Arguments), &a)
		switch it.Name {
		case "spawn_agent":
			extra := ""
			if a.ForkTurns != "" {
				extra += ", fork_turns " + a.ForkTurns
			}
			if a.AgentType != "" {
				extra += ", agent_type " + a.AgentType
			}
			t.line(id, "spawn_agent %s%s: %s", a.TaskName, extra, a.Message)
		case "send_message":
			t.line(id, "send_message to %s: %s", a.Target, a.Message)
		case "followup_task":
			t.line(id, "followup_task to %s: %s", a.Target, a.Message)
		case "interrupt_agent", "close_agent":
			t.line(id, "%s %s", it.Name, a.Target)
		case "list_agents":
			t.line(id, "list_agents %s", compactJSON(json.RawMessage(it.Arguments)))
		}
	case rollout.ItemFunctionCallOutput:
		// A reported tool prints its outcome as activity; a failure
		// reports none, so its output is the outcome.
		if name := t.calls[it.CallID]; reported[name] && !t.done[it.CallID] {
			t.line(id, "  -> %s failed: %s", name, it.Output.String())
		}
	}
}

// mailText splits an agent_message into its kind and payload (Codex's
// header "Message Type: K\nTask name: …\nSender: …\nPayload:\n").
func mailText(it *rollout.ResponseItem) (kind, payload string) {
	var parts []string
	for _, p := range it.Content {
		switch {
		case p.Text != "":
			parts = append(parts, p.Text)
		case p.EncryptedContent != "":
			parts = append(parts, p.EncryptedContent)
		}
	}
	text := strings.Join(parts, "")
	kind = "message"
	if rest, ok := strings.CutPrefix(text, "Message Type: "); ok {
		k, _, _ := strings.Cut(rest, "\n")
		kind = strings.ToLower(k)
		if _, body, ok := strings.Cut(rest, "Payload:\n"); ok {
			text = body
		}
	}
	return kind, text
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// arrow marks a tool's output: "-> " before its first line, the others
// aligned under it.
func arrow(s string) string {
	return "-> " + strings.ReplaceAll(s, "\n", "\n   ")
}

// clip keeps the first n lines of s, saying how many were left out.
func clip(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n… (%d more lines)", len(lines)-n)
}
