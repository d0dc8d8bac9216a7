package control

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// ids returns a deterministic source of UUID-shaped ids.
func ids() func() string {
	var n atomic.Uint64
	return func() string {
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", n.Add(1))
	}
}

// clock returns a clock that advances 1 ms per reading.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

type env struct {
	t     *testing.T
	home  string
	model *modeltest.Model
	index Index
	rt    *Runtime
	cfg   Config
}

// newEnv opens a runtime over a temp home; the runtime is closed and
// goroutines checked at the end of the test.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	base := runtime.NumGoroutine()
	e := &env{t: t, home: t.TempDir(), model: modeltest.New(t), index: newMemIndex()}
	e.cfg = Config{Home: e.home, Model: e.model, Index: e.index, NewID: ids(), Clock: clock(),
		Wait: WaitLimits{Min: time.Millisecond, Default: 10 * time.Second, Max: time.Hour}}
	if mod != nil {
		mod(&e.cfg)
	}
	e.open()
	t.Cleanup(func() {
		if err := e.rt.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		checkGoroutines(t, base)
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	rt, err := Open(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatalf("Open() = %v", err)
	}
	e.rt = rt
}

// restart closes the runtime and opens a new one over the same home and
// index.
func (e *env) restart() {
	e.t.Helper()
	if err := e.rt.Close(); err != nil {
		e.t.Fatalf("Close() = %v", err)
	}
	e.open()
}

func (e *env) start() *Agent {
	e.t.Helper()
	a, err := e.rt.Start(context.Background(), ThreadOptions{Instructions: "be helpful"})
	if err != nil {
		e.t.Fatalf("Start() = %v", err)
	}
	return a
}

// submit runs one user turn of a to its end.
func (e *env) submit(a *Agent, text string) agent.TurnResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	turn, err := a.Submit(ctx, text)
	if err != nil {
		e.t.Fatalf("Submit(%q) = %v", text, err)
	}
	res, err := turn.Wait(ctx)
	if err != nil {
		e.t.Fatalf("turn.Wait() = %v", err)
	}
	return res
}

// waitFor polls cond (bounded) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitStatus waits until the agent at path has status kind.
func (e *env) waitStatus(root *Agent, path string, kind StatusKind) *node {
	e.t.Helper()
	var n *node
	waitFor(e.t, path+" "+string(kind), func() bool {
		e.rt.mu.Lock()
		n = root.n.tree.byPath[path]
		e.rt.mu.Unlock()
		return n != nil && n.status().Kind == kind
	})
	return n
}

func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines after Close = %d, want <= %d\n%s", n, base, buf)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requestsOf returns the requests the agent at path made.
func (e *env) requestsOf(path string) []*agent.Request {
	var out []*agent.Request
	for _, r := range e.model.Requests() {
		if r.Metadata.AgentPath == path {
			out = append(out, r)
		}
	}
	return out
}

func renderItem(it *rollout.ResponseItem) string {
	text := func() string {
		var parts []string
		for _, p := range it.Content {
			if p.Type == rollout.PartEncryptedContent {
				parts = append(parts, "[sealed "+fmt.Sprint(len(p.EncryptedContent))+"B]")
				continue
			}
			parts = append(parts, p.Text)
		}
		return strings.ReplaceAll(strings.Join(parts, ""), "\n", `\n`)
	}
	switch it.Type {
	case rollout.ItemMessage:
		s := text()
		if len(s) > 60 && strings.HasPrefix(s, "<multi_agent_mode>") {
			s = s[:60] + "…"
		}
		return it.Role + ": " + s
	case rollout.ItemAgentMessage:
		return "agent_message " + it.Author + " -> " + it.Recipient + ": " + text()
	case rollout.ItemFunctionCall:
		return "call " + it.CallID + " " + it.Name + " " + it.Arguments
	case rollout.ItemFunctionCallOutput:
		return "output " + it.CallID + ": " + strings.ReplaceAll(it.Output.String(), "\n", `\n`)
	}
	return it.Type
}
