package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

const testThread rollout.ThreadID = "01a21136-be7b-7fa3-a673-da84f2d2894e"

// memRecorder is an in-memory agent.Recorder that keeps every line and
// counts flushes.
type memRecorder struct {
	mu      sync.Mutex
	items   []rollout.Item
	flushed int // len(items) at the last flush
	flushes int
	fail    error
}

func (r *memRecorder) AppendItems(items ...rollout.Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.items = append(r.items, items...)
	return nil
}

func (r *memRecorder) Flush(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushed = len(r.items)
	r.flushes++
	return nil
}

// lines returns each line as "kind" or "kind/subtype".
func (r *memRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.items))
	for i, it := range r.items {
		out[i] = describe(it)
	}
	return out
}

func describe(it rollout.Item) string {
	switch p := it.Payload.(type) {
	case *rollout.ResponseItem:
		if p.Type == rollout.ItemMessage {
			return "response_item/message/" + p.Role
		}
		return "response_item/" + p.Type
	case *rollout.EventMsg:
		if p.Type == rollout.EventItemCompleted {
			var c rollout.ItemCompleted
			_ = p.Decode(&c)
			typ, _, kind := c.ItemHeader()
			if kind != "" {
				return "event_msg/item_completed/" + typ + ":" + kind
			}
			return "event_msg/item_completed/" + typ
		}
		return "event_msg/" + p.Type
	}
	return string(it.Kind())
}

// counter ids: deterministic "id-0001", ...
func counterIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("id-%04d", n.Add(1)) }
}

type harness struct {
	t     *testing.T
	a     *agent.Agent
	model *modeltest.Model
	rec   *memRecorder
	inbox *mailbox.Inbox
	sub   *agent.Subscription
}

type option func(*agent.Config)

func withTools(tools ...capability.Tool) option {
	return func(c *agent.Config) { c.Tools = append(c.Tools, tools...) }
}

func paginated(c *agent.Config) { c.HistoryMode = rollout.HistoryModePaginated }

// start runs an agent on model with an in-memory recorder and a real inbox,
// subscribed before it starts. Cleanup closes it and checks that no
// goroutine outlives it.
func start(t *testing.T, model *modeltest.Model, opts ...option) *harness {
	t.Helper()
	before := runtime.NumGoroutine()
	inbox, err := mailbox.New(mailbox.Config{Owner: "/root", NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, model: model, rec: &memRecorder{}, inbox: inbox}
	cfg := agent.Config{
		ThreadID:  testThread,
		AgentPath: "/root",
		Model:     model,
		Recorder:  h.rec,
		Inbox:     inbox,
		NewID:     counterIDs(),
		Jitter:    func() float64 { return 0.5 },
		Logger:    slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Model == agent.Model((*modeltest.Model)(nil)) {
		t.Fatal("start: no model")
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	h.sub = a.Subscribe()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		if err := <-runErr; err != nil {
			t.Errorf("Run() = %v, want nil after Close", err)
		}
		checkGoroutines(t, before)
	})
	return h
}

// checkGoroutines fails the test if more goroutines run than before, after
// a bounded wait for exiting ones.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:n])
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (h *harness) submit(text string) *agent.Turn {
	h.t.Helper()
	turn, err := h.a.Submit(ctx(h.t), text)
	if err != nil {
		h.t.Fatalf("Submit(%q) = %v", text, err)
	}
	return turn
}

func (h *harness) wait(turn *agent.Turn) agent.TurnResult {
	h.t.Helper()
	res, err := turn.Wait(ctx(h.t))
	if err != nil {
		h.t.Fatalf("Wait(%s) = %v", turn.ID(), err)
	}
	return res
}

func (h *harness) run(text string) agent.TurnResult {
	h.t.Helper()
	return h.wait(h.submit(text))
}

func (h *harness) mail(text string, trigger bool) {
	h.t.Helper()
	if _, err := h.inbox.Send(mailbox.Message{Author: "/root/helper", Content: []mailbox.Part{mailbox.Text(text)}, TriggerTurn: trigger}); err != nil {
		h.t.Fatalf("Send: %v", err)
	}
}

// events drains the events emitted so far up to and including the terminal
// event of turnID.
func (h *harness) events(turnID string) []agent.Event {
	h.t.Helper()
	var out []agent.Event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-h.sub.C():
			if !ok {
				h.t.Fatalf("subscription closed before the end of turn %s", turnID)
			}
			out = append(out, ev)
			switch e := ev.(type) {
			case *agent.TurnComplete:
				if e.TurnID == turnID {
					return out
				}
			case *agent.TurnAborted:
				if e.TurnID == turnID {
					return out
				}
			}
		case <-timeout:
			h.t.Fatalf("no terminal event for turn %s", turnID)
		}
	}
}

// eventNames renders events compactly, skipping RawResponseItem.
func eventNames(evs []agent.Event) []string {
	var out []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case *agent.RawResponseItem:
			continue
		case *agent.ItemStarted:
			out = append(out, "ItemStarted/"+string(e.Item.ItemKind()))
		case *agent.ItemCompleted:
			out = append(out, "ItemCompleted/"+string(e.Item.ItemKind()))
		default:
			out = append(out, strings.TrimPrefix(fmt.Sprintf("%T", ev), "*agent."))
		}
	}
	return out
}

// blockingTool blocks until its context ends (or release is closed).
func blockingTool(name string, started chan<- string, release <-chan struct{}) capability.Tool {
	return capability.Func{
		S: capability.Spec{Name: name, Description: "blocks", Parameters: json.RawMessage(`{"type":"object"}`)},
		Fn: func(ctx context.Context, call capability.Call) (capability.Output, error) {
			if started != nil {
				started <- call.ID
			}
			select {
			case <-ctx.Done():
				return capability.Output{}, ctx.Err()
			case <-release:
				return capability.Output{Text: "released"}, nil
			}
		},
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
