package modeltest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/rollout"
)

// TB is the part of testing.TB the model reports to. *testing.T and
// *testing.B satisfy it; Standalone serves programs and examples.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

var _ TB = testing.TB(nil)

// Model is the scripted model. It implements agent.Model and is safe for
// concurrent use by many agents.
type Model struct {
	t TB

	mu       sync.Mutex
	queue    []*Script
	routes   []*route
	requests []*agent.Request
	waiters  []waiter
	nextID   int
	unused   bool // AllowUnused
}

type route struct {
	match   Matcher
	scripts []*Script
}

type waiter struct {
	n  int
	ch chan struct{}
}

var _ agent.Model = (*Model)(nil)

// New returns a model that answers requests with scripts, in order. At the
// end of the test it reports scripts that were never requested (see
// AllowUnused).
func New(t TB, scripts ...Scripted) *Model {
	t.Helper()
	m := &Model{t: t}
	m.Add(scripts...)
	t.Cleanup(m.checkUnused)
	return m
}

// Add appends scripts to the default queue, which answers requests no route
// matches.
func (m *Model) Add(scripts ...Scripted) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range scripts {
		m.queue = append(m.queue, s.script())
	}
}

// Route queues scripts for the requests match accepts (for example the
// requests of one agent of a tree). Routes are tried in the order they were
// added; a route with no scripts left is skipped; the default queue answers
// the rest.
func (m *Model) Route(match Matcher, scripts ...Scripted) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &route{match: match}
	for _, s := range scripts {
		r.scripts = append(r.scripts, s.script())
	}
	m.routes = append(m.routes, r)
}

// AllowUnused turns off the end-of-test check for scripts never requested.
func (m *Model) AllowUnused() {
	m.mu.Lock()
	m.unused = true
	m.mu.Unlock()
}

// Matcher selects requests for a route.
type Matcher func(*agent.Request) bool

// ForAgent matches the requests of the agent at path.
func ForAgent(path string) Matcher {
	return func(r *agent.Request) bool { return r.Metadata.AgentPath == path }
}

// ForThread matches the requests of one thread.
func ForThread(id rollout.ThreadID) Matcher {
	return func(r *agent.Request) bool { return r.Metadata.ThreadID == id }
}

// Requests returns the requests received so far, in arrival order.
func (m *Model) Requests() []*agent.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

// Request returns the i-th request (from 0), failing the test if there is
// none.
func (m *Model) Request(i int) *agent.Request {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if i < 0 || i >= len(m.requests) {
		m.t.Fatalf("modeltest: request %d requested, %d received", i, len(m.requests))
	}
	return m.requests[i]
}

// WaitRequests returns a channel closed once n requests have arrived.
func (m *Model) WaitRequests(n int) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{})
	if len(m.requests) >= n {
		close(ch)
		return ch
	}
	m.waiters = append(m.waiters, waiter{n: n, ch: ch})
	return ch
}

func (m *Model) checkUnused() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unused {
		return
	}
	left := len(m.queue)
	for _, r := range m.routes {
		left += len(r.scripts)
	}
	if left > 0 {
		m.t.Errorf("modeltest: %d scripted responses were never requested (%d requests received)", left, len(m.requests))
	}
}

// ErrNoScript is the error a request gets when no script is left for it
// (the test has already been marked failed). It is classified as an
// invalid request, so the turn ends with an error instead of retrying.
var ErrNoScript = errors.New("modeltest: no scripted response left")

// Stream implements agent.Model: it records the request, checks that every
// call in its input has an output and every output a call, and plays the
// next script for it.
func (m *Model) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	rc := *req
	rc.Input = slices.Clone(req.Input)
	rc.Tools = slices.Clone(req.Tools)
	if problems := CheckPairs(rc.Input); len(problems) > 0 {
		m.t.Errorf("modeltest: request from thread %s turn %s: %s", rc.Metadata.ThreadID, rc.Metadata.TurnID, strings.Join(problems, "; "))
	}
	m.mu.Lock()
	m.requests = append(m.requests, &rc)
	n := len(m.requests)
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if n >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	m.waiters = kept
	s := m.pickLocked(&rc)
	m.mu.Unlock()
	if s == nil {
		m.t.Errorf("modeltest: request %d (thread %s, agent %q) has no script left", n-1, rc.Metadata.ThreadID, rc.Metadata.AgentPath)
		return func(yield func(agent.StreamEvent, error) bool) {
			yield(agent.StreamEvent{}, &agent.ModelError{Class: agent.ErrInvalidRequest, Err: ErrNoScript})
		}
	}
	return s.play(ctx, m)
}

