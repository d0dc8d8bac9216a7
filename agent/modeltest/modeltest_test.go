package modeltest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

// fakeT records failures instead of failing the real test.
type fakeT struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeT) Fatalf(format string, args ...any) { f.Errorf(format, args...) }
func (f *fakeT) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) finish() {
	for _, fn := range f.cleanups {
		fn()
	}
}

func collect(m agent.Model, req *agent.Request) ([]agent.StreamEvent, error) {
	var out []agent.StreamEvent
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func kinds(evs []agent.StreamEvent) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Kind.String())
	}
	return strings.Join(s, ",")
}

func TestScriptEvents(t *testing.T) {
	m := modeltest.New(t,
		modeltest.Respond(modeltest.Reasoning("r"), modeltest.Call("sleep", `{}`), modeltest.Tokens(42), modeltest.Continue()),
		modeltest.Fail(&agent.ModelError{Class: agent.ErrServer}),
		modeltest.Respond(modeltest.Text("x"), modeltest.CloseEarly()))
	evs, err := collect(m, &agent.Request{})
	if err != nil {
		t.Fatal(err)
	}
	want := "output_item_added,reasoning_summary_delta,output_item_done,output_item_added,output_item_done,completed"
	if got := kinds(evs); got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
	last := evs[len(evs)-1]
	if last.Usage == nil || last.Usage.TotalTokens != 42 || last.EndTurn == nil || *last.EndTurn {
		t.Errorf("completed = %+v, want 42 tokens and end_turn=false", last)
	}
	if call := evs[4].Item; call.CallID != "call_2" || call.Name != "sleep" {
		t.Errorf("call = %+v, want call_2 sleep", call)
	}
	if _, err := collect(m, &agent.Request{}); !errors.Is(err, agent.ErrServer) {
		t.Errorf("second stream error = %v, want ErrServer", err)
	}
	evs, err = collect(m, &agent.Request{})
	if err != nil || kinds(evs) != "output_item_added,text_delta,output_item_done" {
		t.Errorf("third stream = %s, %v; want a message and no completed", kinds(evs), err)
	}
}

func TestUnexpectedRequestFails(t *testing.T) {
	ft := &fakeT{}
	m := modeltest.New(ft)
	_, err := collect(m, &agent.Request{})
	if !errors.Is(err, modeltest.ErrNoScript) || !errors.Is(err, agent.ErrInvalidRequest) {
		t.Errorf("stream error = %v, want ErrNoScript classified as invalid request", err)
	}
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "no script left") {
		t.Errorf("test failures = %q, want one about no script left", ft.errors)
	}
}

func TestUnusedScriptsFail(t *testing.T) {
	ft := &fakeT{}
	modeltest.New(ft, modeltest.Text("never asked"))
	ft.finish()
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "never requested") {
		t.Errorf("test failures = %q, want one about an unused script", ft.errors)
	}
	ft = &fakeT{}
	modeltest.New(ft, modeltest.Text("never asked")).AllowUnused()
	ft.finish()
	if len(ft.errors) != 0 {
		t.Errorf("AllowUnused: failures = %q", ft.errors)
	}
}

func TestPairingChecked(t *testing.T) {
	ft := &fakeT{}
	m := modeltest.New(ft, modeltest.Text("a"))
	collect(m, &agent.Request{Input: []rollout.ResponseItem{
		*rollout.NewFunctionCall("c1", "x", "{}"),
		*rollout.NewFunctionCallOutput("c2", "orphan"),
	}})
	joined := strings.Join(ft.errors, "\n")
	if !strings.Contains(joined, `call "c1" (x) has no output`) || !strings.Contains(joined, `output for call "c2"`) {
		t.Errorf("failures = %q, want both the missing output and the orphan output", joined)
	}
}

func TestRoutes(t *testing.T) {
	m := modeltest.New(t, modeltest.Text("default"))
	m.Route(modeltest.ForAgent("/root/child"), modeltest.Text("child"))
	m.Route(modeltest.ForThread("t1"), modeltest.Text("thread t1"))
	text := func(req *agent.Request) string {
		evs, err := collect(m, req)
		if err != nil {
			t.Fatal(err)
		}
		return evs[len(evs)-2].Item.Text()
	}
	child := &agent.Request{Metadata: agent.RequestMetadata{AgentPath: "/root/child", ThreadID: "t1"}}
	if got := text(child); got != "child" {
		t.Errorf("child request got %q", got)
	}
	if got := text(child); got != "thread t1" { // the agent route is used up
		t.Errorf("second child request got %q", got)
	}
	if got := text(&agent.Request{}); got != "default" {
		t.Errorf("other request got %q", got)
	}
	if n := len(m.Requests()); n != 3 {
		t.Errorf("%d requests recorded, want 3", n)
	}
}

func TestGate(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t, modeltest.Respond(modeltest.Text("before"), modeltest.Pause(g), modeltest.Text("after")))
	got := make(chan string, 4)
	go func() {
		for ev, err := range m.Stream(context.Background(), &agent.Request{}) {
			if err == nil && ev.Kind == agent.StreamItemDone {
				got <- ev.Item.Text()
			}
		}
		close(got)
	}()
	<-g.Reached()
	if first := <-got; first != "before" {
		t.Errorf("first item = %q", first)
	}
	select {
	case s := <-got:
		t.Fatalf("item %q passed the gate before Release", s)
	default:
	}
	g.Release()
	if second := <-got; second != "after" {
		t.Errorf("second item = %q", second)
	}
}

func TestGateCancel(t *testing.T) {
	g := modeltest.NewGate()
	m := modeltest.New(t, modeltest.Respond(modeltest.Pause(g), modeltest.Text("never")))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		var last error
		for _, err := range m.Stream(ctx, &agent.Request{}) {
			last = err
		}
		errc <- last
	}()
	<-g.Reached()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("stream error after cancel = %v, want context.Canceled", err)
	}
}