func (m *Model) pickLocked(req *agent.Request) *Script {
	for _, r := range m.routes {
		if len(r.scripts) > 0 && r.match(req) {
			s := r.scripts[0]
			r.scripts = r.scripts[1:]
			return s
		}
	}
	if len(m.queue) == 0 {
		return nil
	}
	s := m.queue[0]
	m.queue = m.queue[1:]
	return s
}

// CheckPairs returns a description of each call in input without an output
// and each output without a call (empty when the input is well-formed).
func CheckPairs(input []rollout.ResponseItem) []string {
	calls := map[string]bool{}
	outputs := map[string]bool{}
	var problems []string
	for _, it := range input {
		switch it.Type {
		case rollout.ItemFunctionCall, rollout.ItemCustomToolCall, rollout.ItemLocalShellCall:
			if it.CallID == "" {
				problems = append(problems, fmt.Sprintf("%s %q has an empty call_id", it.Type, it.Name))
			}
			calls[it.CallID] = true
		case rollout.ItemFunctionCallOutput, rollout.ItemCustomToolCallOutput:
			if !calls[it.CallID] {
				problems = append(problems, fmt.Sprintf("output for call %q comes without (or before) its call", it.CallID))
			}
			outputs[it.CallID] = true
		}
	}
	for _, it := range input {
		switch it.Type {
		case rollout.ItemFunctionCall, rollout.ItemCustomToolCall, rollout.ItemLocalShellCall:
			if !outputs[it.CallID] {
				problems = append(problems, fmt.Sprintf("call %q (%s) has no output", it.CallID, it.Name))
			}
		}
	}
	return problems
}

// UserTexts returns the texts of the user messages of a request, in order.
func UserTexts(req *agent.Request) []string {
	var out []string
	for _, it := range req.Input {
		if it.IsUserMessage() {
			out = append(out, it.Text())
		}
	}
	return out
}

// Kinds returns a compact description of each input item of a request:
// "message/user", "message/assistant", "function_call sleep",
// "function_call_output", "agent_message", "reasoning", ...
func Kinds(req *agent.Request) []string {
	out := make([]string, len(req.Input))
	for i, it := range req.Input {
		switch it.Type {
		case rollout.ItemMessage:
			out[i] = it.Type + "/" + it.Role
		case rollout.ItemFunctionCall, rollout.ItemCustomToolCall:
			out[i] = it.Type + " " + it.Name
		default:
			out[i] = it.Type
		}
	}
	return out
}

// Output returns the output text of call callID in a request.
func Output(req *agent.Request, callID string) (string, bool) {
	for _, it := range req.Input {
		if (it.Type == rollout.ItemFunctionCallOutput || it.Type == rollout.ItemCustomToolCallOutput) && it.CallID == callID {
			return it.Output.String(), true
		}
	}
	return "", false
}

// CallIDs returns the call ids of the calls in a request, in order.
func CallIDs(req *agent.Request) []string {
	var out []string
	for _, it := range req.Input {
		if it.Type == rollout.ItemFunctionCall || it.Type == rollout.ItemCustomToolCall {
			out = append(out, it.CallID)
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// Standalone is a TB for programs and examples that use the scripted model
// outside a test: failures are collected instead of failing a test, Fatalf
// panics, and Close runs the end-of-use checks. The zero value is ready.
type Standalone struct {
	mu       sync.Mutex
	errs     []error
	cleanups []func()
}

var _ TB = (*Standalone)(nil)

// Helper implements TB.
func (*Standalone) Helper() {}

// Errorf records a failure.
func (s *Standalone) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Errorf(format, args...))
}

// Fatalf records a failure and panics with it.
func (s *Standalone) Fatalf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	panic(err)
}

// Cleanup registers f for Close.
func (s *Standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Close runs the registered cleanups (last first) and returns the failures
// recorded, joined, or nil.
func (s *Standalone) Close() error {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}
